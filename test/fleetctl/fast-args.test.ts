/**
 * The fast path (fast-args.ts) must read every command line it takes exactly as the yargs tree
 * would: same values under the same keys, same defaults, aliases and FLEETCTL_* variables. Each case
 * is parsed both ways (yargs with handlers that only record their arguments) and compared.
 */
import { expect } from 'chai';
import type { CommandModule } from 'yargs';
import { buildCli } from '../../fleetctl/cli-tree.js';
import { commands } from '../../fleetctl/commands/index.js';
import { resolveMachineId } from '../../fleetctl/commands/drain.js';
import { FAST_COMMANDS, fastParse, unknownFlagVariables } from '../../fleetctl/fast-args.js';
import { FAST_MODULES } from '../../fleetctl/fast-commands.js';

async function viaYargs(
  argv: string[],
  env: Record<string, string>,
): Promise<Record<string, unknown> | undefined> {
  let seen: Record<string, unknown> | undefined;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
  const recording: CommandModule<any, any>[] = commands.map((c) => ({
    ...c,
    handler: (a: Record<string, unknown>) => {
      seen = a;
    },
  }));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    await buildCli(argv, { exitOnUsageError: false, commands: recording }).parseAsync();
  } catch {
    return undefined;
  } finally {
    for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  return seen;
}

const CASES: [string[], Record<string, string>][] = [
  [['list-units'], {}],
  [['list-units', '--no-legend', '-l', '--fields=unit,hash'], {}],
  [['list-units', '--full', '--fields', 'unit', '-o', 'json'], {}],
  [['--endpoint', 'unix:///x.sock', 'list-unit-files', '--output=json'], {}],
  [['--driver=etcd', '--endpoint=http://a:2379,http://b:2379', 'list-machines'], {}],
  [['list-machines', '--request-timeout=0.5', '--etcd-key-prefix=/p/'], {}],
  [['start', 'a.service', 'web@1.service', '--no-block'], {}],
  [['start', '--block-attempts', '5', '--replace', 'dir/a'], {}],
  [['load', '--block-attempts=3', '--block-interval=10', 'a.service'], {}],
  [['stop', 'a.service'], { FLEETCTL_NO_BLOCK: 'true' }],
  [['unload', 'a.service', 'b.service'], { FLEETCTL_BLOCK_ATTEMPTS: '7' }],
  [['destroy', '--no-block', 'a.service'], { FLEETCTL_ENDPOINT: 'http://10.0.0.1:8080' }],
  [['restart', 'a.service'], { FLEETCTL_DRIVER: 'etcd', FLEETCTL_REQUEST_TIMEOUT: '1.5' }],
  [
    ['submit', '--replace', 'x.service'],
    { FLEETCTL_CA_FILE: '/ca.pem', FLEETCTL_CERT_FILE: '/c.pem', FLEETCTL_KEY_FILE: '/k.pem' },
  ],
  [['cat', 'hello'], {}],
  [['list-units', '--no-legend', 'false'], {}],
  [['why', 'a.service', '-o', 'json'], {}],
  [['drain', '1a2b3c4d...'], { FLEETCTL_DRIVER: 'etcd' }],
  [['undrain', 'm1'], {}],
  [['status', 'a.service', 'web@1'], {}],
  [['journal', '-f', '--lines', '5', 'hello'], {}],
  [['journal', 'hello.service'], { FLEETCTL_LINES: '3', FLEETCTL_FOLLOW: 'true' }],
];

describe('fleetctl fast path agrees with the yargs tree', function () {
  this.timeout(20000);
  for (const [argv, env] of CASES) {
    it(`${argv.join(' ')}${Object.keys(env).length ? ` with ${Object.keys(env).join(',')}` : ''}`, async () => {
      const fast = fastParse(argv, env);
      expect(fast, 'the fast path takes it').to.not.equal(undefined);
      const slow = await viaYargs(argv, env);
      expect(slow, 'yargs accepts it').to.not.equal(undefined);
      for (const [k, v] of Object.entries(fast!.values)) expect(slow![k], k).to.deep.equal(v);
      // And nothing yargs sets (camelCase keys) is missing from the fast path.
      for (const k of Object.keys(slow!)) {
        if (k === '_' || k === '$0' || k.includes('-') || slow![k] === undefined) continue;
        if (['l', 'o', 'f', 'h', 'help', 'version'].includes(k)) continue; // aliases
        expect(fast!.values, `key ${k}`).to.have.property(k);
      }
    });
  }

  const LEFT_TO_YARGS: string[][] = [
    ['list-units', '--help'],
    ['list-units', '--nope'],
    ['list-units', '-o', 'xml'],
    ['list-units', 'extra'],
    ['start'],
    ['start', '--block-attempts=many', 'a.service'],
    ['cat', 'a', 'b'],
    ['--version'],
    ['verify', 'x.service'],
    ['frobnicate'],
    ['list-units', '--fields=a', '--fields=b'],
  ];
  for (const argv of LEFT_TO_YARGS) {
    it(`leaves "${argv.join(' ')}" to yargs`, () => expect(fastParse(argv, {})).to.equal(undefined));
  }

  it('covers every cluster command of the tree, and loads the same module for each', async () => {
    const names = commands.map((c) => String(c.command).split(' ')[0]);
    for (const n of Object.keys(FAST_COMMANDS)) expect(names).to.include(n);
    expect(Object.keys(FAST_MODULES).sort()).to.deep.equal(Object.keys(FAST_COMMANDS).sort());
    for (const [n, load] of Object.entries(FAST_MODULES)) {
      expect(await load(), n).to.equal(commands.find((c) => String(c.command).split(' ')[0] === n));
    }
  });

  it('resolves machine IDs from unambiguous prefixes', () => {
    const ids = ['1a2b3c4d5e', '1a2b9999', 'ff00'];
    expect(resolveMachineId('ff00', ids)).to.deep.equal({ ok: true, id: 'ff00' });
    expect(resolveMachineId('1a2b3c4d...', ids)).to.deep.equal({ ok: true, id: '1a2b3c4d5e' });
    expect(resolveMachineId('1a2b', ids)).to.deep.include({ ok: false });
    expect(resolveMachineId('', ids)).to.deep.include({ ok: false });
  });

  it('prints a completion script naming the commands', async () => {
    const { run } = await import('./harness.js');
    const r = await run(['completion']);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.contain('fleetctl --get-yargs-completions');
    const words = await run(['--get-yargs-completions', 'fleetctl', '']);
    for (const c of ['list-units', 'start', 'why', 'drain']) expect(words.stdout.split('\n')).to.include(c);
  });

  it('version, --version and -v print "fleetctl version X", fast or through yargs', async () => {
    const { run } = await import('./harness.js');
    for (const a of ['version', '--version', '-v']) {
      const r = await run([a]);
      expect(r.stdout, a).to.match(/^fleetctl version \d+\.\d+\.\d+\n$/);
      expect(r.status).to.equal(0);
    }
    const slow = await run(['version'], { env: { FLEETCTL_SLOW_PATH: '1' } });
    expect(slow.stdout).to.match(/^fleetctl version \d+\.\d+\.\d+\n$/);
  });

  it('names FLEETCTL_* variables that are no flag', () => {
    expect(
      unknownFlagVariables({
        FLEETCTL_ENDPOINT: 'x',
        FLEETCTL_NO_BLOCK: '1',
        FLEETCTL_TUNNEL: 'h',
        PATH: '/bin',
      }),
    ).to.deep.equal(['FLEETCTL_TUNNEL']);
  });
});
