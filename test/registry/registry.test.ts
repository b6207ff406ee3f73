import { expect } from 'chai';
import {
  InvalidInputError,
  NotLeaderError,
  Registry,
  registryOptionsFrom,
  SchemaVersionError,
  StaleFenceError,
  UnitExistsError,
  UnitNotFoundError,
  type AssignmentRecord,
} from '../../lib/registry/index.js';
import { unitHash } from '../../units/canonical.js';
import { parseUnitFile } from '../../units/parse.js';
import type { ParsedUnit } from '../../units/types.js';
import { ManualClock } from '../../lib/clock.js';
import { FleetError } from '../../lib/errors.js';
import { useEtcd } from '../fixtures/etcd.js';
import { BODY, body, caught, registry } from './helpers.js';

describe('lib/registry against a real etcd', function () {
  this.timeout(20000);
  const etcd = useEtcd();

  describe('schema version', () => {
    it('writes version 1 on an empty prefix and accepts it afterwards', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      expect(await reg.checkSchema()).to.equal(1);
      expect(await etcd.client.get(`${etcd.prefix}schema`).string()).to.equal('{"version":1}');
      expect(await reg.checkSchema()).to.equal(1);
    });

    it('refuses a newer version with a typed error saying to upgrade', async () => {
      await etcd.client.put(`${etcd.prefix}schema`).value('{"version":2}');
      const { reg } = registry(etcd.client, etcd.prefix);
      const err = await caught(reg.checkSchema());
      expect(err).to.be.instanceOf(SchemaVersionError);
      expect((err as Error).message)
        .to.contain(`${etcd.prefix}schema`)
        .and.contain('upgrade fleet-ts');
    });

    it('refuses garbage in the schema key, naming the key', async () => {
      await etcd.client.put(`${etcd.prefix}schema`).value('hello');
      const { reg } = registry(etcd.client, etcd.prefix);
      const err = await caught(reg.checkSchema());
      expect(err).to.be.instanceOf(SchemaVersionError);
      expect((err as Error).message)
        .to.contain(`${etcd.prefix}schema`)
        .and.contain('not JSON');
    });
  });

  it('takes its prefix and error context from the fleet configuration', async () => {
    const opts = registryOptionsFrom({
      etcdKeyPrefix: etcd.prefix,
      etcdServers: [etcd.endpoint],
      etcdRequestTimeoutMs: 1000,
      etcdUsername: undefined,
    });
    const reg = new Registry(etcd.client, opts);
    await reg.submitUnit({ name: 'cfg.service', body: BODY });
    expect(await etcd.client.get(`${etcd.prefix}units/cfg.service`).exists()).to.equal(true);
    expect(() => new Registry(etcd.client, { prefix: 'fleet' })).to.throw(
      InvalidInputError,
      'etcd_key_prefix',
    );
  });

  it('turns etcd being down into a typed retryable error naming the operation', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    await etcd.kill9AndRestart(async () => {
      for (const p of [
        reg.listUnits(),
        reg.submitUnit({ name: 'down.service', body: BODY }),
        reg.watchUnits().start(),
      ]) {
        const err = await caught(p);
        expect(err).to.be.instanceOf(FleetError);
        expect((err as FleetError).code).to.equal('ETCD_UNAVAILABLE');
        expect((err as FleetError).retryable).to.equal(true);
        expect((err as Error).message).to.match(/list units|submit unit down.service/);
      }
    });
  });

  describe('units', () => {
    it('submits create-only, and a second submit is a conflict naming the unit', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const s = await reg.submitUnit({ name: 'hello.service', body: BODY, source: 'fleetctl' });
      expect(s.record.desiredState).to.equal('inactive');
      expect(s.record.hash).to.match(/^[0-9a-f]{16,}$/);
      const got = await reg.getUnit('hello.service');
      expect(got?.record).to.deep.equal(s.record);
      expect(got?.modRevision).to.equal(s.modRevision);
      const err = await caught(reg.submitUnit({ name: 'hello.service', body: body(2) }));
      expect(err).to.be.instanceOf(UnitExistsError);
      expect((err as Error).message).to.contain('hello.service');
      expect((await reg.getUnit('hello.service'))?.record.body).to.equal(BODY);
    });

    it("hashes with units/canonical: comments and spacing do not change a unit's hash", async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const a = await reg.submitUnit({ name: 'h1.service', body: BODY });
      const b = await reg.submitUnit({
        name: 'h2.service',
        body: `# a comment\n${BODY.replace('=', ' = ')}`,
      });
      const parsed = parseUnitFile(BODY);
      expect(parsed.ok).to.equal(true);
      expect(a.record.hash).to.equal(unitHash((parsed as { unit: ParsedUnit }).unit));
      expect(b.record.hash).to.equal(a.record.hash);
    });

    it('refuses bad input before writing anything', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      expect(await caught(reg.submitUnit({ name: 'a/b.service', body: BODY }))).to.be.instanceOf(
        InvalidInputError,
      );
      expect(await caught(reg.submitUnit({ name: 'x.service', body: 'no sections here' }))).to.be.instanceOf(
        InvalidInputError,
      );
      expect((await reg.listUnits()).items).to.have.length(0);
    });

    it('replaces the file, keeping desired state and creation time', async () => {
      const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
      const { reg } = registry(etcd.client, etcd.prefix, { clock });
      const a = await reg.submitUnit({ name: 'r.service', body: body(1), desiredState: 'launched' });
      await clock.advance(60_000);
      const b = await reg.replaceUnit({ name: 'r.service', body: body(2) });
      expect(a.record.createdAt).to.equal('2026-01-01T00:00:00.000Z');
      expect(b.record.updatedAt).to.equal('2026-01-01T00:01:00.000Z');
      expect(b.record.body).to.equal(body(2));
      expect(b.record.hash).to.not.equal(a.record.hash);
      expect(b.record.desiredState).to.equal('launched');
      expect(b.record.createdAt).to.equal(a.record.createdAt);
      expect(b.createRevision).to.equal(a.createRevision);
      expect(await caught(reg.replaceUnit({ name: 'nope.service', body: BODY }))).to.be.instanceOf(
        UnitNotFoundError,
      );
    });

    it('sets the desired state, and refuses unknown states and units', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      await reg.submitUnit({ name: 's.service', body: BODY });
      await reg.setDesiredState('s.service', 'launched');
      expect((await reg.getUnit('s.service'))?.record.desiredState).to.equal('launched');
      await reg.setDesiredState('s.service', 'inactive');
      expect((await reg.getUnit('s.service'))?.record.desiredState).to.equal('inactive');
      expect(await caught(reg.setDesiredState('s.service', 'running' as never))).to.be.instanceOf(
        InvalidInputError,
      );
      const err = await caught(reg.setDesiredState('gone.service', 'launched'));
      expect(err).to.be.instanceOf(UnitNotFoundError);
      expect((err as Error).message).to.contain('gone.service');
    });

    it('keeps concurrent desired-state changes from losing each other (compare-and-swap)', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const { reg: other } = registry(etcd.newClient(), etcd.prefix);
      await reg.submitUnit({ name: 'c.service', body: BODY, source: 'a' });
      // Both read-modify-write the same key; one loses its first CAS and retries on the fresh value.
      await Promise.all([
        reg.setDesiredState('c.service', 'launched'),
        other.replaceUnit({ name: 'c.service', body: body(9) }),
      ]);
      const u = (await reg.getUnit('c.service'))!.record;
      expect(u.desiredState).to.equal('launched');
      expect(u.body).to.equal(body(9));
    });

    it('destroys a unit and its assignments in one transaction', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const u = await reg.submitUnit({ name: 'd.service', body: BODY, desiredState: 'launched' });
      await reg.submitUnit({ name: 'keep.service', body: BODY });
      const lease = await etcd.client.lease(30, { autoKeepAlive: false }).grant();
      for (const id of ['m1', 'm2', 'm3']) {
        await reg.putMachine({ id, publicIp: '', metadata: {}, version: 't', draining: false }, lease);
      }
      const fence = await electedFence(reg);
      const put = (m: string, unit: string): AssignmentRecord => ({
        unit,
        machineId: m,
        body: BODY,
        hash: u.record.hash,
        desiredState: 'launched',
      });
      await reg.applySchedule(fence, [
        { type: 'put', record: put('m1', 'd.service') },
        { type: 'put', record: put('m2', 'd.service') },
        { type: 'put', record: put('m1', 'keep.service') },
      ]);
      const before = await reg.listSchedule();
      const r = await reg.destroyUnit('d.service');
      expect(r.assignmentsRemoved).to.equal(2);
      expect(await reg.getUnit('d.service')).to.equal(undefined);
      expect((await reg.listSchedule()).items.map((i) => i.id)).to.deep.equal(['m1/keep.service']);
      // One revision step: unit and assignments went together.
      expect(BigInt(r.revision)).to.equal(BigInt(before.revision) + 1n);
      expect(await caught(reg.destroyUnit('d.service'))).to.be.instanceOf(UnitNotFoundError);
    });

    it('destroys many units at once, sharing listings of the schedule; assignments on machines without a record go too', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const fence = await electedFence(reg);
      const made = await reg.submitUnits(
        Array.from({ length: 40 }, (_, i) => ({
          name: `x${i}.service`,
          body: BODY,
          desiredState: 'launched' as const,
        })),
      );
      expect(made.created).to.have.length(40);
      const units = (await reg.listUnits()).items;
      await reg.applySchedule(
        fence,
        units.flatMap((u) =>
          ['m1', 'gone'].map((m) => ({
            type: 'put' as const,
            record: {
              unit: u.id,
              machineId: m,
              body: BODY,
              hash: u.record.hash,
              desiredState: 'launched' as const,
            },
          })),
        ),
      );
      const kv = etcd.client.kv;
      const range = kv.range.bind(kv);
      let listings = 0;
      kv.range = (req) => {
        if (req.key?.toString() === reg.keys.schedulePrefix()) listings++;
        return range(req);
      };
      let results;
      try {
        results = await Promise.all(units.map((u) => reg.destroyUnit(u.id)));
      } finally {
        kv.range = range;
      }
      expect(results.map((r) => r.assignmentsRemoved)).to.deep.equal(units.map(() => 2));
      expect((await reg.listSchedule()).items).to.deep.equal([]);
      expect((await reg.listUnits()).items).to.deep.equal([]);
      // Two lookups per destroy (before and after its delete) would be 80 listings.
      expect(listings).to.be.below(80);
    });

    it('lists units sorted by key with their revisions', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      for (const n of ['b', 'a', 'c']) await reg.submitUnit({ name: `${n}.service`, body: body(n) });
      const l = await reg.listUnits();
      expect(l.items.map((i) => i.id)).to.deep.equal(['a.service', 'b.service', 'c.service']);
      expect(BigInt(l.revision) >= BigInt(l.items[2]!.modRevision)).to.equal(true);
    });
  });

  describe('schedule fencing', () => {
    it('refuses a write with a stale fence (the leader lost its lease), writing nothing', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const u = await reg.submitUnit({ name: 'f.service', body: BODY, desiredState: 'launched' });
      const election = reg.engineElection(5);
      const campaign = election.campaign('engine-a');
      await new Promise<void>((resolve, reject) => campaign.on('elected', resolve).on('error', reject));
      const fence = await reg.fenceFor(await campaign.getCampaignKey());
      const rec: AssignmentRecord = {
        unit: 'f.service',
        machineId: 'm1',
        body: BODY,
        hash: u.record.hash,
        desiredState: 'launched',
      };
      await reg.applySchedule(fence, [{ type: 'put', record: rec }]);
      expect((await reg.listSchedule('m1')).items).to.have.length(1);

      // Deposed: the lease is gone (revoked here; expiry looks the same to etcd).
      await campaign.resign();
      const err = await caught(
        reg.applySchedule(fence, [
          { type: 'put', record: { ...rec, machineId: 'm2' } },
          { type: 'delete', machineId: 'm1', unit: 'f.service' },
        ]),
      );
      expect(err).to.be.instanceOf(StaleFenceError);
      expect((err as StaleFenceError).code).to.equal('STALE_FENCE');
      expect((err as Error).message)
        .to.contain(fence.key)
        .and.contain('campaign again');
      expect((await reg.listSchedule()).items.map((i) => i.id)).to.deep.equal(['m1/f.service']);

      // A new leader gets a new fence; the old one stays refused.
      const next = reg.engineElection(5).campaign('engine-b');
      await new Promise<void>((resolve, reject) => next.on('elected', resolve).on('error', reject));
      const fence2 = await reg.fenceFor(await next.getCampaignKey());
      expect(fence2.key).to.not.equal(fence.key);
      await reg.applySchedule(fence2, [{ type: 'delete', machineId: 'm1', unit: 'f.service' }]);
      expect(await caught(reg.applySchedule(fence, [{ type: 'put', record: rec }]))).to.be.instanceOf(
        StaleFenceError,
      );
      expect((await reg.listSchedule()).items).to.have.length(0);
      await next.resign();
    });

    it('gives no fence to a candidate that is not the leader', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const a = reg.engineElection(5).campaign('a');
      await new Promise<void>((resolve, reject) => a.on('elected', resolve).on('error', reject));
      const b = reg.engineElection(5).campaign('b');
      const bKey = await b.getCampaignKey();
      // b is waiting: its key exists but a leads.
      await new Promise((r) => setTimeout(r, 100));
      const err = await caught(reg.fenceFor(bKey));
      expect(err).to.be.instanceOf(NotLeaderError);
      expect((err as Error).message).to.contain(await a.getCampaignKey());
      await b.resign();
      await a.resign();
    });

    it('writes an assignment whether or not its unit exists: only the fence guards schedule writes', async () => {
      // The engine removes an assignment whose unit is gone, and an agent acts on one only once
      // it has read its unit with the same hash (docs/etcd-schema.md): no compare per unit key.
      const { reg } = registry(etcd.client, etcd.prefix);
      const u = await reg.submitUnit({ name: 'g.service', body: BODY, desiredState: 'launched' });
      const fence = await electedFence(reg);
      await etcd.client.delete().key(reg.keys.unit('g.service')).exec();
      const rec: AssignmentRecord = {
        unit: 'g.service',
        machineId: 'm1',
        body: BODY,
        hash: u.record.hash,
        desiredState: 'launched',
      };
      await reg.applySchedule(fence, [{ type: 'put', record: rec }]);
      expect((await reg.listSchedule()).items.map((i) => i.id)).to.deep.equal(['m1/g.service']);
    });

    it('getUnits reads many units by name (missing and invalid ones left out), across transactions', async () => {
      const { reg } = registry(etcd.client, etcd.prefix, { maxTxnOps: 4 });
      const names = Array.from({ length: 10 }, (_, i) => `r${i}.service`);
      await reg.submitUnits(names.slice(0, 8).map((name) => ({ name, body: BODY })));
      await etcd.client.put(reg.keys.unit('r8.service')).value('{not json');
      const got = await reg.getUnits(names);
      expect([...got.keys()].sort()).to.deep.equal(names.slice(0, 8));
      expect(got.get('r3.service')!.record.hash).to.equal((await reg.getUnit('r3.service'))!.record.hash);
      expect(await caught(reg.getUnits(['bad/name.service']))).to.be.instanceOf(InvalidInputError);
    });

    it('reads one machine only', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const u = await reg.submitUnit({ name: 'h.service', body: BODY, desiredState: 'launched' });
      const fence = await electedFence(reg);
      const mk = (m: string): AssignmentRecord => ({
        unit: 'h.service',
        machineId: m,
        body: BODY,
        hash: u.record.hash,
        desiredState: 'launched',
      });
      // "m1" must not see "m10"'s assignments (the prefix ends with "/").
      await reg.applySchedule(
        fence,
        ['m1', 'm10', 'm2'].map((m) => ({
          type: 'put' as const,
          record: mk(m),
        })),
      );
      expect((await reg.listSchedule('m1')).items.map((i) => i.id)).to.deep.equal(['m1/h.service']);
      expect((await reg.listSchedule()).items).to.have.length(3);
    });
  });

  describe('machines and unit states', () => {
    it('attaches them to the agent lease: they vanish when it is revoked', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const lease = etcd.client.lease(10, { autoKeepAlive: false });
      const id = await lease.grant();
      await reg.putMachine(
        { id: 'm1', publicIp: '10.0.0.1', metadata: { region: 'eu' }, version: '0.1.0', draining: false },
        id,
      );
      await reg.putUnitStates(
        [
          {
            unit: 'a.service',
            machineId: 'm1',
            loadState: 'loaded',
            activeState: 'active',
            subState: 'running',
            hash: 'abc',
          },
        ],
        id,
      );
      const ms = await reg.listMachines();
      expect(ms.items.map((m) => m.record)).to.deep.equal([
        { id: 'm1', publicIp: '10.0.0.1', metadata: { region: 'eu' }, version: '0.1.0', draining: false },
      ]);
      expect(BigInt(ms.items[0]!.lease)).to.equal(BigInt(id));
      const st = await reg.listUnitStates('m1');
      expect(st.items.map((s) => s.record.activeState)).to.deep.equal(['active']);
      await lease.revoke();
      expect((await reg.listMachines()).items).to.have.length(0);
      expect((await reg.listUnitStates()).items).to.have.length(0);
    });

    it('removes a machine record, and skips a garbage unit on a point read', async () => {
      const { reg, invalid } = registry(etcd.client, etcd.prefix);
      const lease = etcd.client.lease(10, { autoKeepAlive: false });
      const id = await lease.grant();
      await reg.putMachine({ id: 'm9', publicIp: '', metadata: {}, version: '1', draining: true }, id);
      expect((await reg.listMachines()).items.map((m) => m.record.draining)).to.deep.equal([true]);
      await reg.removeMachine('m9');
      expect((await reg.listMachines()).items).to.have.length(0);
      await etcd.client.put(`${etcd.prefix}units/bad.service`).value('{"body":1}');
      expect(await reg.getUnit('bad.service')).to.equal(undefined);
      expect(await reg.getUnit('bad.service')).to.equal(undefined);
      expect(invalid.map((r) => r.key)).to.deep.equal([`${etcd.prefix}units/bad.service`]);
      await lease.revoke();
    });

    it('deletes unit states', async () => {
      const { reg } = registry(etcd.client, etcd.prefix);
      const lease = etcd.client.lease(10, { autoKeepAlive: false });
      const id = await lease.grant();
      const st = (u: string) => ({
        unit: u,
        machineId: 'm1',
        loadState: 'loaded',
        activeState: 'inactive',
        subState: 'dead',
        hash: 'x',
      });
      await reg.putUnitStates([st('a.service'), st('b.service')], id);
      await reg.deleteUnitStates('m1', ['a.service']);
      expect((await reg.listUnitStates()).items.map((s) => s.id)).to.deep.equal(['m1/b.service']);
      await lease.revoke();
    });
  });
});

async function electedFence(reg: import('../../lib/registry/index.js').Registry) {
  const campaign = reg.engineElection(10).campaign('engine');
  await new Promise<void>((resolve, reject) => campaign.on('elected', resolve).on('error', reject));
  return reg.fenceFor(await campaign.getCampaignKey());
}
