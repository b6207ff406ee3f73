/**
 * The whole thing on real machines: fleet-lab boots 3 machines whose fleetd.service runs the real
 * fleetd (API + engine candidate + agent) from the checkout; fleetctl (etcd driver, from the host)
 * starts units; they run under the machines' own systemd where their [X-Fleet] rules say.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Lab } from '../../lab/lab.js';
import { clusterDir } from '../../lab/state.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { Registry } from '../../lib/registry/index.js';
import { until } from '../fixtures/until.js';

describe('a fleet-lab cluster running fleetd (engine + agent) in every machine', function () {
  this.timeout(180000);
  const name = `cl${process.pid}`;
  let lab: Lab | undefined;
  let client: Etcd3;
  let reg: Registry;
  let dir: string;

  const fleetctl = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ['bin/fleetctl.js', '--driver=etcd', `--endpoint=${lab!.endpoints[0]}`, ...args],
      {
        encoding: 'utf8',
        cwd: process.cwd(),
        timeout: 60000,
      },
    );
  const sh = async (m: string, cmd: string) => (await lab!.exec(m, ['sh', '-c', cmd])).stdout.trim();

  before(async function () {
    if (process.getuid?.() !== 0) {
      // Note: fleet-lab needs root (namespaces, cgroups); so does this test.
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'fleet-cluster-test-'));
    lab = await Lab.up({
      name,
      machines: 3,
      agentTtl: 3,
      fleetd: true,
      metadata: { m1: { role: 'web' }, m2: { role: 'web' }, m3: { role: 'db' } },
    });
    client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
    reg = new Registry(client);
    await until(
      async () => (await reg.listMachines()).items.length === 3 || undefined,
      '3 machines registered',
      30000,
    );
  });

  after(async () => {
    client?.close();
    if (existsSync(clusterDir(name))) await Lab.down(name);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const machineOf = (m: string) => lab!.state.machines.find((x) => x.name === m)!.machineId;

  it('places by metadata, runs under that machine’s systemd, and lists it', async () => {
    writeFileSync(
      join(dir, 'db.service'),
      '[Service]\nExecStart=/bin/sleep 100000\n\n[X-Fleet]\nMachineMetadata=role=db\n',
    );
    const r = fleetctl('start', join(dir, 'db.service'));
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/Unit db\.service launched on /);
    expect(await sh('m3', 'systemctl is-active db.service')).to.equal('active');
    expect(await sh('m1', 'systemctl is-active db.service || true')).to.not.equal('active');

    const list = fleetctl('list-units', '--no-legend', '--full');
    expect(list.status, list.stderr).to.equal(0);
    expect(list.stdout).to.match(new RegExp(`db\\.service\\s+${machineOf('m3')}/\\S+\\s+active\\s+running`));
  });

  it('runs a global unit on every machine, and socket activation answers on the socket’s machine', async () => {
    writeFileSync(
      join(dir, 'everywhere.service'),
      '[Service]\nExecStart=/bin/sleep 100000\n\n[X-Fleet]\nGlobal=true\n',
    );
    const g = fleetctl('start', '--no-block', join(dir, 'everywhere.service'));
    expect(g.status, g.stderr).to.equal(0);
    for (const m of ['m1', 'm2', 'm3'])
      await until(
        async () =>
          (await sh(m, 'systemctl is-active everywhere.service || true')) === 'active' ? true : undefined,
        `everywhere.service active on ${m}`,
        30000,
      );

    // Accept=no: systemd hands the listening socket to hi.service, which the engine keeps on the
    // socket's machine without a MachineOf (socket activation is placed as a pair)
    writeFileSync(
      join(dir, 'hi.socket'),
      '[Socket]\nListenStream=7777\n\n[X-Fleet]\nMachineMetadata=role=web\n',
    );
    writeFileSync(
      join(dir, 'hi.service'),
      `[Service]\nExecStart=${process.execPath} -e "require('net').createServer(c=>c.end('hi from '+require('os').hostname()+'\\\\n')).listen({fd:3})"\n`,
    );
    const s = fleetctl('start', '--no-block', join(dir, 'hi.socket'));
    expect(s.status, s.stderr + s.stdout).to.equal(0);
    const l = fleetctl('load', '--no-block', join(dir, 'hi.service'));
    expect(l.status, l.stderr + l.stdout).to.equal(0);
    const placed = await until(
      async () =>
        (await reg.listSchedule()).items.find((i) => i.record.unit === 'hi.socket')?.record.machineId,
      'hi.socket placed',
      30000,
    );
    const service = (await reg.listSchedule()).items.find((i) => i.record.unit === 'hi.service');
    expect(service?.record.machineId, 'hi.service next to hi.socket').to.equal(placed);
    const m = lab!.state.machines.find((x) => x.machineId === placed)!;
    expect(['m1', 'm2']).to.include(m.name);
    // a connection made inside that machine makes systemd start hi.service, which answers it
    const answer = await until(
      async () => {
        const out = await sh(
          m.name,
          `${process.execPath} -e "const s=require('net').connect(7777,'127.0.0.1');let d='';s.on('data',c=>d+=c);s.on('end',()=>console.log(d.trim()));s.on('error',()=>{})"`,
        );
        return out !== '' ? out : undefined;
      },
      'an answer on :7777',
      30000,
    ).catch(async (e: Error) => {
      const why = await sh(
        m.name,
        'systemctl status --no-pager hi.socket hi.service 2>&1; ls -l /run/fleet/units',
      );
      throw new Error(`${e.message}\n${why}`);
    });
    expect(answer).to.equal(`hi from ${m.name}`);
  });

  it('SIGHUP republishes metadata (list-machines shows it)', async () => {
    await sh('m2', "sed -i 's/^metadata=.*/metadata=role=web,disk=ssd/' /etc/fleet/fleet.conf");
    await sh('m2', 'systemctl kill --signal=HUP fleetd.service');
    await until(
      async () => {
        const rec = (await reg.listMachines()).items.find((i) => i.id === machineOf('m2'));
        return rec?.record.metadata['disk'] === 'ssd' || undefined;
      },
      'm2 metadata updated',
      30000,
    );
    const lm = fleetctl('list-machines', '--no-legend', '--full');
    expect(lm.stdout).to.match(new RegExp(`${machineOf('m2')}\\s+\\S+\\s+.*disk=ssd`));
  });

  it('a powered-off machine’s units are re-placed on a fitting machine, once', async () => {
    writeFileSync(
      join(dir, 'mover.service'),
      '[Service]\nExecStart=/bin/sleep 100000\n\n[X-Fleet]\nMachineMetadata=role=web\n',
    );
    const r = fleetctl('start', join(dir, 'mover.service'));
    expect(r.status, r.stderr).to.equal(0);
    const first = (await reg.listSchedule()).items.find((i) => i.record.unit === 'mover.service')!.record
      .machineId;
    const from = lab!.state.machines.find((x) => x.machineId === first)!.name;
    const to = from === 'm1' ? 'm2' : 'm1';
    await lab!.poweroff(from);
    await until(
      async () =>
        (await sh(to, 'systemctl is-active mover.service || true')) === 'active' ? true : undefined,
      `mover.service active on ${to}`,
      30000,
    );
    const now = (await reg.listSchedule()).items.filter((i) => i.record.unit === 'mover.service');
    expect(now.map((i) => i.record.machineId)).to.deep.equal([machineOf(to)]);
  });
});
