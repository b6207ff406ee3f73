/**
 * fleetctl end to end on a real 3-machine fleet-lab (fleetd with engine + agent in each machine,
 * real systemd), with both drivers:
 *   etcd driver  from the host, etcd's URL, and the lab's client certificate for status/journal
 *                (it dials the unit's machine's advertised API endpoint over mutual TLS);
 *   API driver   from the host against m1's TCP API (https, the lab client certificate), and
 *                from inside m1 against its local fleetd's unix socket (lab.exec).
 * Templates, --replace on a running unit, blocking and non-blocking starts, -o json, and status
 * and journal (also -f) of a unit that runs on ANOTHER machine than the fleetd asked.
 * One lab for the whole file.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Lab } from '../../lab/lab.js';
import { clusterDir } from '../../lab/state.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { Registry } from '../../lib/registry/index.js';
import { run, type RunResult } from '../fleetctl/harness.js';
import { until } from '../fixtures/until.js';

const BIN = resolve('bin/fleetctl.js');
const WEB_TEMPLATE =
  "[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sh -c 'echo web %i; exec sleep 100000'\n\n[X-Fleet]\nMachineMetadata=role=web\n";
const DB =
  "[Unit]\nDescription=db\n\n[Service]\nExecStart=/bin/sh -c 'while :; do echo db-tick; sleep 0.2; done'\n\n[X-Fleet]\nMachineMetadata=role=db\n";
const version = (v: string) =>
  `[Unit]\nDescription=replaceable\n\n[Service]\nExecStart=/bin/sh -c 'echo running ${v}; exec sleep 100000'\n\n[X-Fleet]\nMachineMetadata=role=web\n`;

describe('fleetctl on a real 3-machine fleet-lab, both drivers', function () {
  this.timeout(240000);
  const name = `fc${process.pid}`;
  let lab: Lab | undefined;
  let client: Etcd3;
  let reg: Registry;
  let dir: string;

  const tlsFlags = (): string[] => {
    const t = lab!.tls!;
    return [`--ca-file=${t.ca}`, `--cert-file=${t.clientCert}`, `--key-file=${t.clientKey}`];
  };
  const drivers = {
    etcd: (): string[] => ['--driver=etcd', `--endpoint=${lab!.endpoints[0]}`, ...tlsFlags()],
    api: (): string[] => ['--driver=api', `--endpoint=${lab!.apiEndpoint('m1')}`, ...tlsFlags()],
  };
  const fc = (kind: keyof typeof drivers, ...args: string[]): Promise<RunResult> =>
    run([...drivers[kind](), ...args], { cwd: dir, timeoutMs: 90000 });
  /** fleetctl inside machine m, on its local fleetd's unix socket (the default endpoint). */
  const inside = (m: string, ...args: string[]) => lab!.exec(m, [process.execPath, BIN, ...args], 60000);
  const sh = async (m: string, cmd: string) => (await lab!.exec(m, ['sh', '-c', cmd])).stdout.trim();
  const machineOf = (m: string) => lab!.state.machines.find((x) => x.name === m)!.machineId;
  const nameOfMachine = (id: string) => lab!.state.machines.find((x) => x.machineId === id)!.name;
  const placedOn = async (unit: string) =>
    (await reg.listSchedule()).items.filter((i) => i.record.unit === unit).map((i) => i.record.machineId);
  const journalctls = async () =>
    (await Promise.all(['m1', 'm2', 'm3'].map((m) => sh(m, 'pgrep -a journalctl || true')))).filter(
      (s) => s !== '',
    );

  before(async function () {
    if (process.getuid?.() !== 0) {
      // Note: fleet-lab needs root (namespaces, cgroups); so does this test.
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'fleetctl-lab-test-'));
    lab = await Lab.up({
      name,
      machines: 3,
      agentTtl: 5,
      fleetd: true,
      metadata: { m1: { role: 'web' }, m2: { role: 'web' }, m3: { role: 'db' } },
    });
    client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
    reg = new Registry(client);
    const machines = await until(async () => {
      const items = (await reg.listMachines()).items;
      return items.length === 3 && items.every((m) => m.record.apiEndpoint) ? items : undefined;
    }, '3 machines registered with their API endpoints');
    for (const m of machines) {
      expect(m.record.apiEndpoint).to.equal(lab.apiEndpoint(nameOfMachine(m.id)));
    }
    writeFileSync(join(dir, 'web@.service'), WEB_TEMPLATE);
    writeFileSync(join(dir, 'db.service'), DB);
  });

  after(async () => {
    client?.close();
    if (existsSync(clusterDir(name))) await Lab.down(name);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('etcd driver: start web@{1..3}.service from the template in the working directory, by metadata', async () => {
    const r = await fc('etcd', 'start', 'web@1.service', 'web@2.service', 'web@3.service');
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(0);
    for (const i of [1, 2, 3])
      expect(r.stdout).to.match(
        new RegExp(`Unit web@${i}\\.service launched on \\w{8}\\.\\.\\./10\\.213\\.`),
      );
    for (const i of [1, 2, 3]) {
      const [m] = await placedOn(`web@${i}.service`);
      expect(['m1', 'm2']).to.include(nameOfMachine(m!));
      expect(await sh(nameOfMachine(m!), `systemctl is-active web@${i}.service`)).to.equal('active');
    }
  });

  it('API driver (host -> m1 over mutual TLS): templates, then -o json of every list', async () => {
    const r = await fc('api', 'start', 'web@4.service', 'web@5.service');
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.contain('Unit web@5.service launched on ');
    for (const kind of ['api', 'etcd'] as const) {
      const units = await fc(kind, 'list-units', '-o', 'json');
      expect(units.status, units.stderr).to.equal(0);
      const list = JSON.parse(units.stdout) as {
        name: string;
        machineID: string;
        systemdActiveState: string;
      }[];
      const web4 = list.find((u) => u.name === 'web@4.service');
      expect(web4?.systemdActiveState, kind).to.equal('active');
      expect(['m1', 'm2']).to.include(nameOfMachine(web4!.machineID));
      const files = JSON.parse((await fc(kind, 'list-unit-files', '-o', 'json')).stdout) as {
        name: string;
        desiredState: string;
      }[];
      // Instances are made from the local template; the template itself is not submitted (fleet's way).
      expect(
        files.map((u) => u.name),
        kind,
      ).to.not.include('web@.service');
      expect(files.find((u) => u.name === 'web@1.service')?.desiredState, kind).to.equal('launched');
      const machines = JSON.parse((await fc(kind, 'list-machines', '-o', 'json')).stdout) as {
        id: string;
        metadata: Record<string, string>;
      }[];
      expect(machines.map((m) => m.metadata['role']).sort(), kind).to.deep.equal(['db', 'web', 'web']);
    }
  });

  for (const kind of ['etcd', 'api'] as const) {
    it(`${kind} driver: --no-block start triggers and returns; the unit then runs`, async () => {
      const unit = `nb-${kind}.service`;
      writeFileSync(join(dir, unit), version('nb'));
      const r = await fc(kind, 'start', '--no-block', unit);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.equal(`Unit ${unit} inactive\nTriggered unit ${unit} start\n`);
      const [m] = await until(async () => {
        const on = await placedOn(unit);
        return on.length === 1 ? on : undefined;
      }, `${unit} placed`);
      await until(
        async () => (await sh(nameOfMachine(m!), `systemctl is-active ${unit} || true`)) === 'active',
        `${unit} active`,
        30000,
      );
    });

    it(`${kind} driver: start --replace on a running unit runs the new file`, async () => {
      const unit = `rep-${kind}.service`;
      writeFileSync(join(dir, unit), version('v1'));
      const first = await fc(kind, 'start', unit);
      expect(first.status, first.stderr).to.equal(0);
      writeFileSync(join(dir, unit), version('v2'));
      const plain = await fc(kind, 'start', unit);
      expect(plain.stderr).to.contain('differs from local unit file');
      const r = await fc(kind, 'start', '--replace', unit);
      expect(r.stderr).to.equal('');
      expect(r.status).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`Unit ${unit.replace('.', '\\.')} launched on `));
      const [m] = await placedOn(unit);
      await until(
        async () => (await sh(nameOfMachine(m!), `systemctl cat ${unit}`)).includes('running v2'),
        `${unit}'s new file on its machine`,
        30000,
      );
      await until(
        async () => (await sh(nameOfMachine(m!), `systemctl is-active ${unit} || true`)) === 'active',
        `${unit} active again`,
        30000,
      );
    });
  }

  describe('status and journal of a unit on another machine (db.service on m3)', () => {
    before(async () => {
      const r = await fc('etcd', 'start', 'db.service');
      expect(r.status, r.stderr).to.equal(0);
      expect(await placedOn('db.service')).to.deep.equal([machineOf('m3')]);
      // `start` returns once the unit is active, which can be before its shell has logged enough
      // ticks (systemd's "Started" line may even come after the first); the journal tests below read
      // the last three lines, so wait for five ticks on m3 itself.
      await until(
        async () => Number(await sh('m3', 'journalctl -q -u db.service | grep -c db-tick || true')) >= 5,
        'five db-tick lines in the journal of m3',
        30000,
      );
    });

    it('API driver inside m1 (its unix socket): m1 forwards to m3 over mutual TLS', async () => {
      const st = await inside('m1', 'status', 'db.service');
      expect(st.stderr).to.equal('');
      expect(st.code).to.equal(0);
      expect(st.stdout).to.contain('db.service - db');
      expect(st.stdout).to.match(/Active: active \(running\)/);
      expect(st.stdout).to.contain('m3 '); // journal lines name the host
      const j = await inside('m1', 'journal', '--lines', '3', 'db.service');
      expect(j.code, j.stderr).to.equal(0);
      const lines = j.stdout.trim().split('\n');
      expect(lines).to.have.length(3);
      for (const l of lines) expect(l).to.match(/ m3 .*db-tick$/);
    });

    it('etcd driver from the host: straight to m3 with the lab client certificate', async () => {
      const st = await fc('etcd', 'status', 'db.service');
      expect(st.status, st.stderr).to.equal(0);
      expect(st.stdout).to.match(/Active: active \(running\)/);
      const j = await fc('etcd', 'journal', '--lines', '2', 'db.service');
      expect(j.status, j.stderr).to.equal(0);
      expect(j.stdout.trim().split('\n')).to.have.length(2);
    });

    for (const kind of ['etcd', 'api'] as const) {
      it(`${kind} driver: journal -f streams new lines; stopping fleetctl ends journalctl everywhere`, async () => {
        const child = spawn(
          process.execPath,
          [BIN, ...drivers[kind](), 'journal', '-f', '--lines', '1', 'db.service'],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        try {
          await until(() => (out.match(/db-tick/g) ?? []).length >= 4, 'four followed journal lines', 30000);
          expect(await sh('m3', 'pgrep -a journalctl || true')).to.contain('--follow');
          child.kill('SIGINT');
          await until(
            async () => (await journalctls()).length === 0,
            'no journalctl left on any machine',
            20000,
          );
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      });
    }

    it('errors: a unit not placed, and a client without a certificate, each in one sentence, exit 1', async () => {
      writeFileSync(join(dir, 'idle.service'), version('idle'));
      expect((await fc('etcd', 'submit', 'idle.service')).status).to.equal(0);
      for (const kind of ['etcd', 'api'] as const) {
        const r = await fc(kind, 'status', 'idle.service');
        expect(r.status, kind).to.equal(1);
        expect(r.stderr, kind).to.contain('unit idle.service is not scheduled on any machine');
      }
      const noCert = await run([
        '--driver=etcd',
        `--endpoint=${lab!.endpoints[0]}`,
        `--ca-file=${lab!.tls!.ca}`,
        'status',
        'db.service',
      ]);
      expect(noCert.status).to.equal(1);
      expect(noCert.stderr).to.contain(`cannot reach the fleetd of machine ${machineOf('m3')}`);
      expect(noCert.stderr).to.contain('--cert-file and --key-file');
    });
  });

  it('stop and destroy, both drivers', async () => {
    const stop = await fc('api', 'stop', 'web@4.service');
    expect(stop.status, stop.stderr).to.equal(0);
    expect(stop.stdout).to.match(/Unit web@4\.service loaded on /);
    const destroy = await fc('etcd', 'destroy', 'web@4.service', 'web@5.service');
    expect(destroy.status, destroy.stderr).to.equal(0);
    expect(destroy.stdout).to.equal('Destroyed web@4.service\nDestroyed web@5.service\n');
    await until(async () => (await placedOn('web@5.service')).length === 0, 'web@5 unscheduled');
  });
});
