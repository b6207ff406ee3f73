import { expect } from 'chai';
import { Applier } from '../../engine/applier.js';
import { Engine } from '../../engine/engine.js';
import { ClusterModel } from '../../engine/model.js';
import { plan } from '../../engine/planner.js';
import { UnitReader } from '../../engine/unit-info.js';
import {
  EngineCampaign,
  Registry,
  StaleFenceError,
  type Fence,
  type UnitInput,
} from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { SimMachine, eventually, scheduleOf, unitBody, watchDoubles } from './cluster.js';

const fast = { backoff: () => new Promise<void>((r) => setTimeout(r, 20)) };

describe('engine (in process) against a real etcd', function () {
  this.timeout(60000);
  const etcd = useEtcd();
  const engines: Engine[] = [];
  const machines: SimMachine[] = [];

  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.stop()));
    await Promise.all(machines.splice(0).map((m) => m.die()));
  });

  function newEngine(name: string, reg: Registry): Engine {
    const e = new Engine({
      registry: reg,
      candidate: name,
      leaseTtlSeconds: 2,
      reconcileIntervalMs: 60000,
      ...fast,
    });
    e.on('error', () => undefined);
    engines.push(e);
    return e;
  }

  async function machine(
    reg: Registry,
    id: string,
    metadata: Record<string, string> = {},
  ): Promise<SimMachine> {
    const m = await SimMachine.start(etcd.newClient(), reg, id, { metadata });
    machines.push(m);
    return m;
  }

  it('places submitted units at once, least-loaded first, and follows changes', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    await machine(reg, 'm1');
    await machine(reg, 'm2', { region: 'eu' });
    const engine = newEngine('e1', reg);
    await engine.start();
    await eventually(async () => engine.isLeader, 'elected');
    const t0 = Date.now();
    await reg.submitUnits([
      { name: 'a.service', body: unitBody('a'), desiredState: 'launched' },
      { name: 'b.service', body: unitBody('b'), desiredState: 'launched' },
      { name: 'eu.service', body: unitBody('eu', 'MachineMetadata=region=eu'), desiredState: 'launched' },
      { name: 'off.service', body: unitBody('off'), desiredState: 'inactive' },
    ]);
    await eventually(async () => (await scheduleOf(reg)).size === 3, 'three units placed');
    const placedIn = Date.now() - t0;
    const s = await scheduleOf(reg);
    expect(s.get('a.service')).to.deep.equal(['m1']);
    expect(s.get('b.service')).to.deep.equal(['m2']);
    expect(s.get('eu.service')).to.deep.equal(['m2']);
    expect(placedIn, 'reacts to the watch, not a poll').to.be.below(2000);
    // The assignment carries what the agent needs.
    const a = (await reg.listSchedule('m1')).items[0]!.record;
    expect(a).to.include({ unit: 'a.service', desiredState: 'launched' });
    expect(a.body).to.equal(unitBody('a'));

    await reg.setDesiredState('a.service', 'inactive');
    await eventually(async () => !(await scheduleOf(reg)).has('a.service'), 'inactive unit unplaced');
    await reg.setDesiredState('b.service', 'loaded');
    await eventually(
      async () =>
        (await reg.listSchedule('m2')).items.some(
          (i) => i.record.unit === 'b.service' && i.record.desiredState === 'loaded',
        ),
      'desired state rewritten',
    );
    await reg.destroyUnit('eu.service');
    await eventually(async () => !(await scheduleOf(reg)).has('eu.service'), 'destroyed unit gone');
  });

  it('a destroy racing placement (fleetctl-style and a raw etcd delete of the unit key) leaves no assignment behind', async () => {
    // Schedule writes carry no guard on the unit key: an assignment written just after its unit
    // was destroyed (an orphan) must be removed by the engine once it sees the unit gone.
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    for (const id of ['m1', 'm2', 'm3']) await machine(reg, id);
    const engine = newEngine('e1', reg);
    await engine.start();
    await eventually(async () => engine.isLeader, 'elected');
    const destroyed = new Set<string>();
    // When each unit key was deleted, and each assignment written (to count the orphans: written
    // after their unit was gone).
    const deletedAt = new Map<string, bigint>();
    const putAt: [string, bigint][] = [];
    const units = reg.watchUnits({ resyncIntervalMs: 0 });
    units.on('delete', (e) => deletedAt.set(e.prev.record.name, BigInt(e.revision)));
    const stream = reg.watchSchedule(undefined, { resyncIntervalMs: 0 });
    stream.on('put', (e) => putAt.push([e.item.record.unit, BigInt(e.item.modRevision)]));
    await Promise.all([units.start(), stream.start()]);
    const raw = etcd.newClient();
    const kept: string[] = [];
    try {
      for (let round = 0; round < 8; round++) {
        const names = Array.from({ length: 100 }, (_, i) => `r${round}-${i}.service`);
        const submitted = reg.submitUnits(
          names.map((name) => ({ name, body: unitBody(name), desiredState: 'launched' as const })),
        );
        await submitted;
        // Destroy half of them while the engine is placing them: every other one through the
        // registry (unit and assignments in one transaction), the rest with a bare delete.
        await new Promise((r) => setTimeout(r, round % 4));
        await Promise.all(
          names.map(async (name, i) => {
            if (i % 2 === 0) {
              kept.push(name);
              return;
            }
            destroyed.add(name);
            if (i % 4 === 1) await reg.destroyUnit(name);
            else await raw.delete().key(reg.keys.unit(name)).exec();
          }),
        );
      }
      await eventually(
        async () => {
          const s = await scheduleOf(reg);
          return s.size === kept.length && kept.every((n) => s.get(n)?.length === 1);
        },
        'the kept units placed once each, and nothing else',
        20000,
      );
      const s = await scheduleOf(reg);
      expect([...s.keys()].filter((n) => destroyed.has(n))).to.deep.equal([]);
      const orphans = putAt.filter(([u, rev]) => rev > (deletedAt.get(u) ?? rev)).length;
      console.log(
        `      (${destroyed.size} units destroyed while being placed; ${orphans} assignments written after their unit was gone, all removed)`,
      );
    } finally {
      await Promise.all([stream.stop(), units.stop()]);
    }
  });

  it('etcd killed while the leader writes: it catches up from etcd and places every unit once, never on two machines', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    for (const id of ['m1', 'm2', 'm3']) await machine(reg, id);
    const engine = newEngine('e1', reg);
    const errors: string[] = [];
    engine.on('error', (e) => errors.push(e.code));
    await engine.start();
    await eventually(async () => engine.isLeader, 'elected');
    const doubles = await watchDoubles(reg);
    try {
      const names = Array.from({ length: 5000 }, (_, i) => `k${i}.service`);
      await reg.submitUnits(names.map((name) => ({ name, body: unitBody(name), desiredState: 'launched' })));
      await eventually(async () => (await scheduleOf(reg)).size > 0, 'the leader started writing', 10000);
      await etcd.kill9AndRestart();
      await eventually(
        async () => {
          const s = await scheduleOf(reg).catch(() => new Map<string, string[]>());
          return s.size === names.length && names.every((n) => s.get(n)?.length === 1);
        },
        'every unit placed once',
        30000,
      );
      expect(doubles.doubles).to.deep.equal([]);
      console.log(`      (errors the engine reported and retried: ${errors.join(', ') || 'none'})`);
    } finally {
      await doubles.stop();
    }
  });

  it('re-places the units of a machine whose lease is revoked, and of a draining machine', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    const m1 = await machine(reg, 'm1');
    await machine(reg, 'm2');
    const engine = newEngine('e1', reg);
    await engine.start();
    const units: UnitInput[] = Array.from({ length: 20 }, (_, i) => ({
      name: `u${i}.service`,
      body: unitBody(i),
      desiredState: 'launched',
    }));
    await reg.submitUnits(units);
    await eventually(async () => (await scheduleOf(reg)).size === 20, 'all placed');
    expect([...(await scheduleOf(reg)).values()].filter((m) => m[0] === 'm1')).to.have.length(10);
    const doubles = await watchDoubles(reg);
    try {
      const t0 = Date.now();
      await m1.die();
      await eventually(
        async () => [...(await scheduleOf(reg)).values()].every((m) => m.length === 1 && m[0] === 'm2'),
        'all on m2',
      );
      expect(Date.now() - t0).to.be.below(3000);
      // m3 joins: no rebalancing; then m2 drains: everything moves to m3.
      await machine(reg, 'm3');
      await new Promise((r) => setTimeout(r, 300));
      expect([...(await scheduleOf(reg)).values()].every((m) => m[0] === 'm2')).to.equal(true);
      const lease = etcd.newClient().lease(10);
      await reg.putMachine(
        { id: 'm2', publicIp: '', metadata: {}, version: 't', draining: true },
        await lease.grant(),
      );
      await eventually(
        async () => [...(await scheduleOf(reg)).values()].every((m) => m.length === 1 && m[0] === 'm3'),
        'drained to m3',
      );
      await lease.revoke();
      expect(doubles.doubles).to.deep.equal([]);
    } finally {
      await doubles.stop();
    }
  });

  it('a second engine takes over when the leader stops, and keeps placing', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    const regB = new Registry(etcd.newClient(), { prefix: etcd.prefix });
    await machine(reg, 'm1');
    const a = newEngine('a', reg);
    const b = newEngine('b', regB);
    await a.start();
    await eventually(async () => a.isLeader, 'a elected');
    await b.start();
    await new Promise((r) => setTimeout(r, 200));
    expect(b.isLeader).to.equal(false);
    await a.stop();
    await eventually(async () => b.isLeader, 'b elected', 3000);
    await reg.submitUnit({ name: 'x.service', body: unitBody('x'), desiredState: 'launched' });
    await eventually(async () => (await scheduleOf(reg)).get('x.service')?.[0] === 'm1', 'placed by b');
  });

  it('reports the reasons of a unit it cannot place', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    await machine(reg, 'm1', { region: 'us' });
    const engine = newEngine('e1', reg);
    await engine.start();
    await reg.submitUnit({
      name: 'eu.service',
      body: unitBody('eu', 'MachineMetadata=region=eu-west'),
      desiredState: 'launched',
    });
    await eventually(
      async () => engine.lastPlanned?.unplaced.some((u) => u.unit === 'eu.service') ?? false,
      'unplaced reported',
    );
    expect(engine.lastPlanned!.unplaced.find((u) => u.unit === 'eu.service')!.reasons).to.deep.equal([
      'no machine has region=eu-west',
    ]);
    // Recorded where fleetctl reads them, and removed once the unit is placed.
    await eventually(async () => (await reg.getReasons('eu.service')) !== undefined, 'reasons recorded');
    expect((await reg.getReasons('eu.service'))!.record.reasons).to.deep.equal([
      'no machine has region=eu-west',
    ]);
    await machine(reg, 'm2', { region: 'eu-west' });
    await eventually(async () => (await scheduleOf(reg)).get('eu.service')?.[0] === 'm2', 'placed on m2');
    await eventually(async () => (await reg.getReasons('eu.service')) === undefined, 'reasons removed');
  });

  it('the applier writes nothing with a fence that is no longer current (the paused-leader case)', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    await machine(reg, 'm1');
    // A warm model, as the paused leader has it, and its plan.
    const model = new ClusterModel();
    await reg.submitUnits([{ name: 'x.service', body: unitBody('x'), desiredState: 'launched' }]);
    const campaign = new EngineCampaign(reg, { candidate: 'paused', ttlSeconds: 2, ...fast });
    const fence = await new Promise<Fence>((resolve) => {
      campaign.once('elected', resolve);
      campaign.start();
    });
    const reader = new UnitReader();
    for (const u of (await reg.listUnits()).items) {
      model.putUnit(reader.read(u.record));
    }
    for (const m of (await reg.listMachines()).items) model.putMachine(m.record);
    const decisions = plan(model, 0).decisions;
    expect(decisions).to.have.length(1);
    // Its lease ends while it is "paused" (here: the campaign is simply not told).
    const leaseId = fence.key.slice(fence.key.lastIndexOf('/') + 1);
    await etcd.newClient().leaseClient.leaseRevoke({ ID: leaseId });
    const err = await new Applier(reg).apply(fence, decisions, model).then(
      () => undefined,
      (e: unknown) => e,
    );
    await campaign.stop();
    expect(err).to.be.instanceOf(StaleFenceError);
    expect((await scheduleOf(reg)).size).to.equal(0);
  });

  it('a leader whose election key is deleted is deposed at once and campaigns again', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    const engine = newEngine('e1', reg);
    const deposed: string[] = [];
    engine.on('deposed', (e) => deposed.push(e.code));
    await engine.start();
    await eventually(async () => engine.isLeader, 'elected');
    const first = engine.fence!;
    await etcd.newClient().delete().key(first.key);
    await eventually(async () => deposed.length === 1, 'deposed', 3000);
    await eventually(async () => engine.isLeader && engine.fence!.key !== first.key, 're-elected', 5000);
  });

  it('plans a burst bigger than a pass over several passes, oldest first, every rule kept', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    await machine(reg, 'm1', { disk: 'ssd' });
    await machine(reg, 'm2');
    await machine(reg, 'm3');
    const e = new Engine({
      registry: reg,
      candidate: 'e1',
      leaseTtlSeconds: 2,
      reconcileIntervalMs: 60000,
      maxChangedPerPass: 2,
      ...fast,
    });
    e.on('error', () => undefined);
    engines.push(e);
    const passes: number[] = [];
    e.on('planned', (p) => passes.push(p.decisions));
    await e.start();
    await eventually(async () => e.isLeader, 'elected');
    const before = passes.length;
    // One submission (one watch response): followers before their targets, conflicts across
    // the whole burst, a global unit at the end; 16 units, 2 per pass.
    const launched = (name: string, xfleet = ''): UnitInput => ({
      name,
      body: unitBody(name, xfleet),
      desiredState: 'launched',
    });
    const off = (name: string): UnitInput => ({ name, body: unitBody(name), desiredState: 'inactive' });
    await reg.submitUnits([
      // First, passes that decide nothing: the next one must follow all the same.
      off('off1.service'),
      off('off2.service'),
      off('off3.service'),
      off('off4.service'),
      launched('side.service', 'MachineOf=db.service'),
      launched('web1.service', 'Conflicts=web*'),
      launched('web2.service', 'Conflicts=web*'),
      launched('web3.service', 'Conflicts=web*'),
      launched('db.service', 'MachineMetadata=disk=ssd'),
      launched('p1.service'),
      launched('p2.service'),
      launched('p3.service'),
      launched('p4.service'),
      launched('p5.service'),
      launched('p6.service'),
      launched('all.service', 'Global=true'),
    ]);
    await eventually(async () => (await scheduleOf(reg)).size === 12, 'every unit placed');
    const s = await scheduleOf(reg);
    expect(s.get('db.service')).to.deep.equal(['m1']);
    expect(s.get('side.service')).to.deep.equal(['m1']);
    const webs = ['web1.service', 'web2.service', 'web3.service'].map((w) => s.get(w)![0]);
    expect(new Set(webs).size, 'Conflicts=web*: one per machine').to.equal(3);
    expect([...s.get('all.service')!].sort()).to.deep.equal(['m1', 'm2', 'm3']);
    // Every non-global unit once: 11 + 3 assignments, none twice.
    expect([...s.values()].flat().length).to.equal(14);
    expect(passes.slice(before).filter((d) => d > 0).length, 'several passes').to.be.at.least(4);
  });

  it('re-plans every engine_reconcile_interval as a safety net, with no change at all', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    const e = new Engine({
      registry: reg,
      candidate: 'e1',
      leaseTtlSeconds: 2,
      reconcileIntervalMs: 200,
      ...fast,
    });
    engines.push(e);
    let passes = 0;
    e.on('planned', () => passes++);
    await e.start();
    await eventually(async () => e.isLeader, 'elected');
    const before = passes;
    await new Promise((r) => setTimeout(r, 1000));
    expect(passes - before).to.be.within(3, 7);
  });
});
