/**
 * One file of an applied directory (pure interpretFile) and reading a real directory with bad
 * entries (read-dir). Tests run as root, so "unreadable" is made with what root cannot read as a
 * unit file either: a FIFO, a directory named like a unit, a dangling symbolic link; and a file
 * that vanishes between listing and reading.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  interpretFile,
  isCandidate,
  readFileBytes,
  readSourceDirectory,
  stripApplySection,
  type SourceFile,
} from '../../lib/apply/index.js';
import { ApplyDirectoryError } from '../../lib/apply/read-dir.js';
import { loadUnit } from '../../units/index.js';

const HELLO = '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sleep 1000\n';
const enc = (s: string) => new TextEncoder().encode(s);
const none = () => undefined;

describe('apply: one file (pure)', () => {
  it('a unit file: launched by default, hash of the file', () => {
    const f = interpretFile('/d/hello.service', 'hello.service', enc(HELLO), none);
    expect(f).to.deep.equal({
      kind: 'unit',
      path: '/d/hello.service',
      name: 'hello.service',
      body: HELLO,
      hash: loadUnit('hello.service', HELLO).hash,
      desiredState: 'launched',
    });
  });

  it('[X-Fleet-Apply] DesiredState= is read and stripped (the hash does not change with it)', () => {
    const f = interpretFile(
      '/d/a.service',
      'a.service',
      enc(`${HELLO}\n[X-Fleet-Apply]\nDesiredState=loaded\n`),
      none,
    );
    expect(f).to.include({ kind: 'unit', desiredState: 'loaded' });
    expect(f.kind === 'unit' && f.hash).to.equal(loadUnit('a.service', HELLO).hash);
    expect(stripApplySection(`[X-Fleet-Apply]\nDesiredState=loaded\n${HELLO}`)).to.equal(HELLO);
  });

  it('templates are inactive; an empty instance file takes its template', () => {
    const tpl = interpretFile('/d/web@.service', 'web@.service', enc(HELLO), none);
    expect(tpl).to.include({ kind: 'unit', desiredState: 'inactive' });
    const inst = interpretFile('/d/web@1.service', 'web@1.service', new Uint8Array(), () => tpl);
    expect(inst).to.include({ kind: 'unit', desiredState: 'launched', body: HELLO });
  });

  const bad: [string, string, Uint8Array, RegExp][] = [
    ['binary', 'bin.service', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff]), /not a unit file/],
    [
      'half-written (unterminated section)',
      'half.service',
      enc('[Unit]\nDescription=Hel\n[Serv'),
      /not a unit file|refused/,
    ],
    ['empty, not an instance', 'e.service', new Uint8Array(), /empty/],
    ['an empty instance without its template', 'w@1.service', new Uint8Array(), /template w@.service/],
    ['an invalid name', 'bad name.service', enc(HELLO), /not a unit name/],
    [
      'an unknown desired state',
      's.service',
      enc(`${HELLO}[X-Fleet-Apply]\nDesiredState=running\n`),
      /DesiredState=running/,
    ],
    [
      'an unknown [X-Fleet-Apply] key',
      's.service',
      enc(`${HELLO}[X-Fleet-Apply]\nState=loaded\n`),
      /only DesiredState/,
    ],
    [
      'a launched template',
      't@.service',
      enc(`${HELLO}[X-Fleet-Apply]\nDesiredState=launched\n`),
      /template cannot be launched/,
    ],
    ['a bad [X-Fleet] option', 'x.service', enc(`${HELLO}[X-Fleet]\nBogus=1\n`), /unrecognized option/],
    ['no options at all', 'c.service', enc('# just a comment\n'), /no option|not a unit file|refused/],
  ];
  for (const [what, name, bytes, why] of bad) {
    it(`skips ${what}, with the path and why`, () => {
      const f = interpretFile(`/d/${name}`, name, bytes, none);
      expect(f.kind).to.equal('skipped');
      expect(f.path).to.equal(`/d/${name}`);
      expect(f.kind === 'skipped' && f.reason).to.match(why);
    });
  }

  it('ignores editor files and non-units silently', () => {
    for (const n of [
      '.hello.service.swp',
      '.#hello.service',
      'hello.service~',
      '#hello.service#',
      'README',
      '4913',
    ]) {
      expect(isCandidate(n), n).to.equal(false);
    }
    expect(isCandidate('hello.service')).to.equal(true);
  });
});

describe('apply: reading a directory (real files)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'apply-dir-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const byName = (files: SourceFile[]) => new Map(files.map((f) => [f.path.slice(dir.length + 1), f]));

  it('reads good files and reports each bad entry with its path; a FIFO never blocks', () => {
    writeFileSync(join(dir, 'good.service'), HELLO);
    writeFileSync(join(dir, 'web@.service'), HELLO);
    writeFileSync(join(dir, 'web@1.service'), '');
    symlinkSync(join(dir, 'web@.service'), join(dir, 'web@2.service'));
    execFileSync('mkfifo', [join(dir, 'fifo.service')]);
    mkdirSync(join(dir, 'adir.service'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling.service'));
    writeFileSync(join(dir, 'README.md'), 'not a unit');
    const files = byName(readSourceDirectory(dir));
    expect([...files.keys()].sort()).to.deep.equal([
      'adir.service',
      'dangling.service',
      'fifo.service',
      'good.service',
      'web@.service',
      'web@1.service',
      'web@2.service',
    ]);
    expect(files.get('good.service')).to.include({ kind: 'unit', name: 'good.service' });
    expect(files.get('web@1.service')).to.include({ kind: 'unit', body: HELLO });
    expect(files.get('web@2.service')).to.include({ kind: 'unit', body: HELLO });
    expect(files.get('fifo.service')).to.include({ kind: 'skipped', name: 'fifo.service' });
    expect((files.get('fifo.service') as { reason: string }).reason).to.match(/not a regular file/);
    expect((files.get('adir.service') as { reason: string }).reason).to.match(/directory/);
    expect((files.get('dangling.service') as { reason: string }).reason).to.match(/vanished/);
  });

  it('a file that vanishes between listing and reading is skipped (and keeps its name)', () => {
    writeFileSync(join(dir, 'a.service'), HELLO);
    writeFileSync(join(dir, 'gone.service'), HELLO);
    const files = readSourceDirectory(dir, (p) => {
      if (p.endsWith('gone.service')) unlinkSync(p);
      return readFileBytes(p);
    });
    const gone = files.find((f) => f.path.endsWith('gone.service'));
    expect(gone).to.include({ kind: 'skipped', name: 'gone.service' });
    expect(files.find((f) => f.path.endsWith('a.service'))).to.include({ kind: 'unit' });
  });

  it('a directory that cannot be listed is an error, never an empty directory', () => {
    expect(() => readSourceDirectory(join(dir, 'missing'))).to.throw(
      ApplyDirectoryError,
      /does not exist.*nothing pruned/,
    );
    writeFileSync(join(dir, 'file'), '');
    expect(() => readSourceDirectory(join(dir, 'file'))).to.throw(ApplyDirectoryError, /not a directory/);
  });
});
