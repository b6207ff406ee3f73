/**
 * The agent on real systemd machines (fleet-lab): each machine runs dist/agent/main.js as its
 * fleetd.service (the lab's fleetd hook), configured by the lab's fleet.conf (agent_ttl 3 s). The
 * test plays the engine: it writes assignments as the elected, fenced leader.
 */
import { expect } from 'chai';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Lab, REPO_ROOT } from '../../lab/lab.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { Registry } from '../../lib/registry/index.js';
import { TestEngine, machineKeyExists, stateOf, until } from './helpers.js';

const svc = (desc: string, exec = '/bin/sleep 100000') =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=${exec}\n`;

describe('agent on fleet-lab machines (real systemd, real etcd)', function () {
  this.timeout(120000);
  let lab: Lab;
  let client: Etcd3;
  let reg: Registry;
  let engine: TestEngine;
  let m1: string;
  let m2: string;

  const sh = async (m: string, cmd: string) => (await lab.exec(m, ['sh', '-c', cmd])).stdout.trim();
  const show = (m: string, unit: string, prop: string) =>
    sh(m, `systemctl show --property=${prop} --value ${unit}`);
  const running = async (machineId: string, unit: string) => {
    const s = await stateOf(reg, machineId, unit);
    return s?.activeState === 'active' && s.subState === 'running' ? s : undefined;
  };

  before(async function () {
    this.timeout(90000);
    lab = await Lab.up({
      name: `ag${process.pid}`,
      machines: 2,
      agentTtl: 3,
      fleetdEntry: join(REPO_ROOT, 'dist/agent/main.js'),
    });
    client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
    reg = new Registry(client);
    await reg.checkSchema();
    engine = await TestEngine.start(reg);
    m1 = lab.state.machines[0]!.machineId;
    m2 = lab.state.machines[1]!.machineId;
    await until(
      async () => (await machineKeyExists(client, reg, m1)) && (await machineKeyExists(client, reg, m2)),
      'both agents registered',
    );
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || !lab) return;
    for (const m of ['m1', 'm2']) {
      const j = await lab
        .exec(m, ['journalctl', '--no-pager', '-o', 'short-precise', '-n', '60'])
        .catch(() => undefined);
      console.log(`--- ${m} journal (last 60 lines)\n${j?.stdout ?? ''}`);
    }
  });

  after(async function () {
    this.timeout(60000);
    await engine?.stop();
    client?.close();
    await lab?.down();
  });

  it('registers each machine on a lease with its public IP', async () => {
    const l = await reg.listMachines();
    const rec = l.items.find((i) => i.id === m1)!;
    expect(rec.record.publicIp).to.equal(lab.state.machines[0]!.ip);
    expect(rec.lease).to.not.equal('0');
  });

  it('loads and starts an assigned unit, reports it active/running, stops and unloads it', async () => {
    await engine.assign(m1, [{ name: 'hello.service', body: svc('hello') }]);
    const st = await until(() => running(m1, 'hello.service'), 'hello.service running');
    expect(st.loadState).to.equal('loaded');
    expect(st.hash).to.have.length.greaterThan(10);
    expect(await sh('m1', 'stat -c %a /run/fleet/units/hello.service')).to.equal('644');
    expect(await show('m1', 'hello.service', 'FragmentPath')).to.equal('/run/systemd/system/hello.service');
    expect(await sh('m1', 'systemctl is-active hello.service')).to.equal('active');

    // stop: desired state loaded
    await engine.assign(m1, [{ name: 'hello.service', body: svc('hello'), desiredState: 'loaded' }]);
    await until(
      async () => (await stateOf(reg, m1, 'hello.service'))?.activeState === 'inactive',
      'hello stopped',
    );
    expect(await sh('m1', 'systemctl is-active hello.service || true')).to.equal('inactive');
    expect(await sh('m1', 'test -e /run/fleet/units/hello.service && echo yes')).to.equal('yes');

    // unload: unassigned
    await engine.unassign(m1, ['hello.service']);
    await until(async () => (await stateOf(reg, m1, 'hello.service')) === undefined, 'hello state removed');
    await until(
      async () => (await sh('m1', 'test -e /run/fleet/units/hello.service || echo gone')) === 'gone',
      'hello file removed',
    );
    expect(await sh('m1', 'test -L /run/systemd/system/hello.service || echo unlinked')).to.equal('unlinked');
    expect(await show('m1', 'hello.service', 'LoadState')).to.equal('not-found');
  });

  it('a changed file (new hash) is unloaded, loaded and started again', async () => {
    await engine.assign(m1, [{ name: 'change.service', body: svc('v1', '/bin/sleep 100001') }]);
    const v1 = await until(() => running(m1, 'change.service'), 'v1 running');
    const pid1 = await show('m1', 'change.service', 'MainPID');
    await engine.assign(m1, [{ name: 'change.service', body: svc('v2', '/bin/sleep 100002') }]);
    const v2 = await until(async () => {
      const s = await running(m1, 'change.service');
      return s && s.hash !== v1.hash ? s : undefined;
    }, 'v2 running');
    expect(v2.hash).to.not.equal(v1.hash);
    expect(await show('m1', 'change.service', 'MainPID')).to.not.equal(pid1);
    expect(await show('m1', 'change.service', 'ExecStart')).to.contain('100002');
  });

  it('an assignment whose unit is gone or has another file is neither loaded nor started, until the unit has that file', async () => {
    // Written as the engine may write it in a race with a destroy: no unit key. A control unit in
    // the same assignment write shows the agent has acted on that write.
    const body = svc('orphan', '/bin/sleep 100003');
    await engine.assignWithoutUnit(m2, [{ name: 'orphan.service', body }]);
    await engine.assign(m2, [{ name: 'control.service', body: svc('control', '/bin/sleep 100004') }]);
    await until(() => running(m2, 'control.service'), 'control.service running');
    await new Promise((r) => setTimeout(r, 1500)); // one more check of the held unit (every 1 s)
    expect(await show('m2', 'orphan.service', 'LoadState')).to.equal('not-found');
    expect(await sh('m2', 'test -e /run/fleet/units/orphan.service || echo none')).to.equal('none');
    // The unit exists again, with another file: still held.
    await reg.submitUnit({ name: 'orphan.service', body: svc('other'), desiredState: 'launched' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await show('m2', 'orphan.service', 'LoadState')).to.equal('not-found');
    // With the assigned file: started at the next check.
    await reg.replaceUnit({ name: 'orphan.service', body, desiredState: 'launched' });
    await until(() => running(m2, 'orphan.service'), 'orphan.service running once its unit has that file');
    await engine.unassign(m2, ['orphan.service', 'control.service']);
    await reg.destroyUnit('orphan.service');
    await reg.destroyUnit('control.service');
    await until(async () => (await stateOf(reg, m2, 'orphan.service')) === undefined, 'orphan state removed');
  });

  it('a unit with an [Install] section is enabled at runtime', async () => {
    const body = `${svc('installed')}\n[Install]\nWantedBy=multi-user.target\n`;
    await engine.assign(m1, [{ name: 'inst.service', body }]);
    await until(() => running(m1, 'inst.service'), 'inst running');
    expect(await sh('m1', 'systemctl is-enabled inst.service || true')).to.equal('enabled-runtime');
    expect(
      await sh('m1', 'test -L /run/systemd/system/multi-user.target.wants/inst.service && echo linked'),
    ).to.equal('linked');
    await engine.unassign(m1, ['inst.service']);
    await until(
      async () =>
        (await sh('m1', 'test -e /run/systemd/system/multi-user.target.wants/inst.service || echo gone')) ===
        'gone',
      'the [Install] link removed on unload',
    );
  });

  it('runs template instances, each with its instance name', async () => {
    const body = '[Unit]\nDescription=worker %i\n\n[Service]\nExecStart=/bin/sleep 10000%i\n';
    await engine.assign(m1, [
      { name: 'worker@1.service', body },
      { name: 'worker@2.service', body },
    ]);
    await until(() => running(m1, 'worker@1.service'), 'worker@1 running');
    await until(() => running(m1, 'worker@2.service'), 'worker@2 running');
    expect(await show('m1', 'worker@2.service', 'ExecStart')).to.contain('/bin/sleep 100002');
    expect(await show('m1', 'worker@1.service', 'Description')).to.equal('worker 1');
  });

  it('reports a failed unit as failed and does not start it again', async () => {
    await engine.assign(m1, [{ name: 'broken.service', body: svc('broken', '/bin/false') }]);
    const st = await until(async () => {
      const s = await stateOf(reg, m1, 'broken.service');
      return s?.activeState === 'failed' ? s : undefined;
    }, 'broken reported failed');
    expect(st.subState).to.equal('failed');
    const inv = await show('m1', 'broken.service', 'InvocationID');
    // Another assignment makes the agent reconcile; the failed unit stays as it is.
    await engine.assign(m1, [{ name: 'other.service', body: svc('other') }]);
    await until(() => running(m1, 'other.service'), 'other running');
    await new Promise((r) => setTimeout(r, 500));
    expect(await show('m1', 'broken.service', 'InvocationID')).to.equal(inv);
    expect(await show('m1', 'broken.service', 'ActiveState')).to.equal('failed');
  });

  it('follows systemd signals: a unit killed outside the agent is reported within a few hundred ms (no polling)', async () => {
    await engine.assign(m1, [{ name: 'victim.service', body: svc('victim') }]);
    await until(() => running(m1, 'victim.service'), 'victim running');
    const pid = await show('m1', 'victim.service', 'MainPID');
    const t0 = Date.now();
    await lab.exec('m1', ['kill', '-9', pid]);
    const st = await until(
      async () => {
        const s = await stateOf(reg, m1, 'victim.service');
        return s && s.activeState !== 'active' ? s : undefined;
      },
      'victim reported not active',
      5000,
      10,
    );
    const ms = Date.now() - t0;
    expect(st.activeState).to.equal('failed');
    // The agent's resync is 60 s: only systemd's signals can explain this.
    expect(ms).to.be.lessThan(1000);
  });

  it('socket activation: a connection to the socket on the machine starts the service and gets its answer', async () => {
    const ip = lab.state.machines[0]!.ip;
    const node = process.execPath;
    await engine.assign(m1, [
      {
        name: 'greet.socket',
        body: `[Unit]\nDescription=greet socket\n\n[Socket]\nListenStream=${ip}:7777\n`,
      },
      {
        name: 'greet.service',
        desiredState: 'loaded',
        body: `[Unit]\nDescription=greet\n\n[Service]\nExecStart=${node} -e "require('net').createServer((s) => s.end('hello from ' + require('os').hostname())).listen({ fd: 3 })"\n`,
      },
      {
        name: 'echo.socket',
        body: `[Unit]\nDescription=echo socket\n\n[Socket]\nListenStream=${ip}:7778\nAccept=yes\n`,
      },
      {
        name: 'echo@.service',
        desiredState: 'loaded',
        body: '[Unit]\nDescription=echo %i\n\n[Service]\nExecStart=/bin/echo accepted\nStandardInput=socket\n',
      },
    ]);
    await until(
      async () => (await stateOf(reg, m1, 'greet.socket'))?.subState === 'listening',
      'greet.socket listening',
    );
    await until(
      async () => (await stateOf(reg, m1, 'echo.socket'))?.subState === 'listening',
      'echo.socket listening',
    );
    expect((await stateOf(reg, m1, 'greet.service'))?.activeState).to.equal('inactive');
    const ask = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const c = connect({ host: ip, port });
        let got = '';
        c.on('data', (d) => (got += d.toString()));
        c.on('end', () => resolve(got.trim()));
        c.on('error', reject);
        c.setTimeout(10000, () => c.destroy(new Error('no answer in 10 s')));
      });
    expect(await ask(7777)).to.equal('hello from m1');
    expect(await ask(7778)).to.equal('accepted');
    // The activated service runs and is reported so; the agent leaves it running (it did not launch it).
    await until(() => running(m1, 'greet.service'), 'greet.service reported running');
    await new Promise((r) => setTimeout(r, 300));
    expect(await sh('m1', 'systemctl is-active greet.service')).to.equal('active');
  });

  it('kill -9 and restart: the new agent adopts what runs (restarts nothing) and unloads only what was unassigned', async () => {
    await engine.assign(m1, [
      { name: 'keep.service', body: svc('keep') },
      { name: 'drop.service', body: svc('drop') },
    ]);
    await until(() => running(m1, 'keep.service'), 'keep running');
    await until(() => running(m1, 'drop.service'), 'drop running');
    const ours = (await sh('m1', 'ls /run/fleet/units'))
      .split('\n')
      .filter((u) => !u.includes('@.') && u !== 'drop.service');
    const snapshot = async () => {
      const out: Record<string, string> = {};
      for (const u of ours) {
        out[u] = await sh(
          'm1',
          `systemctl show --property=MainPID,ActiveEnterTimestampMonotonic,InvocationID,ActiveState ${u} | tr '\\n' ' '`,
        );
      }
      return out;
    };
    const before = await snapshot();
    expect(before['keep.service']).to.contain('ActiveState=active');
    const leaseBefore = (await reg.listMachines()).items.find((i) => i.id === m1)!.lease;

    await lab.killFleetd('m1');
    await engine.unassign(m1, ['drop.service']);
    await new Promise((r) => setTimeout(r, 300));
    expect(await sh('m1', 'systemctl is-active drop.service')).to.equal('active'); // nobody acted yet
    await lab.exec('m1', ['systemctl', 'start', 'fleetd.service']);

    await until(
      async () => (await sh('m1', 'test -e /run/fleet/units/drop.service || echo gone')) === 'gone',
      'drop.service unloaded by the new agent',
    );
    expect(await sh('m1', 'systemctl is-active drop.service || true')).to.not.equal('active');
    const machine = await until(async () => {
      const m = (await reg.listMachines()).items.find((i) => i.id === m1);
      return m && m.lease !== leaseBefore ? m : undefined;
    }, 'registered on a new lease');
    await until(async () => {
      const s = (await reg.listUnitStates(m1)).items.find((i) => i.record.unit === 'keep.service');
      return s?.lease === machine.lease ? s : undefined;
    }, 'keep.service state re-published on the new lease');
    await new Promise((r) => setTimeout(r, 500));
    expect(await snapshot()).to.deep.equal(before);
  });

  it('a short etcd outage (0.7 s, TTL 3 s) stops nothing', async () => {
    await engine.assign(m2, [{ name: 'steady.service', body: svc('steady') }]);
    await until(() => running(m2, 'steady.service'), 'steady running');
    const pid = await show('m2', 'steady.service', 'MainPID');
    const since = (await sh('m2', 'date +%s.%N')).trim();
    await lab.cut('m2');
    await new Promise((r) => setTimeout(r, 700));
    await lab.heal('m2');
    await new Promise((r) => setTimeout(r, 3500));
    expect(await show('m2', 'steady.service', 'MainPID')).to.equal(pid);
    expect(await sh('m2', 'systemctl is-active steady.service')).to.equal('active');
    const log = await sh('m2', `journalctl -u fleetd.service --since @${since} -o cat --no-pager`);
    expect(log).to.not.contain('fenced');
    expect(await machineKeyExists(client, reg, m2)).to.equal(true);
  });

  it('fencing: cut off from etcd, the machine stops its units before its lease expires; healed, it comes back clean', async () => {
    await engine.assign(m2, [
      { name: 'fence-a.service', body: svc('fence a') },
      { name: 'fence-b.service', body: svc('fence b') },
    ]);
    await until(() => running(m2, 'fence-a.service'), 'fence-a running');
    await until(() => running(m2, 'fence-b.service'), 'fence-b running');
    const machines = reg.watchMachines();
    let expiredAtUs: number | undefined;
    machines.on('delete', (e) => {
      if (e.prev.id === m2 && expiredAtUs === undefined) expiredAtUs = Date.now() * 1000;
    });
    await machines.start();
    try {
      const cutAtUs = Date.now() * 1000;
      await lab.cut('m2');
      await until(() => expiredAtUs !== undefined, 'the lease of m2 to expire', 10000, 20);
      // When systemd finished stopping it (its journal's "Stopped" entry; the machine shares the
      // host's clock). The unit's own timestamps are gone once systemd unloads the inactive unit.
      const stoppedAt = async (u: string) => {
        const line = await sh(
          'm2',
          `journalctl -u ${u} JOB_TYPE=stop JOB_RESULT=done -o json -n 1 --no-pager`,
        );
        return Number((JSON.parse(line) as { __REALTIME_TIMESTAMP: string }).__REALTIME_TIMESTAMP);
      };
      for (const u of ['fence-a.service', 'fence-b.service']) {
        expect(await sh('m2', `systemctl is-active ${u} || true`), u).to.equal('inactive');
        const at = await stoppedAt(u);
        expect(at, `${u} stopped after the cut`).to.be.greaterThan(cutAtUs);
        expect(at, `${u} stopped before the lease expired`).to.be.lessThan(expiredAtUs!);
      }
      // Healed: registered again, its (still assigned) units running again, states reported.
      await lab.heal('m2');
      await until(() => machineKeyExists(client, reg, m2), 'm2 registered again');
      await until(() => running(m2, 'fence-a.service'), 'fence-a running again');
      await until(() => running(m2, 'steady.service'), 'steady running again');
    } finally {
      await machines.stop();
    }
  });

  it('SIGTERM: the agent leaves (stops its units, revokes its lease at once)', async () => {
    expect(await sh('m2', 'systemctl is-active fence-b.service')).to.equal('active');
    const t0 = Date.now();
    await lab.exec('m2', ['systemctl', 'stop', 'fleetd.service']);
    expect(await machineKeyExists(client, reg, m2)).to.equal(false);
    expect(Date.now() - t0).to.be.lessThan(3000); // not the TTL expiring
    for (const u of ['fence-a.service', 'fence-b.service', 'steady.service']) {
      expect(await sh('m2', `systemctl is-active ${u} || true`), u).to.equal('inactive');
    }
    expect((await reg.listUnitStates(m2)).items).to.deep.equal([]);
    expect(await show('m2', 'fleetd.service', 'Result')).to.equal('success');
  });
});

describe('agent on fleet-lab with a 3-member etcd: a leader change stops nothing', function () {
  this.timeout(120000);
  let lab: Lab;
  let client: Etcd3;
  let reg: Registry;
  let engine: TestEngine;

  before(async function () {
    this.timeout(90000);
    lab = await Lab.up({
      name: `ag${process.pid}e`,
      machines: 1,
      etcdMembers: 3,
      // Not 3 s as elsewhere: the agent fences TTL/4 before its lease could expire, and a kill -9 of
      // etcd's leader takes 1-2.5 s to elect another here; at TTL 3 s the agent fenced (correctly)
      // in about 1 run of 4. A leader change must stop nothing at a TTL that outlasts an election.
      agentTtl: 6,
      fleetdEntry: join(REPO_ROOT, 'dist/agent/main.js'),
    });
    client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
    reg = new Registry(client);
    await reg.checkSchema();
    engine = await TestEngine.start(reg);
  });

  after(async function () {
    this.timeout(60000);
    await engine?.stop();
    client?.close();
    await lab?.down();
  });

  it('kill -9 of the etcd leader (restarted at once): units keep running, the machine stays registered', async () => {
    const m1 = lab.state.machines[0]!.machineId;
    await until(() => machineKeyExists(client, reg, m1), 'm1 registered');
    await engine.assign(m1, [{ name: 'calm.service', body: svc('calm') }]);
    await until(async () => (await stateOf(reg, m1, 'calm.service'))?.subState === 'running', 'calm running');
    const pid = (await lab.exec('m1', ['systemctl', 'show', '--property=MainPID', '--value', 'calm.service']))
      .stdout;
    const since = (await lab.exec('m1', ['date', '+%s.%N'])).stdout.trim();
    const restarted = await lab.etcdRestart('leader', { kill9: true });
    expect(restarted).to.have.length(1);
    await new Promise((r) => setTimeout(r, 3500));
    expect(
      (await lab.exec('m1', ['systemctl', 'show', '--property=MainPID', '--value', 'calm.service'])).stdout,
    ).to.equal(pid);
    const log = (
      await lab.exec('m1', [
        'journalctl',
        '-u',
        'fleetd.service',
        '--since',
        `@${since}`,
        '-o',
        'cat',
        '--no-pager',
      ])
    ).stdout;
    expect(log).to.not.contain('fenced');
    expect(await machineKeyExists(client, reg, m1)).to.equal(true);
  });
});
