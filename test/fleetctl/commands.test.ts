/**
 * fleetctl's commands end to end as subprocesses (`node bin/fleetctl.js ...`) on a real etcd, with
 * both drivers: --driver=etcd (lib/registry), and --driver=api against fleetd's real API server
 * (fleetd/api) on the same etcd. A stand-in engine + agent (harness.ts) plays the cluster where a
 * command blocks on systemd agreeing.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEtcd } from '../fixtures/etcd.js';
import { createServer, type Server } from 'node:http';
import { Registry } from '../../lib/registry/index.js';
import { createApi } from '../../fleetd/api/server.js';
import { etcdArgs, run, StandInCluster, type RunResult } from './harness.js';

const M1 = '1a2b3c4d5e6f708192a3b4c5d6e7f809';
const HELLO = '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sleep 1000\n';
const HELLO2 = '[Unit]\nDescription=Hello again\n\n[Service]\nExecStart=/bin/sleep 2000\n';
const WEB = '[Unit]\nDescription=Web %i\n\n[Service]\nExecStart=/bin/echo %i\n';
const FAST = ['--block-interval=50'];

for (const kind of ['etcd', 'api'] as const) {
  describe(`fleetctl commands (--driver=${kind}, subprocess, real etcd${kind === 'api' ? ", fleetd's API server" : ''})`, function () {
    this.timeout(60000);
    const etcd = useEtcd();
    let dir: string;
    let cluster: StandInCluster | undefined;
    let server: Server | undefined;
    let api: ReturnType<typeof createApi> | undefined;
    let apiEndpoint = '';
    /** Requests the API server answered, by method (reset by the test that counts them). */
    let apiRequests: Record<string, number> = {};

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fleetctl-cmd-'));
      if (kind === 'api') {
        // fleetd's API over this test's prefix, on a unix socket (fleet's default transport).
        api = createApi({ registry: new Registry(etcd.client, { prefix: etcd.prefix }) });
        const handle = api.handle;
        server = createServer((req, res) => {
          const m = req.method ?? '?';
          apiRequests[m] = (apiRequests[m] ?? 0) + 1;
          return handle(req, res);
        });
        const sock = join(dir, 'fleet.sock');
        await new Promise<void>((ok) => server!.listen(sock, ok));
        apiEndpoint = `unix://${sock}`;
      }
    });
    afterEach(async () => {
      await cluster?.stop();
      cluster = undefined;
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((ok) => server!.close(() => ok()));
        server = undefined;
      }
      // Its watch-fed caches hold etcd watches: stop them.
      await api?.close();
      api = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    const driverArgs = (): string[] =>
      kind === 'etcd' ? etcdArgs(etcd.endpoint, etcd.prefix) : [`--endpoint=${apiEndpoint}`];
    const fc = (...args: string[]): Promise<RunResult> => run([...driverArgs(), ...args], { cwd: dir });
    const file = (name: string, text: string) => writeFileSync(join(dir, name), text);
    const reg = () => new Registry(etcd.client, { prefix: etcd.prefix });
    const withCluster = async (auto = true): Promise<StandInCluster> => {
      cluster = new StandInCluster(etcd.client, etcd.prefix);
      await cluster.addMachine(M1, '10.0.0.2', { region: 'eu', disk: 'ssd' });
      if (auto) cluster.autopilot(50);
      return cluster;
    };

    describe('submit', () => {
      it('submits a local file by name (found in the working directory), inactive', async () => {
        file('hello.service', HELLO);
        const r = await fc('submit', 'hello');
        expect(r.stderr).to.equal('');
        expect(r.stdout).to.equal('Unit hello.service inactive\n');
        expect(r.status).to.equal(0);
        const u = await reg().getUnit('hello.service');
        expect(u?.record.desiredState).to.equal('inactive');
        expect(u?.record.body).to.equal(HELLO);
        expect(u?.record.source).to.equal(kind === 'etcd' ? 'fleetctl' : 'api');
      });

      it('leaves an existing unit alone, warns when the local file differs, and --replace swaps it', async () => {
        file('hello.service', HELLO);
        expect((await fc('submit', 'hello.service')).status).to.equal(0);
        file('hello.service', HELLO2);
        const again = await fc('submit', 'hello.service');
        expect(again.status).to.equal(0);
        expect(again.stderr).to.contain(
          'WARNING: Unit hello.service in registry differs from local unit file hello.service',
        );
        expect((await reg().getUnit('hello.service'))?.record.body).to.equal(HELLO);
        // Over the API through fleetd's ?replace=true extension (fleet's PUT cannot change a file).
        const replaced = await fc('submit', '--replace', 'hello.service');
        expect(replaced.stderr).to.equal('');
        expect(replaced.status).to.equal(0);
        expect((await reg().getUnit('hello.service'))?.record.body).to.equal(HELLO2);
        const same = await fc('submit', '--replace', 'hello.service');
        expect(same.stdout).to.contain('Found same Unit(hello.service) in Registry, nothing to do');
      });

      it('refuses an invalid file before writing anything, even the valid ones next to it', async () => {
        file('good.service', HELLO);
        file('bad.service', '[Service\nExecStart=/bin/true\n');
        const r = await fc('submit', 'good.service', 'bad.service');
        expect(r.status).to.equal(1);
        expect(r.stderr).to.match(
          /^fleetctl: unit file bad.service is not valid for bad.service: line 1: .*nothing was submitted\n$/,
        );
        expect((await reg().listUnits()).items).to.have.length(0);
      });

      it('refuses an invalid unit name and a missing file, naming them; nothing written', async () => {
        file('good.service', HELLO);
        const bad = await fc('submit', 'good.service', 'bad name.service');
        expect(bad.status).to.equal(1);
        expect(bad.stderr).to.contain('invalid unit name "bad name.service"');
        const missing = await fc('submit', 'good.service', 'nope.service');
        expect(missing.status).to.equal(1);
        expect(missing.stderr).to.contain(
          'unit nope.service is not in the cluster and there is no file nope.service',
        );
        expect((await reg().listUnits()).items).to.have.length(0);
      });
    });

    describe('start / load (blocking until systemd agrees)', () => {
      it('--no-block: lazily submits, sets launched, prints fleet\'s "Triggered unit" lines', async () => {
        file('hello.service', HELLO);
        const r = await fc('start', '--no-block', 'hello.service');
        expect(r.stdout).to.equal('Unit hello.service inactive\nTriggered unit hello.service start\n');
        expect(r.status).to.equal(0);
        expect((await reg().getUnit('hello.service'))?.record.desiredState).to.equal('launched');
      });

      it('blocks until placed and active, then prints "Unit X launched on 1a2b3c4d.../10.0.0.2"', async () => {
        await withCluster();
        file('hello.service', HELLO);
        const r = await fc('start', ...FAST, 'hello.service');
        expect(r.stderr).to.equal('');
        expect(r.stdout).to.equal(
          'Unit hello.service inactive\nUnit hello.service launched on 1a2b3c4d.../10.0.0.2\n',
        );
        expect(r.status).to.equal(0);
      });

      it('--block-attempts=N gives up after N checks with exit 1, saying why; the change stays recorded', async () => {
        await withCluster(false); // a machine, but no engine: nothing gets placed
        file('hello.service', HELLO);
        const r = await fc('start', '--block-attempts=3', ...FAST, 'hello.service');
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain(
          'timed out waiting for unit hello.service to report state launched after 3 attempts',
        );
        expect(r.stderr).to.contain('the engine has not placed it');
        expect(r.ms).to.be.below(5000);
        expect((await reg().getUnit('hello.service'))?.record.desiredState).to.equal('launched');
      });

      it('waits for the engine AND systemd: a placement without an agent report does not count', async () => {
        const c = await withCluster(false);
        c.agents = false;
        c.autopilot(50);
        file('hello.service', HELLO);
        const r = await fc('start', '--block-attempts=4', ...FAST, 'hello.service');
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain(`no state reported from machine ${M1} yet`);
        expect((await reg().listSchedule()).items.map((s) => s.record.unit)).to.deep.equal(['hello.service']);
      });

      it('load blocks until loaded and not running', async () => {
        await withCluster();
        file('hello.service', HELLO);
        const r = await fc('load', ...FAST, 'hello.service');
        expect(r.stdout).to.equal(
          'Unit hello.service inactive\nUnit hello.service loaded on 1a2b3c4d.../10.0.0.2\n',
        );
        expect(r.status).to.equal(0);
      });

      it('starts instances of a local template (web@{1..3}.service), then of a submitted one', async () => {
        await withCluster();
        file('web@.service', WEB);
        const r = await fc('start', ...FAST, 'web@1.service', 'web@2.service', 'web@3.service');
        expect(r.status).to.equal(0);
        for (const i of [1, 2, 3])
          expect(r.stdout).to.contain(`Unit web@${i}.service launched on 1a2b3c4d.../10.0.0.2`);
        const names = (await reg().listUnits()).items.map((u) => u.id).sort();
        expect(names).to.deep.equal(['web@1.service', 'web@2.service', 'web@3.service']);
        // The template in the cluster serves a working directory without the file.
        expect((await fc('submit', 'web@.service')).status).to.equal(0);
        rmSync(join(dir, 'web@.service'));
        const r4 = await fc('start', ...FAST, 'web@4.service');
        expect(r4.stdout).to.contain('Unit web@4.service launched');
        expect((await reg().getUnit('web@4.service'))?.record.body).to.equal(WEB);
      });

      it('starts 18 instances at once and waits for all (past the one-by-one polling of a few units)', async () => {
        await withCluster();
        file('web@.service', WEB);
        const names = Array.from({ length: 18 }, (_, i) => `web@${i + 1}.service`);
        const r = await fc('start', ...FAST, ...names);
        expect(r.stderr).to.equal('');
        expect(r.status).to.equal(0);
        for (const n of names) expect(r.stdout).to.contain(`Unit ${n} launched on 1a2b3c4d.../10.0.0.2\n`);
      });

      it('refuses to start a template', async () => {
        file('web@.service', WEB);
        const r = await fc('start', 'web@.service');
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain(
          'web@.service is a template and cannot be started; start instances of it, e.g. web@1.service',
        );
        expect((await reg().listUnits()).items).to.have.length(0);
      });

      it('start --replace on a running unit installs the new file and waits until it runs', async () => {
        await withCluster();
        file('hello.service', HELLO);
        expect((await fc('start', ...FAST, 'hello.service')).status).to.equal(0);
        file('hello.service', HELLO2);
        const plain = await fc('start', ...FAST, 'hello.service');
        expect(plain.stderr).to.contain('differs from local unit file');
        expect((await reg().getUnit('hello.service'))?.record.body).to.equal(HELLO);
        const r = await fc('start', '--replace', ...FAST, 'hello.service');
        expect(r.stderr).to.equal('');
        expect(r.stdout).to.equal('Unit hello.service launched on 1a2b3c4d.../10.0.0.2\n');
        const u = await reg().getUnit('hello.service');
        expect(u?.record.body).to.equal(HELLO2);
        const st = (await reg().listUnitStates()).items.find((s) => s.record.unit === 'hello.service');
        expect(st?.record.hash).to.equal(u?.record.hash);
      });
    });

    describe('stop / unload / restart / destroy', () => {
      it('stop waits for loaded; stop of an inactive unit fails; unload waits for inactive', async () => {
        await withCluster();
        file('hello.service', HELLO);
        file('other.service', HELLO2);
        await fc('start', ...FAST, 'hello.service');
        await fc('submit', 'other.service');
        const stop = await fc('stop', ...FAST, 'hello.service');
        expect(stop.stdout).to.equal('Unit hello.service loaded on 1a2b3c4d.../10.0.0.2\n');
        expect(stop.status).to.equal(0);
        const bad = await fc('stop', 'other.service');
        expect(bad.status).to.equal(1);
        expect(bad.stderr).to.contain('Unable to stop unit other.service in state inactive');
        const unload = await fc('unload', ...FAST, 'hello.service');
        expect(unload.stdout).to.equal('Unit hello.service inactive\n');
        expect(unload.status).to.equal(0);
        expect((await reg().listSchedule()).items).to.have.length(0);
      });

      it('restart stops then starts, one unit at a time', async () => {
        await withCluster();
        file('hello.service', HELLO);
        await fc('start', ...FAST, 'hello.service');
        const r = await fc('restart', ...FAST, 'hello.service');
        expect(r.stdout).to.equal(
          'Unit hello.service loaded on 1a2b3c4d.../10.0.0.2\nUnit hello.service launched on 1a2b3c4d.../10.0.0.2\nUnit(hello.service) was restarted.\n',
        );
        expect(r.status).to.equal(0);
      });

      it('destroy waits until no machine has it, prints "Destroyed"; a missing unit is named, exit 1', async () => {
        await withCluster();
        file('hello.service', HELLO);
        await fc('start', ...FAST, 'hello.service');
        const r = await fc('destroy', ...FAST, 'hello.service', 'ghost.service');
        expect(r.stdout).to.equal('Destroyed hello.service\n');
        expect(r.stderr).to.contain('unit ghost.service is not in the cluster');
        expect(r.status).to.equal(1);
        expect(await reg().getUnit('hello.service')).to.equal(undefined);
        expect((await reg().listUnitStates()).items).to.have.length(0);
      });

      it('destroy --block-attempts times out while an agent still reports the unit loaded', async () => {
        const c = await withCluster(false);
        file('hello.service', HELLO);
        await fc('submit', 'hello.service');
        await c.reg.putUnitStates(
          [
            {
              unit: 'hello.service',
              machineId: M1,
              loadState: 'loaded',
              activeState: 'active',
              subState: 'running',
              hash: 'x',
            },
          ],
          await etcd.client.lease(30, { autoKeepAlive: false }).grant(),
        );
        const r = await fc('destroy', '--block-attempts=2', ...FAST, 'hello.service');
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain(
          'to be gone from every machine after 2 attempts: systemd still has it loaded',
        );
        expect(await reg().getUnit('hello.service')).to.equal(undefined);
        const nb = await fc('destroy', '--no-block', 'hello.service');
        expect(nb.status).to.equal(1); // already gone
      });
    });

    describe('100 units at once: round trips do not grow with the units', () => {
      /** Unary etcd requests served so far (etcd's own /metrics), or API requests by method. */
      const etcdRequests = async (): Promise<number> => {
        const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
        let n = 0;
        for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*grpc_type="unary"[^}]*\} (\d+)$/gm))
          n += Number(m[1]);
        return n;
      };
      const counted = async (args: string[]): Promise<{ r: RunResult; requests: Record<string, number> }> => {
        apiRequests = {};
        const before = kind === 'etcd' ? await etcdRequests() : 0;
        const r = await fc(...args);
        const requests = kind === 'etcd' ? { etcd: (await etcdRequests()) - before } : { ...apiRequests };
        return { r, requests };
      };
      const names = (n: number) => Array.from({ length: n }, (_, i) => `web@${i + 1}.service`);
      const lines = (n: number, f: (name: string) => string) => names(n).map(f).join('');

      it("start/stop/destroy --no-block of 100 instances: all changed, fleet's lines, O(1) reads", async () => {
        file('web@.service', WEB);
        const small = await counted(['start', '--no-block', ...names(10)]);
        expect(small.r.status).to.equal(0);
        await fc('destroy', '--no-block', ...names(10));

        const start = await counted(['start', '--no-block', ...names(100)]);
        expect(start.r.stderr).to.equal('');
        expect(start.r.status).to.equal(0);
        expect(start.r.stdout).to.equal(
          lines(100, (n) => `Unit ${n} inactive\n`) + lines(100, (n) => `Triggered unit ${n} start\n`),
        );
        const units = await reg().getUnits(names(100));
        expect([...units.values()].filter((u) => u.record.desiredState === 'launched')).to.have.length(100);
        if (kind === 'etcd') {
          // Before batching: ~5 requests per unit (500). Now: a batched read, the schedule, one write.
          expect(start.requests.etcd)
            .to.be.at.most(small.requests.etcd! + 2)
            .and.at.most(8);
        } else {
          // fleet's API has no batch write: one PUT per unit, created already launched; reads O(1).
          expect(start.requests.PUT).to.equal(100);
          expect(start.requests.GET ?? 0).to.be.at.most(3);
        }

        const stop = await counted(['stop', '--no-block', ...names(100)]);
        expect(stop.r.status).to.equal(0);
        expect(stop.r.stdout).to.equal(lines(100, (n) => `Triggered unit ${n} stop\n`));
        const stopped = await reg().getUnits(names(100));
        expect([...stopped.values()].filter((u) => u.record.desiredState === 'loaded')).to.have.length(100);
        if (kind === 'etcd') expect(stop.requests.etcd).to.be.at.most(8);
        else {
          expect(stop.requests.PUT).to.equal(100);
          expect(stop.requests.GET ?? 0).to.be.at.most(3);
        }

        const destroy = await counted(['destroy', '--no-block', ...names(100), 'ghost.service']);
        expect(destroy.r.status).to.equal(1);
        expect(destroy.r.stderr).to.contain('unit ghost.service is not in the cluster');
        expect(destroy.r.stdout).to.equal(lines(100, (n) => `Destroyed ${n}\n`));
        expect((await reg().listUnits()).items).to.have.length(0);
        if (kind === 'etcd') expect(destroy.requests.etcd).to.be.at.most(10);
        else {
          expect(destroy.requests.DELETE).to.equal(100);
          expect(destroy.requests.GET ?? 0).to.be.at.most(3);
        }
      });

      it('an invalid file among 100 new units: nothing is written', async () => {
        file('web@.service', WEB);
        file('web@50.service', '[Service\nExecStart=/bin/true\n');
        const r = await fc('start', '--no-block', ...names(100));
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain('unit file web@50.service is not valid for web@50.service');
        expect(r.stdout).to.equal('');
        expect((await reg().listUnits()).items).to.have.length(0);
      });

      it('a blocking start of 100 units polls with O(1) requests per poll (3 polls, no engine)', async () => {
        file('web@.service', WEB);
        await withCluster(false);
        const r = await counted(['start', '--block-attempts=3', ...FAST, ...names(100)]);
        expect(r.r.status).to.equal(1);
        expect(
          r.r.stderr.match(
            /timed out waiting for unit web@\d+\.service to report state launched after 3 attempts/g,
          ),
        ).to.have.length(100);
        // Each poll: the named units (one batched read or one listing), the schedule, the states.
        if (kind === 'etcd') expect(r.requests.etcd).to.be.at.most(8 + 3 * 3);
        else expect(r.requests.GET).to.be.at.most(3 + 3 * 2);
      });

      it('a blocking start of 100 units waits for all of them', async () => {
        file('web@.service', WEB);
        await withCluster();
        const r = await run([...driverArgs(), 'start', ...FAST, ...names(100)], {
          cwd: dir,
          timeoutMs: 50000,
        });
        expect(r.stderr).to.equal('');
        expect(r.status).to.equal(0);
        expect(
          r.stdout.match(/^Unit web@\d+\.service launched on 1a2b3c4d\.\.\.\/10\.0\.0\.2$/gm),
        ).to.have.length(100);
      });
    });

    describe('list-units / list-unit-files / list-machines / cat', () => {
      it("show fleet's columns, shortened ids, --full, --fields, --no-legend and -o json", async () => {
        const c = await withCluster(false);
        file('hello.service', HELLO);
        file('glob.service', HELLO + '\n[X-Fleet]\nGlobal=true\n');
        await fc('start', '--no-block', 'hello.service');
        await fc('submit', 'glob.service');
        await c.step();
        const lu = await fc('list-units');
        expect(lu.status).to.equal(0);
        expect(lu.stdout).to.equal(
          'UNIT\t\tMACHINE\t\t\tACTIVE\tSUB\nhello.service\t1a2b3c4d.../10.0.0.2\tactive\trunning\n',
        );
        const full = await fc('list-units', '-l', '--no-legend', '--fields=unit,machine,hash');
        const hash = (await reg().getUnit('hello.service'))!.record.hash;
        expect(full.stdout).to.equal(`hello.service\t${M1}/10.0.0.2\t${hash}\n`);
        const json = JSON.parse((await fc('list-units', '-o', 'json')).stdout) as unknown[];
        expect(json).to.deep.equal([
          {
            name: 'hello.service',
            hash,
            machineID: M1,
            systemdLoadState: 'loaded',
            systemdActiveState: 'active',
            systemdSubState: 'running',
          },
        ]);
        const luf = await fc('list-unit-files');
        expect(luf.stdout.split('\n')[0]).to.equal('UNIT\t\tHASH\tDSTATE\t\tSTATE\t\tTARGET');
        expect(luf.stdout).to.contain(
          `glob.service\t${(await reg().getUnit('glob.service'))!.record.hash.slice(0, 7)}\tinactive\t-\t\tglobal\n`,
        );
        expect(luf.stdout).to.contain(
          `hello.service\t${hash.slice(0, 7)}\tlaunched\tlaunched\t1a2b3c4d.../10.0.0.2\n`,
        );
        const files = JSON.parse((await fc('list-unit-files', '-o', 'json')).stdout) as {
          name: string;
          desiredState: string;
          currentState: string;
          machineID: string;
          options: unknown[];
        }[];
        expect(files.map((f) => [f.name, f.desiredState, f.currentState, f.machineID])).to.deep.equal([
          ['glob.service', 'inactive', 'inactive', ''],
          ['hello.service', 'launched', 'launched', M1],
        ]);
        expect(files[1]!.options).to.deep.include({
          section: 'Service',
          name: 'ExecStart',
          value: '/bin/sleep 1000',
        });
        const lm = await fc('list-machines');
        expect(lm.stdout).to.equal('MACHINE\t\tIP\t\tMETADATA\n1a2b3c4d...\t10.0.0.2\tdisk=ssd,region=eu\n');
        expect(JSON.parse((await fc('list-machines', '-o', 'json')).stdout)).to.deep.equal([
          { id: M1, primaryIP: '10.0.0.2', metadata: { region: 'eu', disk: 'ssd' } },
        ]);
        const bad = await fc('list-machines', '--fields=machine,nope');
        expect(bad.status).to.equal(2);
        expect(bad.stderr).to.contain(
          'invalid field "nope" in --fields; valid fields are draining,ip,machine,metadata,version',
        );
      });

      it('cat prints the file; a unit not in the cluster is exit 1', async () => {
        file('hello.service', HELLO);
        await fc('submit', 'hello.service');
        const r = await fc('cat', 'hello');
        expect(r.stdout).to.equal(HELLO);
        expect(r.status).to.equal(0);
        const missing = await fc('cat', 'ghost.service');
        expect(missing.status).to.equal(1);
        expect(missing.stderr).to.equal(
          'fleetctl: unit ghost.service is not in the cluster; check the name with fleetctl list-unit-files\n',
        );
      });
    });

    describe('why / drain / undrain (beyond fleet)', () => {
      it('why says where a unit is placed, or that it is not and why; -o json', async () => {
        const c = await withCluster(false);
        file('hello.service', HELLO);
        file('idle.service', HELLO2);
        await fc('start', '--no-block', 'hello.service');
        await fc('load', '--no-block', 'idle.service');
        await c.reg.setDesiredState('idle.service', 'loaded');
        c.agents = false;
        // Place only hello.service: the stand-in engine places everything, so place by hand.
        const u = (await reg().getUnit('hello.service'))!;
        const fence = await (
          c as unknown as { theFence(): Promise<Parameters<Registry['applySchedule']>[0]> }
        ).theFence();
        await reg().applySchedule(fence, [
          {
            type: 'put',
            record: {
              unit: u.id,
              machineId: M1,
              body: u.record.body,
              hash: u.record.hash,
              desiredState: 'launched',
            },
          },
        ]);
        const placed = await fc('why', 'hello.service');
        expect(placed.status).to.equal(0);
        expect(placed.stdout).to.equal(
          `hello.service: desired state launched, placed on ${M1}\n  - scheduled on machine ${M1}\n`,
        );
        const not = await fc('why', 'idle', '-o', 'json');
        const j = JSON.parse(not.stdout) as { placed: boolean; desiredState: string; reasons: string[] };
        expect(j.placed).to.equal(false);
        expect(j.desiredState).to.equal('loaded');
        expect(j.reasons.length).to.be.greaterThan(0);
        expect(j.reasons[0]).to.match(/not placed/);
        // The engine leader's recorded reasons are shown by both drivers.
        await reg().applyReasons(fence, [
          {
            type: 'put',
            record: {
              unit: 'idle.service',
              reasons: ['no machine has metadata region=us'],
              since: '2026-11-25T16:00:00.000Z',
            },
          },
        ]);
        const told = await fc('why', 'idle.service');
        expect(told.stdout).to.equal(
          'idle.service: desired state loaded, not placed (since 2026-11-25T16:00:00.000Z)\n  - no machine has metadata region=us\n',
        );
        const ghost = await fc('why', 'ghost.service');
        expect(ghost.status).to.equal(1);
        expect(ghost.stderr).to.contain('ghost.service is not in the cluster');
      });

      it('drain and undrain a machine by an ID prefix; an unknown machine is exit 1', async () => {
        await withCluster(false);
        const r = await fc('drain', '1a2b3c4d...');
        expect(r.stderr).to.equal('');
        expect(r.stdout).to.equal(`Machine ${M1} is draining: it takes no new units\n`);
        expect(r.status).to.equal(0);
        expect((await reg().listMachines()).items[0]!.record.draining).to.equal(true);
        const lm = await fc('list-machines', '--fields=machine,draining', '--no-legend');
        expect(lm.stdout).to.equal('1a2b3c4d...\ttrue\n');
        expect((await fc('undrain', M1)).stdout).to.equal(`Machine ${M1} takes new units again\n`);
        expect((await reg().listMachines()).items[0]!.record.draining).to.equal(false);
        const ghost = await fc('drain', 'ffff');
        expect(ghost.status).to.equal(1);
        expect(ghost.stderr).to.contain('no machine ffff in the cluster');
      });
    });

    describe('flags, environment and errors', () => {
      it('every flag also works as FLEETCTL_<FLAG>', async () => {
        file('hello.service', HELLO);
        const r = await run(['start', 'hello.service'], {
          cwd: dir,
          env:
            kind === 'etcd'
              ? {
                  FLEETCTL_DRIVER: 'etcd',
                  FLEETCTL_ENDPOINT: etcd.endpoint,
                  FLEETCTL_ETCD_KEY_PREFIX: etcd.prefix,
                  FLEETCTL_NO_BLOCK: 'true',
                }
              : { FLEETCTL_ENDPOINT: apiEndpoint, FLEETCTL_NO_BLOCK: 'true' },
        });
        expect(r.stdout).to.equal('Unit hello.service inactive\nTriggered unit hello.service start\n');
        expect((await reg().getUnit('hello.service'))?.record.desiredState).to.equal('launched');
      });

      it('an unreachable etcd is one sentence naming it, exit 1', async function () {
        if (kind === 'api') this.skip(); // the API driver's unreachable socket: api-wire.test.ts
        const r = await run(['--driver=etcd', '--endpoint=http://127.0.0.1:1', 'list-units']);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.equal(
          'fleetctl: cannot reach etcd at http://127.0.0.1:1 (--driver=etcd): connection refused; check that etcd is running there, or pass the right --endpoint (FLEETCTL_ENDPOINT)\n',
        );
      });

      it('bad usage exits 2', async () => {
        expect((await fc('frobnicate')).status).to.equal(2);
        expect((await fc('start')).status).to.equal(2);
        const r = await fc('start', '--block-attempts=-1', 'x.service');
        expect(r.status).to.equal(2);
        expect(r.stderr).to.contain('--block-attempts must be a whole number');
        const endpoint = await run(['--driver=etcd', '--endpoint=foo', 'list-units']);
        expect(endpoint.status).to.equal(2);
        expect(endpoint.stderr).to.contain('--endpoint "foo" is not a list of etcd URLs');
        const sock = await run(['--endpoint=unix://var/run/fleet.sock', 'list-units']);
        expect(sock.status).to.equal(2);
        expect(sock.stderr).to.contain('write unix:///var/run/fleet.sock');
      });
    });
  });
}
