/**
 * `fleetctl apply` end to end as a subprocess on a real etcd, with both drivers (--driver=etcd and
 * --driver=api against fleetd's real API server on the same etcd). The stand-in engine + agent of
 * test/fleetctl/harness.ts plays the cluster where apply waits for units to run.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fleetctlSource } from '../../lib/apply/index.js';
import { Registry } from '../../lib/registry/index.js';
import { createApi } from '../../fleetd/api/server.js';
import { useEtcd } from '../fixtures/etcd.js';
import { until } from '../fixtures/until.js';
import { etcdArgs, run, StandInCluster, type RunResult } from '../fleetctl/harness.js';

const M1 = '1a2b3c4d5e6f708192a3b4c5d6e7f809';
const HELLO = '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sleep 1000\n';
const HELLO2 = '[Unit]\nDescription=Hello again\n\n[Service]\nExecStart=/bin/sleep 2000\n';
const WEB = '[Unit]\nDescription=Web %i\n\n[Service]\nExecStart=/bin/sleep %i00\n';
const WEB2 = '[Unit]\nDescription=Web v2 %i\n\n[Service]\nExecStart=/bin/sleep %i01\n';
const FAST = ['--block-interval=50'];

for (const kind of ['etcd', 'api'] as const) {
  describe(`fleetctl apply (--driver=${kind}, subprocess, real etcd)`, function () {
    this.timeout(90000);
    const etcd = useEtcd();
    let tmp: string;
    let dir: string;
    let cluster: StandInCluster | undefined;
    let server: Server | undefined;
    let api: ReturnType<typeof createApi> | undefined;
    let apiEndpoint = '';

    beforeEach(async () => {
      tmp = mkdtempSync(join(tmpdir(), 'fleetctl-apply-'));
      dir = join(tmp, 'units');
      mkdirSync(dir);
      if (kind === 'api') {
        api = createApi({ registry: new Registry(etcd.client, { prefix: etcd.prefix }) });
        server = createServer(api.handle);
        const sock = join(tmp, 'fleet.sock');
        await new Promise<void>((ok) => server!.listen(sock, ok));
        apiEndpoint = `unix://${sock}`;
      }
      cluster = new StandInCluster(etcd.client, etcd.prefix);
      await cluster.addMachine(M1, '10.0.0.2');
      cluster.autopilot(50);
    });
    afterEach(async () => {
      await cluster?.stop();
      cluster = undefined;
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((ok) => server!.close(() => ok()));
        server = undefined;
      }
      await api?.close();
      api = undefined;
      rmSync(tmp, { recursive: true, force: true });
    });

    const driverArgs = (): string[] =>
      kind === 'etcd' ? etcdArgs(etcd.endpoint, etcd.prefix) : [`--endpoint=${apiEndpoint}`];
    const fleetctl = (...args: string[]): Promise<RunResult> =>
      run([...driverArgs(), ...args], { cwd: tmp, timeoutMs: 60000 });
    const file = (name: string, text: string) => writeFileSync(join(dir, name), text);
    const reg = () => new Registry(etcd.client, { prefix: etcd.prefix });
    const source = () => fleetctlSource(hostname(), resolve(dir));
    const lines = (s: string) => s.split('\n').filter((l) => l !== '' && !l.startsWith('Unit '));

    it('creates and starts new files, then says unchanged; the unit records its source', async () => {
      file('hello.service', HELLO);
      file('quiet.service', `${HELLO}[X-Fleet-Apply]\nDesiredState=loaded\n`);
      file('web@.service', WEB);
      file('web@1.service', '');
      file('web@2.service', '');
      const r = await fleetctl('apply', ...FAST, dir);
      expect(r.stderr).to.equal('');
      expect(r.status).to.equal(0);
      expect(lines(r.stdout)).to.deep.equal([
        'hello.service created',
        'quiet.service created',
        'web@.service created',
        'web@1.service created',
        'web@2.service created',
      ]);
      expect(r.stdout).to.include(`Unit hello.service launched on ${M1.slice(0, 8)}`);
      const units = new Map((await reg().listUnits()).items.map((i) => [i.id, i.record]));
      expect(units.get('hello.service')).to.include({ desiredState: 'launched', source: source() });
      expect(units.get('quiet.service')).to.include({ desiredState: 'loaded', source: source() });
      expect(units.get('quiet.service')!.body).to.not.include('X-Fleet-Apply');
      expect(units.get('web@.service')).to.include({ desiredState: 'inactive' });
      expect(units.get('web@2.service')).to.include({ desiredState: 'launched' });

      const again = await fleetctl('apply', ...FAST, dir);
      expect(again.status).to.equal(0);
      expect(lines(again.stdout)).to.deep.equal([
        'hello.service unchanged',
        'quiet.service unchanged',
        'web@.service unchanged',
        'web@1.service unchanged',
        'web@2.service unchanged',
      ]);
    });

    it('replaces a changed file in place; rolls instances one at a time; configures a state change', async () => {
      file('hello.service', HELLO);
      file('web@.service', WEB);
      file('web@1.service', '');
      file('web@2.service', '');
      expect((await fleetctl('apply', ...FAST, dir)).status).to.equal(0);
      const r0 = reg();
      const before = await r0.getUnit('hello.service');

      // Record the order of writes: units and unit states, with their revisions.
      const seen: { key: string; hash: string; active: string; rev: bigint }[] = [];
      const us = r0.watchUnits();
      const ss = r0.watchUnitStates(undefined);
      us.on('put', (e) =>
        seen.push({
          key: `unit ${e.item.id}`,
          hash: e.item.record.hash,
          active: '',
          rev: BigInt(e.item.modRevision),
        }),
      );
      ss.on('put', (e) =>
        seen.push({
          key: `state ${e.item.record.unit}`,
          hash: e.item.record.hash,
          active: e.item.record.activeState,
          rev: BigInt(e.item.modRevision),
        }),
      );
      await Promise.all([us.start(), ss.start()]);
      try {
        file('hello.service', HELLO2);
        file('web@.service', WEB2);
        const r = await fleetctl('apply', ...FAST, dir);
        expect(r.stderr).to.equal('');
        expect(r.status).to.equal(0);
        expect(lines(r.stdout)).to.deep.equal([
          'hello.service replaced',
          'web@.service replaced',
          'web@1.service replaced',
          'web@2.service replaced',
        ]);
      } finally {
        await Promise.all([us.stop(), ss.stop()]);
      }
      const after = await r0.getUnit('hello.service');
      expect(after!.createRevision).to.equal(before!.createRevision); // in place, not destroyed
      expect(after!.record.body).to.equal(HELLO2);
      expect(after!.record.desiredState).to.equal('launched');
      const w1 = await r0.getUnit('web@1.service');
      const w2 = await r0.getUnit('web@2.service');
      const newW1 = w1!.record.hash;
      // web@2 got its new file only after web@1 ran its new file.
      const w1Up = seen.find(
        (s) => s.key === 'state web@1.service' && s.hash === newW1 && s.active === 'active',
      );
      const w2Write = seen.find((s) => s.key === 'unit web@2.service' && s.hash === w2!.record.hash);
      expect(w1Up, 'web@1 reported running its new file').to.not.equal(undefined);
      expect(w2Write, 'web@2 replaced').to.not.equal(undefined);
      expect(w2Write!.rev > w1Up!.rev).to.equal(true);

      file('hello.service', `${HELLO2}[X-Fleet-Apply]\nDesiredState=loaded\n`);
      const c = await fleetctl('apply', ...FAST, dir);
      expect(lines(c.stdout)).to.include('hello.service configured (launched -> loaded)');
      const conf = await r0.getUnit('hello.service');
      expect(conf!.record.hash).to.equal(after!.record.hash); // same file: not restarted
      expect(conf!.record.desiredState).to.equal('loaded');
    });

    it('prunes only with --prune, only its own units', async () => {
      file('a.service', HELLO);
      file('b.service', HELLO2);
      expect((await fleetctl('apply', '--no-block', dir)).status).to.equal(0);
      await reg().submitUnit({ name: 'hand.service', body: HELLO, source: 'fleetctl' });
      unlinkSync(join(dir, 'b.service'));
      const keep = await fleetctl('apply', '--no-block', dir);
      expect(lines(keep.stdout)).to.deep.equal(['a.service unchanged']);
      expect(await reg().getUnit('b.service')).to.not.equal(undefined);
      const p = await fleetctl('apply', '--no-block', '--prune', dir);
      expect(p.status).to.equal(0);
      expect(lines(p.stdout)).to.deep.equal(['a.service unchanged', 'b.service pruned']);
      expect(await reg().getUnit('b.service')).to.equal(undefined);
      expect(await reg().getUnit('hand.service')).to.not.equal(undefined);
    });

    it('never clobbers a unit of another source: conflict naming both, exit 1, the others applied', async () => {
      await reg().submitUnit({ name: 'taken.service', body: HELLO, source: 'fleetd:m9:/etc/fleet/units.d' });
      await reg().submitUnit({ name: 'byhand.service', body: HELLO });
      file('taken.service', HELLO2);
      file('byhand.service', HELLO2);
      file('mine.service', HELLO);
      const r = await fleetctl('apply', '--no-block', '--prune', dir);
      expect(r.status).to.equal(1);
      expect(lines(r.stdout)).to.deep.equal(['mine.service created']);
      expect(r.stderr).to.include('taken.service conflict');
      expect(r.stderr).to.include('source "fleetd:m9:/etc/fleet/units.d"');
      expect(r.stderr).to.include(`source ${JSON.stringify(source())}`);
      expect(r.stderr).to.match(/byhand\.service conflict: .*no source \(submitted by hand/);
      expect((await reg().getUnit('taken.service'))!.record.body).to.equal(HELLO);
      expect((await reg().getUnit('byhand.service'))!.record.body).to.equal(HELLO);
    });

    it('bad files are reported with their path and skipped; the others flow; exit 1', async () => {
      file('good.service', HELLO);
      file('bin.service', '\u0000\u0001ELF\u0000');
      file('bad name.service', HELLO);
      file('half.service', '[Unit]\nDescription=half\n[Serv');
      mkdirSync(join(dir, 'adir.service'));
      const r = await fleetctl('apply', '--no-block', dir);
      expect(r.status).to.equal(1);
      expect(lines(r.stdout)).to.deep.equal(['good.service created']);
      for (const n of ['bin.service', 'bad name.service', 'half.service', 'adir.service']) {
        expect(r.stderr).to.include(`${join(resolve(dir), n)}: skipped:`);
      }
      expect((await reg().listUnits()).items.map((i) => i.id)).to.deep.equal(['good.service']);
    });

    it('a missing directory is an error that prunes nothing', async () => {
      file('a.service', HELLO);
      expect((await fleetctl('apply', '--no-block', dir)).status).to.equal(0);
      rmSync(dir, { recursive: true });
      const r = await fleetctl('apply', '--no-block', '--prune', dir);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/cannot read the unit directory .*does not exist/);
      expect(await reg().getUnit('a.service')).to.not.equal(undefined);
    });

    it('--watch: new file, editor rename-and-write, delete with --prune; stops on SIGTERM', async () => {
      const child = spawn(
        process.execPath,
        [resolve('bin/fleetctl.js'), ...driverArgs(), 'apply', '--watch', '--prune', ...FAST, dir],
        { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((ok) => child.on('close', ok));
      try {
        // Written before or after the watch is set up, it is seen (the first pass reads the directory).
        file('w.service', HELLO);
        await until(
          async () => (await reg().getUnit('w.service'))?.record.body === HELLO,
          'w.service created',
          30000,
        );
        // An editor: write a temporary file, then rename it over the original.
        writeFileSync(join(dir, '.w.service.tmp'), HELLO2);
        renameSync(join(dir, '.w.service.tmp'), join(dir, 'w.service'));
        await until(
          async () => (await reg().getUnit('w.service'))?.record.body === HELLO2,
          'w.service replaced',
          30000,
        );
        unlinkSync(join(dir, 'w.service'));
        await until(async () => (await reg().getUnit('w.service')) === undefined, 'w.service pruned', 30000);
        // The line is printed once the write is done: it may reach us just after etcd shows it.
        for (const line of ['w.service created', 'w.service replaced', 'w.service pruned']) {
          await until(() => out.includes(line), `"${line}" printed`);
        }
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).to.equal(0);
      expect(err).to.equal('');
    });

    if (kind === 'etcd') {
      it('10,000 files: submitted in batches (prints the time taken)', async function () {
        this.timeout(180000);
        for (let i = 0; i < 10000; i++) file(`u${i}.service`, `[Service]\nExecStart=/bin/sleep ${i}\n`);
        await cluster!.stop(); // no engine: only the submits are measured
        const r = await fleetctl('apply', '--no-block', dir);
        expect(r.status, r.stderr).to.equal(0);
        expect(lines(r.stdout).length).to.equal(10000);
        const l = await reg().listUnits();
        expect(l.items.length).to.equal(10000);
        console.log(`      (fleetctl apply of 10,000 new files, --driver=etcd --no-block: ${r.ms} ms)`);
      });
    }
  });
}
