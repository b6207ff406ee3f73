import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../../lab/errors.js';
import { Lab } from '../../lab/lab.js';
import { bridgeName } from '../../lab/network.js';
import { clusterDir, labRoot, readState, statePath, type LabState } from '../../lab/state.js';
import { leftovers } from './helpers.js';

const BIN = 'bin/fleet-lab.js';

function cli(args: string[], timeout = 60000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lab: clusters side by side, 3 etcd members, the CLI, crashes', function () {
  this.timeout(60000);
  const a = `t${process.pid}a`;
  const b = `t${process.pid}b`;
  const c = `t${process.pid}c`;
  const d = `t${process.pid}d`;

  after(async () => {
    // A failed test still cleans up whatever it left.
    for (const n of [a, b, c, d]) if (existsSync(clusterDir(n))) await Lab.down(n);
  });

  it('runs two clusters at once (one from the CLI) without clashing, and each reaches only its own etcd', async () => {
    const [labA, cliB] = await Promise.all([
      Lab.up({ name: a, machines: 1, etcdMembers: 3 }),
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [
          BIN,
          'up',
          '--name',
          b,
          '--machines',
          '2',
          '--metadata',
          'm2:disk=ssd',
        ]);
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
    ]);
    expect(cliB.code, cliB.stderr).to.equal(0);
    const exportLines = cliB.stdout.split('\n').filter((l) => l.startsWith('export '));
    expect(exportLines).to.have.length(1);
    const stA = labA.state;
    const stB = readState(b);
    expect(exportLines[0]).to.contain(`FLEETCTL_ENDPOINT=http://${stB.network!.bridgeIp}:`);
    expect(stA.network!.bridge).to.not.equal(stB.network!.bridge);
    expect(stA.network!.subnet).to.not.equal(stB.network!.subnet);
    expect(stB.machines[1]!.metadata).to.deep.equal({ disk: 'ssd' });

    // A: a real 3-member etcd with one leader.
    const status = await labA.status();
    expect(status.etcd.map((m) => m.healthy)).to.deep.equal([true, true, true]);
    expect(status.etcd.filter((m) => m.leader)).to.have.length(1);
    const leader = await labA.etcdLeader();
    expect(await labA.etcdRestart('leader', { kill9: true, downForMs: 300 })).to.deep.equal([leader]);
    expect(await labA.etcdLeader()).to.be.a('string');
    expect((await labA.status()).etcd.map((m) => m.healthy)).to.deep.equal([true, true, true]);

    // Each machine reaches its own cluster's etcd and not the other's (no route between bridges).
    // Node is the one client sure to be there: the machines' root is the host's.
    const health = (ep: string): string[] => [
      process.execPath,
      '-e',
      `fetch(${JSON.stringify(`${ep}/health`)}, { signal: AbortSignal.timeout(2000) }).then((r) => r.text())` +
        `.then((t) => console.log(t), (e) => { console.log('error ' + e.message); process.exit(2); })`,
    ];
    const epA = labA.endpoints[0]!;
    const epB = `http://${stB.etcd[0]!.host}:${stB.etcd[0]!.clientPort}`;
    expect((await labA.exec('m1', health(epA))).stdout).to.contain('"health":"true"');
    const cross = await labA.exec('m1', health(epB));
    expect(cross.code).to.not.equal(0);

    // The CLI, from other processes: status, exec, cut/heal, kill, down.
    const st = cli(['status', '--name', b]);
    expect(st.status, st.stderr).to.equal(0);
    expect(st.stdout).to.match(/^m2\t\S+\t\d+\trunning\tup\t/m);
    const ex = cli(['exec', 'm2', '--name', b, '--', 'cat', '/etc/hostname']);
    expect(ex.status, ex.stderr).to.equal(0);
    expect(ex.stdout.trim()).to.equal('m2');
    const exFail = cli(['exec', 'm1', '--name', b, '--', 'false']);
    expect(exFail.status).to.equal(1);
    expect(cli(['cut', 'm1', '--name', b]).status).to.equal(0);
    expect(cli(['exec', 'm1', '--name', b, '--', ...health(epB)]).status).to.not.equal(0);
    expect(cli(['heal', 'm1', '--name', b]).status).to.equal(0);
    expect(cli(['exec', 'm1', '--name', b, '--', ...health(epB)]).stdout).to.contain('"health":"true"');
    if (!stB.machines[0]!.fleetd) {
      const k = cli(['kill', 'm1', '--name', b]);
      expect(k.status).to.equal(1);
      expect(k.stderr).to.contain('runs no fleetd');
    }
    const unknown = cli(['exec', 'm9', '--name', b, '--', 'true']);
    expect(unknown.status).to.equal(1);
    expect(unknown.stderr).to.contain('no machine "m9"');

    const down = cli(['down', '--name', b]);
    expect(down.status, down.stderr).to.equal(0);
    expect(leftovers(stB)).to.deep.equal([]);
    // A is untouched by B's down.
    expect((await labA.exec('m1', health(epA))).stdout).to.contain('"health":"true"');
    const stAfinal = labA.state;
    await labA.down();
    expect(leftovers(stAfinal)).to.deep.equal([]);
  });

  it('down removes everything after `up` was killed half-way (from the state file)', async () => {
    const up = spawn(process.execPath, [BIN, 'up', '--name', c, '--machines', '3', '--etcd-members', '3'], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 20000;
    let st: LabState | undefined;
    while (Date.now() < deadline) {
      try {
        const s = JSON.parse(readFileSync(statePath(c), 'utf8')) as LabState;
        if (s.machines.some((m) => m.pid1) && s.etcd.some((e) => e.proc)) {
          st = s;
          break;
        }
      } catch {
        // not written yet
      }
      await sleep(10);
    }
    up.kill('SIGKILL');
    await new Promise((r) => up.once('exit', r));
    expect(st, 'up recorded a machine before it was killed').to.not.equal(undefined);
    const recorded = readState(c);
    expect(recorded.phase).to.equal('up');
    await Lab.down(c);
    expect(leftovers(recorded)).to.deep.equal([]);
    // A process started but not yet recorded when `up` died would show up late (e.g. an etcd
    // re-creating its data dir): the cluster's cgroup caught it, so nothing comes back.
    await sleep(1000);
    expect(leftovers(recorded)).to.deep.equal([]);
  });

  it('a failed up removes what it made, and never a link it did not make', async () => {
    // Something else already owns the bridge name this cluster would use.
    const squatter = bridgeName(d);
    expect(spawnSync('ip', ['link', 'add', 'name', squatter, 'type', 'bridge']).status).to.equal(0);
    let err: unknown;
    try {
      await Lab.up({ name: d, machines: 2 });
    } catch (e) {
      err = e;
    } finally {
      const still = spawnSync('ip', ['-o', 'link', 'show', 'dev', squatter]).status === 0;
      spawnSync('ip', ['link', 'del', 'dev', squatter]);
      expect(still, 'the other owner keeps its link').to.equal(true);
    }
    expect(err).to.be.instanceOf(LabError);
    expect(String(err)).to.contain(`a link named ${squatter} exists already`);
    expect(existsSync(clusterDir(d))).to.equal(false);
    // Its subnet claim is released (the claims directory goes when no cluster is left).
    const claims = join(labRoot(), '.net');
    const mine = existsSync(claims)
      ? readdirSync(claims).filter((f) => readFileSync(join(claims, f), 'utf8').trim() === d)
      : [];
    expect(mine).to.deep.equal([]);
  });

  it('commands on a cluster that does not exist fail with a plain message', () => {
    const r = cli(['status', '--name', `t${process.pid}none`]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`no cluster "t${process.pid}none"`);
    expect(r.stderr).to.contain('fleet-lab up --name');
  });

  it('refuses to run without root, saying so', () => {
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        BIN,
        'up',
        '--name',
        `t${process.pid}x`,
      ],
      { encoding: 'utf8', timeout: 15000 },
    );
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('must run as root');
    expect(existsSync(clusterDir(`t${process.pid}x`))).to.equal(false);
  });
});
