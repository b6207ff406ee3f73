import { expect } from 'chai';
import fc from 'fast-check';
import { loadUnit, ProblemCode, unitHash, parseUnitFile } from '../../units/index.js';

describe('units/load (loadUnit)', () => {
  const body = [
    '[Unit]',
    'Description=Web %i',
    '',
    '[Service]',
    'ExecStart=/bin/true',
    '',
    '[X-Fleet]',
    'MachineOf=%p@%i.socket',
    'Conflicts=%p@*.service',
    '',
  ].join('\n');

  it('combines name, grammar, requirements and hash', () => {
    const u = loadUnit('web@8080.service', body);
    expect(u.valid).to.equal(true);
    expect(u.errors).to.deep.equal([]);
    expect(u.nameInfo?.kind).to.equal('instance');
    expect(u.requirements.machineOf).to.deep.equal(['web@8080.socket']);
    expect(u.requirements.conflicts).to.deep.equal(['web@*.service']);
    expect(u.unit?.options).to.have.length(4);
    const parsed = parseUnitFile(body);
    expect(parsed.ok).to.equal(true);
    expect(u.hash).to.equal(parsed.ok ? unitHash(parsed.unit) : 'unreachable');
  });

  it('a template keeps its specifiers; its hash is the same as an instance with the same body', () => {
    const t = loadUnit('web@.service', body);
    expect(t.valid).to.equal(true);
    expect(t.requirements.machineOf).to.deep.equal(['%p@%i.socket']);
    expect(t.hash).to.equal(loadUnit('web@1.service', body).hash);
  });

  it('accepts bytes as well as text', () => {
    expect(loadUnit('web@1.service', new TextEncoder().encode(body)).hash).to.equal(
      loadUnit('web@1.service', body).hash,
    );
  });

  it('an invalid name is an error, and the body is still checked', () => {
    const u = loadUnit('web.txt', '[X-Fleet]\nBogus=1\n');
    expect(u.valid).to.equal(false);
    expect(u.errors.map((e) => [e.code, e.line])).to.deep.equal([
      [ProblemCode.InvalidName, null],
      [ProblemCode.UnknownOption, 2],
    ]);
    expect(u.errors[0]?.message).to.match(/invalid unit name "web.txt": unknown unit type "\.txt"/);
  });

  it('a grammar refusal is an error with its line; no hash, empty requirements', () => {
    const u = loadUnit('a.service', '[Unit]\nDescription=x\n[Service\n');
    expect(u.valid).to.equal(false);
    expect(u.errors).to.have.length(1);
    expect(u.errors[0]).to.include({ code: ProblemCode.Syntax, line: 3 });
    expect(u.hash).to.equal(null);
    expect(u.unit).to.equal(null);
    expect(u.requirements.machineOf).to.deep.equal([]);
  });

  it('grammar warnings come through with their lines', () => {
    const u = loadUnit('a.service', '[Unit]\nno equals sign\nDescription=x\n');
    expect(u.valid).to.equal(true);
    expect(u.warnings.map((w) => [w.code, w.line])).to.deep.equal([[ProblemCode.IgnoredLine, 2]]);
  });

  it('never throws, whatever the name and bytes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 300 }), (name, bytes) => {
        const u = loadUnit(name, bytes);
        expect(u.valid).to.equal(u.errors.length === 0);
        for (const p of [...u.errors, ...u.warnings]) expect(p.message).to.be.a('string').and.not.equal('');
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on mutated unit files', () => {
    const seed = body + 'MachineMetadata="a=b" "c!=d"\nGlobal=true\nReplaces=x*\n';
    const mutation = fc.record({
      at: fc.nat(seed.length),
      cut: fc.nat(5),
      insert: fc.string({ maxLength: 6 }),
    });
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 4 }), (mutations) => {
        let text = seed;
        for (const m of mutations) text = text.slice(0, m.at) + m.insert + text.slice(m.at + m.cut);
        const u = loadUnit('web@1.service', text);
        expect(u.valid).to.equal(u.errors.length === 0);
      }),
      { numRuns: 300 },
    );
  });
});
