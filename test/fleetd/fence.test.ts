/**
 * fleetd fence: the pure decision (systemd's $SERVICE_RESULT/$EXIT_CODE/$EXIT_STATUS -> nothing or
 * fence), the agent's lease file (writer, reader, every kind of bad file), and fence's "never
 * crash, never revoke what it could not confirm stopped" on a machine without a reachable systemd.
 * The real thing (kill -9 in a fleet-lab cluster) is test/fleetd/fence-lab.test.ts.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  leaseFilePath,
  parseLeaseFile,
  readLeaseFile,
  removeLeaseFile,
  writeLeaseFile,
} from '../../agent/lease-file.js';
import { fence, fenceDecision, stopOutcomeFromEnv, type StopOutcome } from '../../fleetd/fence.js';
import { loadConfig } from '../../lib/config.js';
import { Registry } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import type { Campaign } from 'etcd3';
import { createLogger } from '../../lib/log.js';

describe('fleetd fence', () => {
  describe('fenceDecision (systemd.exec(5) "Environment variables in spawned processes")', () => {
    const table: [string, StopOutcome, 'nothing' | 'fence'][] = [
      // clean stops: systemctl stop (fleetd left), systemctl restart (units kept for adoption)
      ['exit 0 after SIGTERM', { serviceResult: 'success', exitCode: 'exited', exitStatus: '0' }, 'nothing'],
      [
        'killed by TERM (a clean signal)',
        { serviceResult: 'success', exitCode: 'killed', exitStatus: 'TERM' },
        'nothing',
      ],
      ['kill -9', { serviceResult: 'signal', exitCode: 'killed', exitStatus: 'KILL' }, 'fence'],
      [
        'SIGSEGV with a core',
        { serviceResult: 'core-dump', exitCode: 'dumped', exitStatus: 'SEGV' },
        'fence',
      ],
      [
        'exit 1 (a crash in JS, a failed stop)',
        { serviceResult: 'exit-code', exitCode: 'exited', exitStatus: '1' },
        'fence',
      ],
      ['the OOM killer', { serviceResult: 'oom-kill', exitCode: 'killed', exitStatus: 'KILL' }, 'fence'],
      ['watchdog', { serviceResult: 'watchdog', exitCode: 'dumped', exitStatus: 'ABRT' }, 'fence'],
      [
        'stop timed out (SIGKILL after TimeoutStopSec)',
        { serviceResult: 'timeout', exitCode: 'killed', exitStatus: 'KILL' },
        'fence',
      ],
      ['protocol (exited before READY=1)', { serviceResult: 'protocol' }, 'fence'],
      ['a result systemd adds later', { serviceResult: 'something-new' }, 'fence'],
      ['run by hand (no SERVICE_RESULT)', {}, 'nothing'],
      ['empty SERVICE_RESULT', { serviceResult: '' }, 'nothing'],
    ];
    for (const [what, outcome, action] of table) {
      it(`${what} -> ${action}`, () => {
        const d = fenceDecision(outcome);
        expect(d.action).to.equal(action);
        expect(d.reason).to.be.a('string').and.not.equal('');
        if (outcome.serviceResult && action === 'fence') expect(d.reason).to.contain(outcome.serviceResult);
      });
    }

    it('reads the outcome from the environment systemd gives ExecStopPost=', () => {
      const o = stopOutcomeFromEnv({
        SERVICE_RESULT: 'signal',
        EXIT_CODE: 'killed',
        EXIT_STATUS: 'KILL',
        X: 'y',
      });
      expect(o).to.deep.equal({ serviceResult: 'signal', exitCode: 'killed', exitStatus: 'KILL' });
      expect(fenceDecision(o).reason).to.contain('killed/KILL');
    });
  });

  describe('the lease file (agent/lease-file.ts)', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'fleet-fence-test-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('sits next to units_directory', () => {
      expect(leaseFilePath('/run/fleet/units')).to.equal('/run/fleet/units.lease');
      expect(leaseFilePath('/run/fleet/units/')).to.equal('/run/fleet/units.lease');
      expect(leaseFilePath('/var/lib/fleet/u')).to.equal('/var/lib/fleet/u.lease');
    });

    it('round-trips, overwrites atomically (no temporary file left) and is removed', async () => {
      const path = join(dir, 'sub', 'units.lease');
      expect(await readLeaseFile(path)).to.deep.equal({ kind: 'missing' });
      const rec = {
        machineId: 'abc123',
        leaseId: '7587880000000000123',
        writtenAt: '2026-11-25T18:00:00.000Z',
      };
      await writeLeaseFile(path, rec);
      expect(await readLeaseFile(path)).to.deep.equal({ kind: 'lease', record: rec });
      await writeLeaseFile(path, { ...rec, leaseId: '42' });
      expect(await readLeaseFile(path)).to.deep.equal({ kind: 'lease', record: { ...rec, leaseId: '42' } });
      expect(readdirSync(join(dir, 'sub'))).to.deep.equal(['units.lease']);
      expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({ ...rec, leaseId: '42' });
      await removeLeaseFile(path);
      await removeLeaseFile(path); // already gone: fine
      expect(await readLeaseFile(path)).to.deep.equal({ kind: 'missing' });
    });

    it('a write that cannot happen is a typed error naming the path', async () => {
      writeFileSync(join(dir, 'file'), 'x');
      const path = join(dir, 'file', 'units.lease'); // a parent that is a file
      const err = await writeLeaseFile(path, { machineId: 'm', leaseId: '1', writtenAt: '' }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.contain(path).and.contain('lease 1');
    });

    const bad: [string, string, RegExp][] = [
      ['not JSON', '{"leaseId": 12', /is not JSON/],
      ['an array', '[1,2]', /not a JSON object/],
      ['null', 'null', /not a JSON object/],
      ['a numeric lease ID (precision loss)', '{"machineId":"m","leaseId":7587880000000000123}', /leaseId/],
      ['lease 0', '{"machineId":"m","leaseId":"0"}', /non-zero/],
      ['a lease ID with letters', '{"machineId":"m","leaseId":"12ab"}', /leaseId/],
      ['no machine ID', '{"leaseId":"12"}', /machineId/],
      ['empty', '', /is not JSON/],
    ];
    for (const [what, text, problem] of bad) {
      it(`a bad file (${what}) is reported naming the path, never thrown`, async () => {
        const path = join(dir, 'units.lease');
        writeFileSync(path, text);
        const r = await readLeaseFile(path);
        expect(r.kind).to.equal('invalid');
        if (r.kind === 'invalid') {
          expect(r.problem).to.match(problem);
          expect(r.problem).to.contain(path);
        }
      });
    }

    it('an unreadable path (a directory) is reported, never thrown', async () => {
      const path = join(dir, 'units.lease');
      mkdirSync(path);
      const r = await readLeaseFile(path);
      expect(r.kind).to.equal('invalid');
      expect(parseLeaseFile('{"machineId":"m","leaseId":"-5"}', 'p')).to.deep.equal({
        kind: 'lease',
        record: { machineId: 'm', leaseId: '-5', writtenAt: '' },
      });
    });
  });

  describe('fence without a reachable systemd', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'fleet-fence-test-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('does not throw, and does not revoke a lease it could not confirm its units stopped for', async () => {
      const units = join(dir, 'units');
      mkdirSync(units);
      writeFileSync(join(units, 'a.service'), '[Service]\nExecStart=/bin/true\n');
      await writeLeaseFile(leaseFilePath(units), { machineId: 'm', leaseId: '99', writtenAt: '' });
      const lines: string[] = [];
      const { config } = loadConfig({
        defaultPath: join(dir, 'none.conf'),
        env: { FLEET_UNITS_DIRECTORY: units, FLEET_ETCD_SERVERS: 'http://127.0.0.1:1' },
      });
      const r = await fence({
        outcome: { serviceResult: 'signal', exitCode: 'killed', exitStatus: 'KILL' },
        config,
        log: createLogger({ write: (l) => lines.push(l) }),
        busAddress: `unix:path=${join(dir, 'no-bus')}`,
      });
      expect(r.action).to.equal('fence');
      expect(r.lease).to.match(/^not revoked/);
      expect(r.engine).to.match(/^not resigned: /);
      expect(lines.join('\n')).to.contain('NOT revoked').and.contain('no-bus');
      expect(lines.join('\n')).to.contain('cannot end the engine candidacy').and.contain('127.0.0.1:1');
      // the lease file stays for a later look; it names a lease that simply expires
      expect((await readLeaseFile(leaseFilePath(units))).kind).to.equal('lease');
    });

    it('after a clean stop it touches nothing', async () => {
      const lines: string[] = [];
      const r = await fence({
        outcome: { serviceResult: 'success', exitCode: 'exited', exitStatus: '0' },
        config: undefined,
        log: createLogger({ write: (l) => lines.push(l) }),
        busAddress: `unix:path=${join(dir, 'no-bus')}`,
      });
      expect(r).to.deep.equal({
        action: 'nothing',
        stopped: [],
        stillActive: [],
        lease: 'left alone',
        engine: 'left alone',
      });
      expect(lines.join('\n')).to.contain('stopped cleanly');
    });
  });

  describe('fence ends the dead fleetd\u2019s engine candidacy (real etcd)', () => {
    const etcd = useEtcd();
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'fleet-fence-test-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const elected = (c: Campaign) =>
      new Promise<void>((resolve, reject) => c.on('elected', resolve).on('error', reject));

    it('revokes the lease of its election key: the next candidate leads at once, not after the TTL', async function () {
      this.timeout(20000);
      const reg = new Registry(etcd.client, { prefix: etcd.prefix });
      // The dead fleetd's engine led (its client is gone with it: here, another client).
      const dead = new Registry(etcd.newClient(), { prefix: etcd.prefix })
        .engineElection(60)
        .campaign('m-dead');
      dead.on('error', () => undefined);
      await elected(dead);
      const deadKey = await dead.getCampaignKey();
      const next = reg.engineElection(60).campaign('m-next');
      let nextLeads = false;
      void elected(next).then(() => (nextLeads = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(nextLeads, 'm-next waits while m-dead leads').to.equal(false);

      writeFileSync(join(dir, 'machine-id'), 'm-dead\n');
      const units = join(dir, 'units');
      mkdirSync(units);
      const lines: string[] = [];
      const { config } = loadConfig({
        defaultPath: join(dir, 'none.conf'),
        env: {
          FLEET_UNITS_DIRECTORY: units,
          FLEET_ETCD_SERVERS: etcd.endpoint,
          FLEET_ETCD_KEY_PREFIX: etcd.prefix,
          FLEET_MACHINE_ID_FILE: join(dir, 'machine-id'),
        },
      });
      const t0 = Date.now();
      const r = await fence({
        outcome: { serviceResult: 'signal', exitCode: 'killed', exitStatus: 'KILL' },
        config,
        log: createLogger({ write: (l) => lines.push(l) }),
        busAddress: `unix:path=${join(dir, 'no-bus')}`,
      });
      expect(r.engine, lines.join('\n')).to.equal('resigned');
      expect(lines.join('\n')).to.contain('engine candidacy of m-dead ended').and.contain(deadKey);
      // Without systemd its units are not confirmed stopped: the machine's own lease stays.
      expect(r.lease).to.match(/^not revoked/);
      expect((await etcd.client.get(deadKey).exec()).kvs).to.have.length(0);
      while (!nextLeads && Date.now() - t0 < 10000) await new Promise((res) => setTimeout(res, 20));
      expect(nextLeads, 'm-next leads well before the 60 s TTL').to.equal(true);
      expect((await reg.engineCandidacies('m-next')).map((c) => c.key)).to.deep.equal([
        await next.getCampaignKey(),
      ]);
      await next.resign();
    });

    it('a machine that is no candidate (or disable_engine) resigns nothing', async () => {
      const other = new Registry(etcd.client, { prefix: etcd.prefix }).engineElection(60).campaign('m-other');
      await elected(other);
      writeFileSync(join(dir, 'machine-id'), 'm-none\n');
      for (const disable of ['false', 'true']) {
        const { config } = loadConfig({
          defaultPath: join(dir, 'none.conf'),
          env: {
            FLEET_UNITS_DIRECTORY: join(dir, 'units'),
            FLEET_ETCD_SERVERS: etcd.endpoint,
            FLEET_ETCD_KEY_PREFIX: etcd.prefix,
            FLEET_MACHINE_ID_FILE: join(dir, 'machine-id'),
            FLEET_DISABLE_ENGINE: disable,
          },
        });
        const r = await fence({
          outcome: { serviceResult: 'signal', exitCode: 'killed', exitStatus: 'KILL' },
          config,
          log: createLogger({ write: () => undefined }),
          busAddress: `unix:path=${join(dir, 'no-bus')}`,
        });
        expect(r.engine).to.equal(disable === 'true' ? 'none: disable_engine' : 'none');
      }
      expect((await etcd.client.get(await other.getCampaignKey()).exec()).kvs).to.have.length(1);
      await other.resign();
    });
  });
});
