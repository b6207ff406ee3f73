import { expect } from 'chai';
import fc from 'fast-check';
import { Applier } from '../../engine/applier.js';
import { ClusterModel, type ModelAssignment } from '../../engine/model.js';
import { PendingSchedule } from '../../engine/pending.js';
import type { Decision } from '../../engine/planner.js';
import { UnitReader } from '../../engine/unit-info.js';
import { EtcdClientError } from '../../lib/etcd-errors.js';
import {
  StaleFenceError,
  type BatchResult,
  type Fence,
  type Registry,
  type ScheduleChange,
} from '../../lib/registry/index.js';

const BODY = '[Service]\nExecStart=/bin/true\n';
const fence: Fence = { key: '/f/election/engine/1', createRevision: '1' };

function modelWith(units: string[]): ClusterModel {
  const m = new ClusterModel();
  const reader = new UnitReader();
  for (const name of units) m.putUnit(reader.read({ name, body: BODY, hash: 'h', desiredState: 'launched' }));
  for (const id of ['m1', 'm2', 'm3']) m.putMachine({ id, metadata: {}, draining: false });
  return m;
}

const assignment = (unit: string, machineId: string): ModelAssignment => ({
  unit,
  machineId,
  hash: 'h',
  desiredState: 'launched',
});

/**
 * A registry whose schedule writes the test completes by hand (a fake of the applier's one
 * dependency; the applier's writes against a real etcd are covered by engine.test.ts).
 */
class ManualRegistry {
  readonly maxTxnOps = 4; // 3 changes per transaction
  readonly calls: { changes: ScheduleChange[]; done: boolean; finish: (e?: Error) => void }[] = [];
  private rev = 10;

  applySchedule(_f: Fence, changes: readonly ScheduleChange[]): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      const call = {
        changes: [...changes],
        done: false,
        finish: (e?: Error) => {
          call.done = true;
          if (e) reject(e);
          else resolve({ revision: String(++this.rev), transactions: 1 });
        },
      };
      this.calls.push(call);
    });
  }

  inFlight() {
    return this.calls.filter((c) => !c.done);
  }
}

const settle = () => new Promise((r) => setImmediate(r));
const place = (unit: string, machineId: string): Decision => ({
  type: 'place',
  unit,
  machineId,
  reason: 't',
});
const unplace = (unit: string, machineId: string): Decision => ({
  type: 'unplace',
  unit,
  machineId,
  reason: 't',
});

describe('engine/applier: order of writes across plans', () => {
  it('keeps placements of several plans in flight, but a removal waits for every earlier write, and placements after it wait for it', async () => {
    const reg = new ManualRegistry();
    const applier = new Applier(reg as unknown as Registry, { concurrency: 8 });
    const model = modelWith([
      'a.service',
      'b.service',
      'c.service',
      'd.service',
      'e.service',
      'f.service',
      'g.service',
    ]);
    const p1 = applier.apply(
      fence,
      ['a', 'b', 'c', 'd'].map((u) => place(`${u}.service`, 'm1')),
      model,
    );
    const p2 = applier.apply(fence, [place('e.service', 'm2')], model);
    await settle();
    expect(reg.inFlight().map((c) => c.changes.length)).to.deep.equal([3, 1, 1]); // both plans at once
    // A plan that moves a.service: its removal waits until all of the above are written.
    const p3 = applier.apply(fence, [unplace('a.service', 'm1'), place('a.service', 'm3')], model);
    await settle();
    expect(reg.calls).to.have.length(3);
    for (const c of reg.inFlight()) c.finish();
    await Promise.all([p1, p2]);
    await settle();
    expect(reg.inFlight().map((c) => c.changes.map((x) => x.type))).to.deep.equal([['delete']]);
    reg.inFlight()[0]!.finish();
    await settle();
    expect(reg.inFlight().map((c) => c.changes.map((x) => x.type))).to.deep.equal([['put']]);
    reg.inFlight()[0]!.finish();
    expect((await p3).written).to.equal(2);
    await applier.idle();
  });

  it('a second write of the same key waits for the first (they land in the order planned)', async () => {
    const reg = new ManualRegistry();
    const applier = new Applier(reg as unknown as Registry, { concurrency: 8 });
    const model = modelWith(['a.service', 'b.service']);
    void applier.apply(fence, [place('a.service', 'm1')], model);
    void applier.apply(fence, [{ type: 'update', unit: 'a.service', machineId: 'm1', reason: 't' }], model);
    void applier.apply(fence, [place('b.service', 'm1')], model);
    await settle();
    expect(reg.inFlight()).to.have.length(1);
    reg.inFlight()[0]!.finish();
    await settle();
    expect(
      reg.inFlight().map((c) => c.changes.map((x) => (x.type === 'put' ? x.record.unit : ''))),
    ).to.deep.equal([['a.service'], ['b.service']]);
    for (const c of reg.inFlight()) c.finish();
    await applier.idle();
  });

  it('a write that fails retryably (etcd slow or gone) is sent again with the same changes and keeps its place', async () => {
    const reg = new ManualRegistry();
    const retried: string[] = [];
    const applier = new Applier(reg as unknown as Registry, {
      concurrency: 8,
      backoff: () => Promise.resolve(),
      onRetry: (e) => retried.push(e.code),
    });
    const model = modelWith(['a.service', 'b.service']);
    const p1 = applier.apply(fence, [place('a.service', 'm1')], model);
    const p2 = applier.apply(fence, [unplace('b.service', 'm2')], model);
    await settle();
    expect(reg.calls).to.have.length(1);
    reg.calls[0]!.finish(new EtcdClientError('ETCD_DEADLINE', 'etcd did not answer', { retryable: true }));
    await settle();
    expect(retried).to.deep.equal(['ETCD_DEADLINE']);
    // Sent again, and the removal planned after it still waits for it.
    expect(reg.inFlight().map((c) => c.changes)).to.deep.equal([reg.calls[0]!.changes]);
    reg.inFlight()[0]!.finish();
    expect((await p1).written).to.equal(1);
    await settle();
    reg.inFlight()[0]!.finish();
    expect((await p2).written).to.equal(1);
  });

  it('after a failed write, what is queued is dropped and those plans reject; room() and idle() resolve', async () => {
    const reg = new ManualRegistry();
    const applier = new Applier(reg as unknown as Registry, { concurrency: 1 });
    const model = modelWith(['a.service', 'b.service', 'c.service', 'd.service']);
    const p1 = applier.apply(fence, [place('a.service', 'm1')], model);
    const p2 = applier.apply(
      fence,
      [place('b.service', 'm1'), place('c.service', 'm1'), place('d.service', 'm1')],
      model,
    );
    const r1 = p1.then(
      () => 'ok',
      (e: unknown) => e,
    );
    const r2 = p2.then(
      () => 'ok',
      (e: unknown) => e,
    );
    await settle();
    expect(reg.calls).to.have.length(1);
    reg.calls[0]!.finish(new StaleFenceError(fence));
    expect(await r1).to.be.instanceOf(StaleFenceError);
    expect(await r2).to.be.instanceOf(StaleFenceError);
    await applier.room();
    await applier.idle();
    expect(reg.calls).to.have.length(1);
  });
});

describe('engine/pending: writes laid over the model', () => {
  it('shows puts and removals until the stream has passed their revision; failed ones can be cleared', () => {
    const model = modelWith(['a.service', 'b.service']);
    model.putAssignment(assignment('b.service', 'm1'));
    const p = new PendingSchedule();
    const put = {
      unit: 'a.service',
      machineId: 'm2',
      id: 'm2/a.service',
      assignment: assignment('a.service', 'm2'),
    };
    const del = { unit: 'b.service', machineId: 'm1', id: 'm1/b.service', assignment: undefined };
    p.add(put);
    p.add(del);
    const v = p.view(model);
    expect([...v.assignments.get('a.service')!.keys()]).to.deep.equal(['m2']);
    expect(v.assignments.has('b.service')).to.equal(false);
    // The model itself is untouched.
    expect(model.assignments.has('a.service')).to.equal(false);
    expect(model.assignments.get('b.service')!.has('m1')).to.equal(true);
    p.committed([put], 20n);
    p.prune(19n);
    expect(p.size).to.equal(2);
    p.prune(20n);
    expect(p.size).to.equal(1); // the removal is still in flight
    p.clear();
    expect(p.view(model)).to.equal(model);
  });

  it('the view equals the model after the writes are applied to it, for any writes (property)', () => {
    const units = ['a.service', 'b.service', 'c.service'];
    const write = fc.record({
      unit: fc.constantFrom(...units),
      machineId: fc.constantFrom('m1', 'm2', 'm3'),
      put: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(write, { maxLength: 6 }), fc.array(write, { maxLength: 12 }), (before, writes) => {
        const model = modelWith(units);
        for (const w of before) if (w.put) model.putAssignment(assignment(w.unit, w.machineId));
        const p = new PendingSchedule();
        const expected = modelWith(units);
        for (const [u, per] of model.assignments)
          for (const a of per.values()) expected.putAssignment({ ...a, unit: u });
        for (const w of writes) {
          p.add({
            unit: w.unit,
            machineId: w.machineId,
            id: `${w.machineId}/${w.unit}`,
            assignment: w.put ? assignment(w.unit, w.machineId) : undefined,
          });
          if (w.put) expected.putAssignment(assignment(w.unit, w.machineId));
          else expected.deleteAssignment(w.unit, w.machineId);
        }
        const show = (m: ReadonlyMap<string, ReadonlyMap<string, ModelAssignment>>) =>
          [...m].flatMap(([u, per]) => [...per.keys()].map((k) => `${u}@${k}`)).sort();
        expect(show(p.view(model).assignments)).to.deep.equal(show(expected.assignments));
      }),
    );
  });
});
