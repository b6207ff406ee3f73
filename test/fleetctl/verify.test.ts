import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** Runs `node bin/fleetctl.js ...` from the repo root. */
function fleetctl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/fleetctl.js', ...args], { encoding: 'utf8', timeout: 15000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fleetctl verify (subprocess)', function () {
  let dir: string;
  const file = (name: string, content: string | Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetctl-verify-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('every example under examples/ verifies clean (exit 0, no warnings)', () => {
    const examples = readdirSync('examples').map((f) => join('examples', f));
    expect(examples.length).to.be.greaterThan(4);
    const r = fleetctl('verify', ...examples);
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(0);
    for (const e of examples) expect(r.stdout).to.contain(`${e}: valid`);
  });

  it('exit 1 with FILE:LINE: reason for each problem, in line order; warnings on stderr too', () => {
    const bad = file(
      'bad.service',
      [
        '[Unit]',
        'Description=bad',
        '[X-Fleet]',
        'MachineID=0123456789abcdef0123456789abcdef',
        'Global=true',
        'Weight=3',
        'MachineMetadata=nonsense',
        'Conflicts=web',
        '',
      ].join('\n'),
    );
    const r = fleetctl('verify', bad);
    expect(r.status).to.equal(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).to.deep.equal([
      `${bad}:5: MachineID cannot be used with Global: a global unit runs on every fitting machine; use MachineMetadata to narrow it instead`,
      `${bad}:6: unrecognized option "Weight" in [X-Fleet]; fleet knows MachineID, MachineOf, MachineMetadata, Conflicts, Global and Replaces (and the legacy X-ConditionMachineID, X-ConditionMachineOf, X-ConditionMachineMetadata, X-Conflicts); option names are case-sensitive`,
      `${bad}:7: warning: MachineMetadata pair "nonsense" is ignored: expected key=value (or key!=value) but there is no "="`,
      `${bad}:8: MachineID cannot be used with Conflicts: a unit pinned to one machine cannot move away from a conflict; keep one of them`,
      `${bad}:8: warning: Conflicts=web matches no unit: "web" is not a valid unit name and has no wildcard; did you mean web.service or web*?`,
    ]);
    expect(r.stdout).to.equal('');
  });

  it('warnings alone keep exit 0', () => {
    const warn = file('warn.service', '[Unit]\nDescription=w\n[X-Fleet]\nX-Conflicts=old*\n');
    const r = fleetctl('verify', warn);
    expect(r.status).to.equal(0);
    expect(r.stderr).to.match(
      new RegExp(`^${warn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: warning: X-Conflicts is deprecated`),
    );
    expect(r.stdout).to.equal(`${warn}: valid\n`);
  });

  it('one bad file among good ones: exit 1, each file judged on its own', () => {
    const good = file('good.service', '[Service]\nExecStart=/bin/true\n');
    const broken = file('broken.service', '[Service\n');
    const r = fleetctl('verify', good, broken);
    expect(r.status).to.equal(1);
    expect(r.stdout).to.equal(`${good}: valid\n`);
    expect(r.stderr).to.match(new RegExp(`broken\\.service:1: invalid section header`));
  });

  it('unreadable, missing, directory, binary, wrong name: a reason with the path, never a stack trace', () => {
    const sub = join(dir, 'adir.service');
    mkdirSync(sub);
    const binary = file('blob.service', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff, 0xfe]));
    const latin1 = file(
      'latin.service',
      new Uint8Array([...Buffer.from('[Unit]\nDescription=caf'), 0xe9, 0x0a]),
    );
    const txt = file('notes.txt', '[Unit]\nDescription=x\n');
    const missing = join(dir, 'missing.service');
    const r = fleetctl('verify', sub, binary, latin1, txt, missing);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.not.match(/\n\s+at /); // no stack trace
    expect(r.stderr).to.contain(`${sub}: is a directory`);
    expect(r.stderr).to.match(new RegExp(`blob\\.service:1: .*NUL byte`));
    expect(r.stderr).to.match(new RegExp(`latin\\.service:2: .*not valid UTF-8`));
    expect(r.stderr).to.contain(`${txt}: invalid unit name "notes.txt": unknown unit type ".txt"`);
    expect(r.stderr).to.contain(`${missing}: no such file`);
  });

  it('a FIFO or a device is refused without blocking on it', function () {
    const fifo = join(dir, 'pipe.service');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) this.skip(); // no mkfifo on this machine: nothing to test
    const r = fleetctl('verify', fifo, '/dev/null');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`${fifo}: not a regular file`);
    expect(r.stderr).to.contain('/dev/null: not a regular file');
  });

  it('an unreadable file is reported as such (skipped as root, who can read anything)', function () {
    if (process.getuid?.() === 0) this.skip();
    const locked = file('locked.service', '[Unit]\n');
    chmodSync(locked, 0o000);
    const r = fleetctl('verify', locked);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`${locked}: permission denied`);
  });

  it('a file too large for a unit is refused with a reason', () => {
    const big = file('big.service', '[Unit]\n' + `Description=${'x'.repeat(100)}\n`.repeat(100_000));
    const r = fleetctl('verify', big);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/big\.service:.*(too large|bytes)/i);
  });

  describe('--json', () => {
    it('prints one object per file with exactly the documented fields, in order', () => {
      const unit = file(
        'api@7.service',
        [
          '[Unit]',
          'Description=API %i',
          '[Service]',
          'ExecStart=/bin/true',
          'ExecStart=/bin/false',
          '[X-Fleet]',
          'MachineOf=%p@%i.socket',
          'Conflicts=api@*.service',
          'MachineMetadata="region=eu" "region=us" "disk=ssd"',
          'MachineMetadata=rack!=r1',
          '',
        ].join('\n'),
      );
      const bad = file('x.service', '[X-Fleet]\nGlobal=1\nReplaces=y.service\n');
      const r = fleetctl('verify', '--json', unit, bad);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.equal('');
      const lines = r.stdout.trim().split('\n');
      expect(lines).to.have.length(2);
      const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
      expect(Object.keys(first)).to.deep.equal([
        'file',
        'name',
        'valid',
        'errors',
        'warnings',
        'hash',
        'options',
        'requirements',
      ]);
      expect(first.file).to.equal(unit);
      expect(first.name).to.equal('api@7.service');
      expect(first.valid).to.equal(true);
      expect(first.errors).to.deep.equal([]);
      expect(first.warnings).to.deep.equal([]);
      expect(first.hash).to.match(/^[0-9a-f]{64}$/);
      expect(first.options).to.deep.equal([
        { section: 'Unit', name: 'Description', value: 'API %i' },
        { section: 'Service', name: 'ExecStart', value: '/bin/true' },
        { section: 'Service', name: 'ExecStart', value: '/bin/false' },
        { section: 'X-Fleet', name: 'MachineOf', value: '%p@%i.socket' },
        { section: 'X-Fleet', name: 'Conflicts', value: 'api@*.service' },
        { section: 'X-Fleet', name: 'MachineMetadata', value: '"region=eu" "region=us" "disk=ssd"' },
        { section: 'X-Fleet', name: 'MachineMetadata', value: 'rack!=r1' },
      ]);
      const req = first.requirements as Record<string, unknown>;
      expect(Object.keys(req)).to.deep.equal([
        'global',
        'machineId',
        'machineOf',
        'conflicts',
        'replaces',
        'machineMetadata',
        'machineMetadataNot',
      ]);
      expect(req).to.deep.equal({
        global: false,
        machineId: null,
        machineOf: ['api@7.socket'],
        conflicts: ['api@*.service'],
        replaces: [],
        machineMetadata: { region: ['eu', 'us'], disk: ['ssd'] },
        machineMetadataNot: { rack: ['r1'] },
      });

      const second = JSON.parse(lines[1] as string) as {
        valid: boolean;
        errors: Array<{ line: number | null; code: string; message: string }>;
        requirements: { global: boolean; replaces: string[] };
      };
      expect(second.valid).to.equal(false);
      expect(second.requirements.global).to.equal(true);
      expect(second.requirements.replaces).to.deep.equal(['y.service']);
      expect(second.errors).to.have.length(1);
      expect(second.errors[0]).to.deep.equal({
        line: 3,
        code: 'combination',
        message:
          'Global cannot be used with Replaces: a global unit runs on every fitting machine and cannot displace units',
      });
    });

    it('a template verifies with its specifiers as written', () => {
      const t = file('web@.service', '[X-Fleet]\nMachineOf=%p@%i.socket\nMachineID=%i\n');
      const r = fleetctl('verify', '--json', t);
      const report = JSON.parse(r.stdout) as { valid: boolean; requirements: { machineOf: string[] } };
      // MachineID with MachineOf is refused whatever the specifiers become.
      expect(report.valid).to.equal(false);
      expect(report.requirements.machineOf).to.deep.equal(['%p@%i.socket']);
    });

    it('an unreadable file still gets a full object', () => {
      const missing = join(dir, 'gone.service');
      const r = fleetctl('verify', '--json', missing);
      expect(r.status).to.equal(1);
      expect(JSON.parse(r.stdout)).to.deep.equal({
        file: missing,
        name: 'gone.service',
        valid: false,
        errors: [{ line: null, code: 'file', message: 'no such file; check the path' }],
        warnings: [],
        hash: null,
        options: [],
        requirements: {
          global: false,
          machineId: null,
          machineOf: [],
          conflicts: [],
          replaces: [],
          machineMetadata: {},
          machineMetadataNot: {},
        },
      });
    });
  });

  describe('command line', () => {
    it('--help prints usage naming fleetctl and verify, exit 0', () => {
      const r = fleetctl('--help');
      expect(r.status).to.equal(0);
      expect(r.stdout).to.contain('fleetctl');
      expect(r.stdout).to.contain('verify');
    });
    it('verify --help documents --json and the exit status', () => {
      const r = fleetctl('verify', '--help');
      expect(r.status).to.equal(0);
      expect(r.stdout).to.contain('--json');
      expect(r.stdout).to.contain('Exit status');
    });
    it('usage errors exit 2 with a hint', () => {
      for (const args of [[], ['verify'], ['no-such-command'], ['verify', '--no-such-flag', 'x.service']]) {
        const r = fleetctl(...args);
        expect(r.status, args.join(' ')).to.equal(2);
        expect(r.stderr).to.contain("Run 'fleetctl --help' for usage.");
      }
    });
    it('does not import an etcd client at start-up (static import graph of dist/fleetctl/main.js)', () => {
      const seen = new Set<string>();
      const bare = new Set<string>();
      const visit = (file: string): void => {
        if (seen.has(file)) return;
        seen.add(file);
        const text = readFileSync(file, 'utf8');
        // Static imports only: `import x from '...'`, `export ... from '...'`, `import '...'`.
        for (const m of text.matchAll(
          /^\s*(?:(?:import|export)\b[^;'"]*?\bfrom\s*|import\s*)['"]([^'"]+)['"]/gm,
        )) {
          const spec = m[1] as string;
          if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
          else bare.add(spec);
        }
      };
      visit(resolve('dist/fleetctl/main.js'));
      // The yargs tree, which main.js loads with import() when the fast path does not apply.
      visit(resolve('dist/fleetctl/cli-tree.js'));
      expect(seen.size).to.be.greaterThan(5);
      expect([...bare].filter((s) => /etcd|grpc/.test(s))).to.deep.equal([]);
      // lib/errors (the typed error base class) is pure; the registry and the etcd client are not loaded.
      expect(
        [...seen].filter((f) => /[/\\](engine|agent)[/\\]|[/\\]lib[/\\](registry|etcd)/.test(f)),
      ).to.deep.equal([]);
      expect(
        [...seen].filter((f) => /[/\\]lib[/\\]/.test(f)).map((f) => f.replace(/.*[/\\]lib[/\\]/, '')),
      ).to.deep.equal(['errors.js']);
    });
  });
});
