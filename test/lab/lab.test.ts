import { expect } from 'chai';
import dbus from 'dbus-next';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabStateError, MachineError } from '../../lab/errors.js';
import { Lab, REPO_ROOT } from '../../lab/lab.js';
import { refAlive } from '../../lab/proc.js';
import { clusterDir } from '../../lab/state.js';
import { leftovers } from './helpers.js';
import { until } from '../fixtures/until.js';

/** A script for `node -e` inside a machine: put (and read back) a key with the repo's etcd3. */
function etcdPutScript(endpoint: string, key: string, value: string): string {
  return [
    `const { Etcd3 } = require(${JSON.stringify(join(REPO_ROOT, 'node_modules/etcd3'))});`,
    `const c = new Etcd3({ hosts: ${JSON.stringify(endpoint)}, dialTimeout: 1000,`,
    `  defaultCallOptions: () => ({ deadline: Date.now() + 1500 }) });`,
    `c.put(${JSON.stringify(key)}).value(${JSON.stringify(value)})`,
    `  .then(() => c.get(${JSON.stringify(key)}).string())`,
    `  .then((v) => { console.log('got ' + v); process.exit(0); })`,
    `  .catch((e) => { console.log('error ' + e.message); process.exit(2); });`,
  ].join('\n');
}

describe('lab: a cluster of 3 real systemd machines', function () {
  this.timeout(60000);
  const name = `t${process.pid}`;
  let lab: Lab | undefined;
  let tmpBefore: string[] = [];
  let downDone = false;

  before(async () => {
    tmpBefore = readdirSync('/tmp');
    lab = await Lab.up({
      name,
      machines: 3,
      metadata: { m2: { region: 'eu', disk: 'ssd' } },
      bootTimeoutMs: 30000,
    });
  });

  after(async () => {
    // A failed test still cleans up.
    if (!downDone && existsSync(clusterDir(name))) await Lab.down(name);
  });

  it('comes up with 3 machines whose systemd is running, each with its own machine-id and hostname', async () => {
    const st = lab!.state;
    expect(st.phase).to.equal('ready');
    expect(st.machines.map((m) => m.name)).to.deep.equal(['m1', 'm2', 'm3']);
    const ids = new Set<string>();
    for (const m of st.machines) {
      const pid1 = lab!.pid1(m.name);
      expect(readFileSync(`/proc/${pid1}/comm`, 'utf8').trim()).to.equal('systemd');
      const id = readFileSync(`/proc/${pid1}/root/etc/machine-id`, 'utf8').trim();
      expect(id).to.equal(m.machineId);
      ids.add(id);
      const r = await lab!.exec(m.name, ['hostname']);
      expect(r.stdout.trim()).to.equal(m.name);
    }
    expect(ids.size).to.equal(3);
    expect(lab!.exportLine).to.match(/^export FLEETCTL_ENDPOINT=http:\/\/10\.213\.\d+\.1:\d+ /);
  });

  it('each machine answers over D-Bus from the host (its own system bus socket)', async () => {
    for (const m of lab!.machineNames()) {
      const bus = dbus.sessionBus({ busAddress: lab!.busAddress(m) });
      try {
        const obj = await bus.getProxyObject('org.freedesktop.systemd1', '/org/freedesktop/systemd1');
        const props = obj.getInterface('org.freedesktop.DBus.Properties');
        const state = (await props.Get!('org.freedesktop.systemd1.Manager', 'SystemState')) as {
          value: string;
        };
        expect(state.value, m).to.equal('running');
        const virt = (await props.Get!('org.freedesktop.systemd1.Manager', 'Virtualization')) as {
          value: string;
        };
        expect(virt.value, m).to.equal('container-other');
        const manager = obj.getInterface('org.freedesktop.systemd1.Manager');
        const units = (await manager.ListUnitsByNames!(['basic.target', 'multi-user.target'])) as string[][];
        const byName = new Map(units.map((u) => [u[0], u[3]]));
        expect(byName.get('basic.target'), m).to.equal('active');
        // Only basic.target booted: the host's services (multi-user.target) stay off.
        expect(byName.get('multi-user.target'), m).to.equal('inactive');
      } finally {
        bus.disconnect();
      }
    }
  });

  it('each machine answers over D-Bus from inside (busctl on the machine)', async () => {
    for (const m of lab!.machineNames()) {
      const r = await lab!.exec(m, [
        'busctl',
        'get-property',
        'org.freedesktop.systemd1',
        '/org/freedesktop/systemd1',
        'org.freedesktop.systemd1.Manager',
        'SystemState',
      ]);
      expect(r.stdout.trim(), `${m}: ${r.stderr}`).to.equal('s "running"');
    }
  });

  it('roots are overlays, the checkout is read-only inside, and the host keeps its /tmp and mounts', async () => {
    const fs = await lab!.exec('m1', ['findmnt', '-n', '-o', 'FSTYPE', '/']);
    expect(fs.stdout.trim()).to.equal('overlay');
    const w = await lab!.exec('m1', ['touch', join(REPO_ROOT, 'fleet-lab-write-test')]);
    expect(w.code).to.not.equal(0);
    expect(w.stderr).to.contain('Read-only');
    expect(existsSync(join(REPO_ROOT, 'fleet-lab-write-test'))).to.equal(false);
    // A file written in a machine's /tmp stays in that machine.
    await lab!.exec('m1', ['touch', `/tmp/fleet-lab-${name}`]);
    expect(existsSync(`/tmp/fleet-lab-${name}`)).to.equal(false);
    const tmpNow = new Set(readdirSync('/tmp'));
    // Other processes on the host may remove their own files; booting must not empty /tmp.
    const kept = tmpBefore.filter((f) => tmpNow.has(f));
    expect(kept.length).to.be.at.least(Math.floor(tmpBefore.length / 2));
    expect(readFileSync('/proc/mounts', 'utf8')).to.not.contain('fleetlab-');
  });

  it("records each machine's metadata in its fleet.conf", async () => {
    const conf = (await lab!.exec('m2', ['cat', '/etc/fleet/fleet.conf'])).stdout;
    expect(conf).to.contain('metadata="region=eu,disk=ssd"');
    expect(conf).to.contain(`etcd_servers="${lab!.endpoints.join(',')}"`);
    expect(conf).to.contain('public_ip="');
    const conf1 = (await lab!.exec('m1', ['cat', '/etc/fleet/fleet.conf'])).stdout;
    expect(conf1).to.contain('metadata=""');
    expect(lab!.state.machines[1]?.metadata).to.deep.equal({ region: 'eu', disk: 'ssd' });
  });

  it('refuses a second cluster with the same name', async () => {
    let err: unknown;
    try {
      await Lab.up({ name, machines: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(LabStateError);
    expect(String(err)).to.contain(`fleet-lab down --name ${name}`);
  });

  it('a cut machine cannot reach etcd, a healed one can (etcd3 from the read-only checkout)', async () => {
    const ep = lab!.endpoints[0]!;
    const ok = await lab!.exec('m1', ['node', '-e', etcdPutScript(ep, `/lab/${name}/m1`, 'before')]);
    expect(ok.stdout.trim(), ok.stderr).to.equal('got before');
    await lab!.cut('m1');
    const cut = await lab!.exec('m1', ['node', '-e', etcdPutScript(ep, `/lab/${name}/m1`, 'cut')]);
    expect(cut.code, cut.stdout).to.equal(2);
    expect(cut.stdout).to.match(/^error /);
    // The others still reach it.
    const other = await lab!.exec('m2', ['node', '-e', etcdPutScript(ep, `/lab/${name}/m2`, 'meanwhile')]);
    expect(other.stdout.trim(), other.stderr).to.equal('got meanwhile');
    const status = await lab!.status();
    expect(status.machines.find((m) => m.name === 'm1')?.link).to.equal('down');
    await lab!.heal('m1');
    const healed = await lab!.exec('m1', ['node', '-e', etcdPutScript(ep, `/lab/${name}/m1`, 'after')]);
    expect(healed.stdout.trim(), healed.stderr).to.equal('got after');
  });

  it('kill: says plainly that a machine runs no fleetd while fleetd is not built', async function () {
    const hasFleetd = lab!.state.machines[0]!.fleetd;
    if (hasFleetd) {
      // Once dist/fleetd exists the machines run fleetd.service and kill -9 hits it. fleetd may have
      // exited while m1 was cut off above (it refuses to start without etcd, and the lab has no
      // Restart=): start it again first.
      const fleetd = async (prop: string) =>
        (await lab!.exec('m1', ['systemctl', 'show', '-P', prop, 'fleetd.service'])).stdout.trim();
      await lab!.exec('m1', ['systemctl', 'reset-failed', 'fleetd.service']);
      await lab!.exec('m1', ['systemctl', 'start', 'fleetd.service']);
      await until(async () => (await fleetd('MainPID')) !== '0' || undefined, 'fleetd running on m1', 30000);
      expect(await lab!.killFleetd('m1')).to.be.greaterThan(0);
      // The crash leaves fleetd.service failed once its ExecStopPost (fleetd fence) has run, which
      // makes m1 "degraded"; clear it so the later tests see a machine that is otherwise running.
      await until(
        async () => ['failed', 'inactive'].includes(await fleetd('ActiveState')) || undefined,
        'fleetd.service stopped on m1 (its fence done)',
        30000,
      );
      await lab!.exec('m1', ['systemctl', 'reset-failed', 'fleetd.service']);
      return;
    }
    let err: unknown;
    try {
      await lab!.killFleetd('m1');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(MachineError);
    expect(String(err)).to.contain('runs no fleetd');
    expect(String(err)).to.contain('m1');
  });

  it('etcd-restart: the member comes back on the same endpoint with its data', async () => {
    const before = lab!.state.etcd[0]!.proc!.pid;
    await lab!.etcdRestart(1);
    const after = lab!.state.etcd[0]!.proc!.pid;
    expect(after).to.not.equal(before);
    const s = await lab!.status();
    expect(s.etcd[0]?.healthy).to.equal(true);
    const r = await lab!.exec('m2', [
      'node',
      '-e',
      etcdPutScript(lab!.endpoints[0]!, `/lab/${name}/m2b`, 'x'),
    ]);
    expect(r.stdout.trim(), r.stderr).to.equal('got x');
  });

  it('poweroff stops one whole machine and leaves the others running', async () => {
    const m3 = lab!.state.machines[2]!;
    await lab!.poweroff('m3');
    expect(refAlive(m3.pid1!)).to.equal(false);
    const s = await lab!.status();
    expect(s.machines.map((m) => m.systemd)).to.deep.equal(['running', 'running', 'off']);
    expect(() => lab!.pid1('m3')).to.throw(MachineError, /powered off/);
  });

  it('down leaves no process, mount, link or file behind', async () => {
    const st = lab!.state;
    // Something still running inside a machine when it goes down.
    void lab!.exec('m1', ['sleep', '600'], 60000);
    await lab!.down();
    downDone = true;
    expect(leftovers(st)).to.deep.equal([]);
    expect(existsSync(clusterDir(name))).to.equal(false);
  });
});
