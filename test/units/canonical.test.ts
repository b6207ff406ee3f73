import { expect } from 'chai';
import { canonicalUnitText, unitHash } from '../../units/canonical.js';
import { parseUnitFile } from '../../units/parse.js';
import { type ParsedUnit } from '../../units/types.js';

function unit(text: string | Uint8Array): ParsedUnit {
  const r = parseUnitFile(text);
  if (!r.ok) throw r.error;
  return r.unit;
}

/** section -> [name, value][] : what a unit means to systemd, without lines or formatting. */
function bySection(u: ParsedUnit): Record<string, [string, string][]> {
  const out: Record<string, [string, string][]> = {};
  for (const o of u.options) (out[o.section] ??= []).push([o.name, o.value]);
  return out;
}

const base =
  '[Unit]\nDescription=web\nAfter=a.service\nAfter=b.service\n\n[Service]\nExecStart=/bin/web --port=80\n';

describe('units/canonical: canonical text', () => {
  it('is sections in order, Name=Value lines in file order, one empty line between sections', () => {
    const u = unit(
      '# comment\n[Unit]\n  Description =  web  \nAfter=a.service\n[Service]\nExecStart=/bin/web \\\n  --port=80\n' +
        '[Unit]\nAfter=b.service\n[Install]\n',
    );
    expect(canonicalUnitText(u)).to.equal(
      '[Unit]\nDescription=web\nAfter=a.service\nAfter=b.service\n\n[Service]\nExecStart=/bin/web    --port=80\n',
    );
  });

  it('leaves out sections without options and is empty for an empty unit', () => {
    expect(canonicalUnitText(unit('[Unit]\n[Service]\nA=1\n[Install]\n'))).to.equal('[Service]\nA=1\n');
    expect(canonicalUnitText(unit(''))).to.equal('');
  });

  it('parses back to the same options', () => {
    const u = unit(base);
    const again = unit(canonicalUnitText(u));
    expect(bySection(again)).to.deep.equal(bySection(u));
    expect(again.warnings).to.deep.equal([]);
  });

  it('keeps a value ending in an odd number of backslashes from becoming a continuation', () => {
    const u = unit('[Unit]\nA=x\\ \nB=y\\\\\\\t\nC=z\n');
    expect(u.options.map((o) => o.value)).to.deep.equal(['x\\', 'y\\\\\\', 'z']);
    const text = canonicalUnitText(u);
    expect(text).to.equal('[Unit]\nA=x\\ \nB=y\\\\\\ \nC=z\n');
    expect(bySection(unit(text))).to.deep.equal(bySection(u));
  });

  it('writes a byte order mark before a name that needs one to be read back', () => {
    const bom = [0xef, 0xbb, 0xbf];
    const hashKey = unit(Uint8Array.from([...Buffer.from('[Unit]\n'), ...bom, ...Buffer.from('#x=1\n')]));
    expect(hashKey.options.map((o) => o.name)).to.deep.equal(['#x']);
    expect(bySection(unit(canonicalUnitText(hashKey)))).to.deep.equal(bySection(hashKey));

    const bomKey = unit(
      Uint8Array.from([...bom, ...Buffer.from('[Unit]\n'), ...bom, ...Buffer.from('y=2\n')]),
    );
    expect(bomKey.options.map((o) => o.name)).to.deep.equal(['\ufeffy']);
    expect(bySection(unit(canonicalUnitText(bomKey)))).to.deep.equal(bySection(bomKey));
  });
});

describe('units/canonical: unitHash', () => {
  const h = unitHash(unit(base));

  it('is a sha256 hex digest by default, sha1 on request, over the canonical text', () => {
    expect(h).to.match(/^[0-9a-f]{64}$/);
    expect(unitHash(unit(base), 'sha1')).to.match(/^[0-9a-f]{40}$/);
    expect(unitHash(unit(canonicalUnitText(unit(base))))).to.equal(h);
  });

  const sameMeaning: [string, string][] = [
    [
      'comments and blank lines',
      `# top\n\n${base.replace('[Service]', '; mid\n\n[Service]\n# in')}\n# end\n`,
    ],
    ['spacing around = and indentation', base.replace('Description=web', '   Description \t=   web\t')],
    ['CRLF line endings', base.replace(/\n/g, '\r\n')],
    ['CR line endings', base.replace(/\n/g, '\r')],
    ['a continuation line in place of a space', base.replace('/bin/web --port=80', '/bin/web\\\n--port=80')],
    ['a comment inside a continuation', base.replace('/bin/web --port=80', '/bin/web\\\n# c\n--port=80')],
    ['a byte order mark', `\ufeff${base}`],
    ['no final newline', base.slice(0, -1)],
    ['ignored lines (no =, no key, outside a section)', `Orphan=1\n${base}junk\n=x\n`],
    ['empty sections', `${base}[Install]\n`],
    [
      'a section split in two',
      '[Unit]\nDescription=web\nAfter=a.service\n[Service]\n' +
        'ExecStart=/bin/web --port=80\n[Unit]\nAfter=b.service\n',
    ],
  ];
  for (const [what, text] of sameMeaning) {
    it(`does not change with ${what}`, () => {
      expect(unitHash(unit(text))).to.equal(h);
    });
  }

  const changes: [string, string][] = [
    ['a value', base.replace('web --port=80', 'web --port=81')],
    ['a value that only differs inside', base.replace('Description=web', 'Description=w eb')],
    ['an option name', base.replace('Description=web', 'description=web')],
    [
      'the order of repeated keys',
      base.replace('After=a.service\nAfter=b.service', 'After=b.service\nAfter=a.service'),
    ],
    [
      'the order of different keys in a section',
      base.replace(
        'Description=web\nAfter=a.service\nAfter=b.service',
        'After=a.service\nAfter=b.service\nDescription=web',
      ),
    ],
    [
      'the section of an option',
      base.replace('After=b.service\n\n[Service]\n', '\n[Service]\nAfter=b.service\n'),
    ],
    ['an added option', `${base}Restart=always\n`],
    ['an added empty assignment', `${base}ExecStart=\n`],
    ['a removed option', base.replace('After=b.service\n', '')],
    ['a duplicated option', base.replace('After=b.service\n', 'After=b.service\nAfter=b.service\n')],
    ['quotes', base.replace('Description=web', 'Description="web"')],
    ['a section name', base.replace('[Service]', '[X-Service]')],
  ];
  for (const [what, text] of changes) {
    it(`changes with ${what}`, () => {
      expect(unitHash(unit(text))).to.not.equal(h);
    });
  }

  it('does not confuse option boundaries (name/value split, line split)', () => {
    expect(unitHash(unit('[Unit]\nA=b=c\n'))).to.not.equal(unitHash(unit('[Unit]\nA=b\nc=\n')));
    expect(unitHash(unit('[A]\nx=1\n'))).to.not.equal(unitHash(unit('[A]\n[B]\nx=1\n')));
  });
});
