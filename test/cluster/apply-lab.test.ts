/**
 * Units from a directory and from etcd automation, end to end on real machines: fleet-lab boots 3
 * machines running fleetd; m1's fleetd watches /etc/fleet/units.d (unit_source_directory, set in
 * its fleet.conf by this test, fleetd restarted). Dropping a file there runs the unit; editing
 * replaces it (instances rolled: never all down at once); deleting prunes it; a unit written with
 * etcdctl runs; invalid files and keys are reported and nothing else is touched.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Lab } from '../../lab/lab.js';
import { clusterDir } from '../../lab/state.js';
import { fleetdSource } from '../../lib/apply/index.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { Registry, invalidUnitKeyName } from '../../lib/registry/index.js';
import { until } from '../fixtures/until.js';

const DIR = '/etc/fleet/units.d';

describe('units from a directory and from etcd automation, in fleet-lab (3 machines, fleetd)', function () {
  this.timeout(240000);
  const name = `ap${process.pid}`;
  let lab: Lab | undefined;
  let client: Etcd3;
  let reg: Registry;
  let hostDir: string;

  const fleetctl = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ['bin/fleetctl.js', '--driver=etcd', `--endpoint=${lab!.endpoints[0]}`, ...args],
      {
        encoding: 'utf8',
        timeout: 60000,
      },
    );
  const etcdctl = (...args: string[]) =>
    execFileSync('etcdctl', args, {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: lab!.endpoints.join(',') },
    });
  /** Writes a file into m1's directory as configuration tools do: a temporary file, renamed. */
  const drop = (file: string, text: string) => {
    const tmp = join(hostDir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(hostDir, file));
  };
  const running = async (unit: string, hash?: string) => {
    const s = (await reg.listUnitStates()).items.filter(
      (i) =>
        i.record.unit === unit &&
        i.record.activeState === 'active' &&
        (hash === undefined || i.record.hash === hash),
    );
    return s.length > 0 ? s : undefined;
  };

  before(async function () {
    if (process.getuid?.() !== 0) {
      // Note: fleet-lab needs root (namespaces, cgroups); so does this test.
      this.skip();
    }
    lab = await Lab.up({ name, machines: 3, agentTtl: 5, fleetd: true });
    client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
    reg = new Registry(client);
    const root = `/proc/${lab.pid1('m1')}/root`;
    hostDir = `${root}${DIR}`;
    mkdirSync(hostDir, { recursive: true });
    appendFileSync(`${root}/etc/fleet/fleet.conf`, `unit_source_directory="${DIR}"\n`);
    await lab.exec('m1', ['systemctl', 'restart', 'fleetd.service']);
    await until(async () => (await reg.listMachines()).items.length === 3 || undefined, '3 machines', 60000);
  });

  after(async () => {
    client?.close();
    if (existsSync(clusterDir(name))) await Lab.down(name);
  });

  const m1Source = () => fleetdSource(lab!.state.machines.find((m) => m.name === 'm1')!.machineId, DIR);

  it('a dropped file runs; an edit replaces it in place; a deletion prunes it', async () => {
    drop('hello.service', '[Service]\nExecStart=/bin/sleep 100001\n');
    await until(() => running('hello.service'), 'hello.service running', 60000);
    const u = await reg.getUnit('hello.service');
    expect(u!.record.source).to.equal(m1Source());

    drop('hello.service', '[Service]\nExecStart=/bin/sleep 100002\n');
    const after = await until(
      async () => {
        const x = await reg.getUnit('hello.service');
        return x && x.record.hash !== u!.record.hash ? x : undefined;
      },
      'hello.service replaced',
      60000,
    );
    expect(after.createRevision).to.equal(u!.createRevision);
    const where = (
      await until(() => running('hello.service', after.record.hash), 'the new file running', 60000)
    )[0]!;
    const m = lab!.state.machines.find((x) => x.machineId === where.record.machineId)!.name;
    const exec = await lab!.exec(m, ['systemctl', 'show', '-p', 'ExecStart', '--value', 'hello.service']);
    expect(exec.stdout).to.include('100002');

    unlinkSync(join(hostDir, 'hello.service'));
    await until(async () => (await reg.getUnit('hello.service')) === undefined || undefined, 'pruned', 60000);
    await until(async () => (await running('hello.service')) === undefined || undefined, 'stopped', 60000);
  });

  it('a changed template rolls its instances one at a time: never all down at once', async () => {
    drop('web@.service', '[Unit]\nDescription=web %i v1\n\n[Service]\nExecStart=/bin/sleep 2000%i\n');
    for (const i of [1, 2, 3]) drop(`web@${i}.service`, '');
    const names = ['web@1.service', 'web@2.service', 'web@3.service'];
    for (const n of names) await until(() => running(n), `${n} running`, 60000);
    const v1 = new Map(
      await Promise.all(names.map(async (n) => [n, (await reg.getUnit(n))!.record.hash] as const)),
    );

    // Record every write of the instances' units and states, with revisions, during the roll.
    const seen: { what: string; unit: string; hash: string; active: boolean; rev: bigint }[] = [];
    const us = reg.watchUnits();
    const ss = reg.watchUnitStates(undefined);
    us.on('put', (e) =>
      seen.push({
        what: 'unit',
        unit: e.item.id,
        hash: e.item.record.hash,
        active: false,
        rev: BigInt(e.item.modRevision),
      }),
    );
    ss.on('put', (e) =>
      seen.push({
        what: 'state',
        unit: e.item.record.unit,
        hash: e.item.record.hash,
        active: e.item.record.activeState === 'active',
        rev: BigInt(e.item.modRevision),
      }),
    );
    await Promise.all([us.start(), ss.start()]);
    drop('web@.service', '[Unit]\nDescription=web %i v2\n\n[Service]\nExecStart=/bin/sleep 3000%i\n');
    let samples = 0;
    let minUp = Infinity;
    const rolled = async () => {
      const states = (await reg.listUnitStates()).items.map((i) => i.record);
      const up = names.filter((n) => states.some((s) => s.unit === n && s.activeState === 'active'));
      samples++;
      minUp = Math.min(minUp, up.length);
      const units = await Promise.all(names.map((n) => reg.getUnit(n)));
      const done = units.every(
        (x) =>
          x !== undefined &&
          x.record.hash !== v1.get(x.record.name) &&
          states.some(
            (s) => s.unit === x.record.name && s.hash === x.record.hash && s.activeState === 'active',
          ),
      );
      return done || undefined;
    };
    try {
      await until(rolled, 'every instance running its new file', 120000, 100);
    } finally {
      await Promise.all([us.stop(), ss.stop()]);
    }
    // Each instance got its new file only once the one before ran its own new file.
    const v2 = new Map(
      await Promise.all(names.map(async (n) => [n, (await reg.getUnit(n))!.record.hash] as const)),
    );
    for (let i = 1; i < names.length; i++) {
      const prevUp = seen.find(
        (e) => e.what === 'state' && e.unit === names[i - 1] && e.hash === v2.get(names[i - 1]!) && e.active,
      );
      const write = seen.find(
        (e) => e.what === 'unit' && e.unit === names[i] && e.hash === v2.get(names[i]!),
      );
      expect(prevUp, `${names[i - 1]} reported running its new file`).to.not.equal(undefined);
      expect(write, `${names[i]} replaced`).to.not.equal(undefined);
      expect(write!.rev > prevUp!.rev, `${names[i]} replaced after ${names[i - 1]} ran again`).to.equal(true);
    }
    expect(samples).to.be.greaterThan(3);
    expect(minUp, 'instances active at the worst moment of the roll').to.be.at.least(2);
  });

  it('a unit written with etcdctl runs; invalid files and keys are reported and touch nothing else', async () => {
    const body = '[Service]\nExecStart=/bin/sleep 100003\n';
    etcdctl(
      'put',
      '/fleet/units/auto.service',
      JSON.stringify({ body, desiredState: 'launched', source: 'etcdctl' }),
    );
    await until(() => running('auto.service'), 'auto.service (etcdctl) running', 60000);

    etcdctl('put', '/fleet/units/nojson.service', 'not json');
    etcdctl('put', '/fleet/units/badstate.service', JSON.stringify({ body, desiredState: 'running' }));
    etcdctl('put', '/fleet/units/bad name.service', JSON.stringify({ body, desiredState: 'launched' }));
    writeFileSync(join(hostDir, 'bin.service'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0xff]));
    execFileSync('mkfifo', [join(hostDir, 'fifo.service')]);
    drop('good.service', '[Service]\nExecStart=/bin/sleep 100004\n');

    await until(() => running('good.service'), 'good.service (dropped beside the bad files) running', 60000);
    await until(
      async () => {
        const r = new Map((await reg.listReasons()).items.map((i) => [i.record.unit, i.record]));
        return (
          ['nojson.service', 'badstate.service', invalidUnitKeyName('bad name.service')].every(
            (n) => r.get(n)?.invalid,
          ) || undefined
        );
      },
      'the bad keys marked invalid',
      30000,
    );
    const l = fleetctl('list-unit-files', '--no-legend', '--fields=unit,state');
    expect(l.status, l.stderr).to.equal(0);
    expect(l.stdout).to.match(/badstate\.service\s+invalid/);
    const w = fleetctl('why', 'nojson.service');
    expect(w.stdout + w.stderr).to.match(/nojson\.service is invalid: not JSON/);
    // fleetd reported each bad file with its path, and still runs.
    const journal = await lab!.exec('m1', ['journalctl', '-u', 'fleetd.service', '--no-pager', '-o', 'cat']);
    expect(journal.stdout).to.include(`${DIR}/bin.service: skipped`);
    expect(journal.stdout).to.include(`${DIR}/fifo.service: skipped`);
    expect((await lab!.exec('m1', ['systemctl', 'is-active', 'fleetd.service'])).stdout.trim()).to.equal(
      'active',
    );
    // No collateral damage: what ran before still runs.
    expect(await running('auto.service')).to.not.equal(undefined);
    for (const n of ['web@1.service', 'web@2.service', 'web@3.service'])
      expect(await running(n), n).to.not.equal(undefined);
  });
});
