/**
 * The schedule writes the engine has sent (or is about to send) that its model may not show yet.
 * The engine plans on the model with these writes laid over it, so it can plan the next pass while
 * the last one is still being written, without deciding the same units twice.
 *
 * An entry leaves when the model shows it, or something newer: a put once its transaction
 * committed (the engine hands it to the model itself, see settle()), a removal once the schedule
 * stream has reached the revision it committed at; or when its transaction failed (dropped: the
 * caller first waits until the model has caught up with etcd, see Engine).
 */
import type { AssignmentRecord } from '../lib/registry/index.js';
import { OneAssignment, type ClusterModel, type ClusterView, type ModelAssignment } from './model.js';

/** One schedule write: an assignment put, or (assignment undefined) a removal. */
export interface PendingWrite {
  readonly unit: string;
  readonly machineId: string;
  /** The schedule ID of its key, `<machine>/<unit>`. */
  readonly id: string;
  /** What a put assigns (its record: the model keeps the record itself as the assignment). */
  readonly assignment: ModelAssignment | undefined;
  /** The record a put writes. */
  readonly record?: AssignmentRecord;
  /** The revision its transaction committed at (undefined while in flight). */
  revision?: bigint;
  /** This put alone as a unit's assignments (the usual case), made once by the overlay. */
  alone?: ReadonlyMap<string, ModelAssignment>;
}

export class PendingSchedule {
  /** unit -> the latest write of each of its keys (one machine each; usually a single write). */
  private readonly byUnit = new Map<string, PendingWrite[]>();
  /** The committed writes by revision, so pruning looks only at what it removes. */
  private readonly byRevision = new Map<bigint, readonly PendingWrite[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: PendingWrite): void {
    const ws = this.byUnit.get(w.unit);
    if (!ws) {
      this.byUnit.set(w.unit, [w]);
      this.count++;
      return;
    }
    const i = ws.findIndex((x) => x.machineId === w.machineId);
    if (i >= 0) ws[i] = w;
    else {
      ws.push(w);
      this.count++;
    }
  }

  /** Writes committed at `revision` (their transaction succeeded). */
  committed(ws: readonly PendingWrite[], revision: bigint): void {
    for (const w of ws) w.revision = revision;
    const known = this.byRevision.get(revision);
    this.byRevision.set(revision, known ? [...known, ...ws] : ws);
  }

  /** Forgets the writes the model shows now: those committed at or below `seen`. */
  prune(seen: bigint): void {
    for (const [revision, ws] of this.byRevision) {
      if (revision > seen) continue;
      this.byRevision.delete(revision);
      for (const w of ws) this.forget(w);
    }
  }

  clear(): void {
    this.byUnit.clear();
    this.byRevision.clear();
    this.count = 0;
  }

  /** The model with these writes laid over its schedule (O(1); a unit's writes are applied when read). */
  view(model: ClusterModel): ClusterView {
    if (this.count === 0) return model;
    return {
      units: model.units,
      machines: model.machines,
      assignments: new Overlay(model.assignments, this.byUnit),
      names: () => model.names(),
      roles: model.roles,
    };
  }

  /** Whether a put of this key is waiting to be written or to be seen by the model. */
  hasPut(unit: string, machineId: string): boolean {
    return this.byUnit.get(unit)?.some((w) => w.machineId === machineId && w.record !== undefined) ?? false;
  }

  /**
   * Forgets committed writes the model now shows (the engine hands its puts to the model itself),
   * also from the index by revision: prune() would only find them once the schedule stream passes
   * their revision, which a stream watching deletes only may not do for a long time.
   */
  settle(ws: readonly PendingWrite[]): void {
    const gone = new Set(ws);
    for (const w of ws) this.forget(w);
    for (const revision of new Set(ws.map((w) => w.revision))) {
      if (revision === undefined) continue;
      const left = this.byRevision.get(revision)?.filter((w) => !gone.has(w)) ?? [];
      if (left.length > 0) this.byRevision.set(revision, left);
      else this.byRevision.delete(revision);
    }
  }

  /** Drops a write unless a later write of the same key replaced it (that one stays pending). */
  private forget(w: PendingWrite): void {
    const ws = this.byUnit.get(w.unit);
    const i = ws ? ws.indexOf(w) : -1;
    if (i < 0) return;
    ws!.splice(i, 1);
    this.count--;
    if (ws!.length === 0) this.byUnit.delete(w.unit);
  }
}

type PerUnit = ReadonlyMap<string, ModelAssignment>;

/**
 * The model's schedule with the pending writes applied to the units they touch (each unit's
 * result computed once, when first read), read through without copying the rest. Iterates like a
 * copy changed in place would: the model's order, then units only the writes have.
 */
class Overlay implements ReadonlyMap<string, PerUnit> {
  private readonly applied = new Map<string, PerUnit | undefined>();

  constructor(
    private readonly base: ReadonlyMap<string, PerUnit>,
    private readonly writes: ReadonlyMap<string, readonly PendingWrite[]>,
  ) {}

  get(unit: string): PerUnit | undefined {
    const ws = this.writes.get(unit);
    if (ws === undefined) return this.base.get(unit);
    const base = this.base.get(unit);
    const only = ws.length === 1 ? ws[0]! : undefined;
    if (base === undefined && only?.assignment) {
      return (only.alone ??= new OneAssignment(only.assignment));
    }
    if (this.applied.has(unit)) return this.applied.get(unit);
    const per = new Map(base ?? []);
    for (const w of ws) {
      if (w.assignment) per.set(w.machineId, w.assignment);
      else per.delete(w.machineId);
    }
    const result = per.size > 0 ? per : undefined;
    this.applied.set(unit, result);
    return result;
  }

  has(unit: string): boolean {
    return this.get(unit) !== undefined;
  }

  get size(): number {
    let n = 0;
    for (const _ of this.keys()) n++;
    return n;
  }

  *entries(): MapIterator<[string, PerUnit]> {
    for (const unit of this.base.keys()) {
      const v = this.get(unit);
      if (v !== undefined) yield [unit, v];
    }
    for (const unit of this.writes.keys()) {
      if (this.base.has(unit)) continue;
      const v = this.get(unit);
      if (v !== undefined) yield [unit, v];
    }
  }

  *keys(): MapIterator<string> {
    for (const [unit] of this.entries()) yield unit;
  }

  *values(): MapIterator<PerUnit> {
    for (const [, per] of this.entries()) yield per;
  }

  [Symbol.iterator](): MapIterator<[string, PerUnit]> {
    return this.entries();
  }

  forEach(fn: (per: PerUnit, unit: string, map: ReadonlyMap<string, PerUnit>) => void): void {
    for (const [unit, per] of this.entries()) fn(per, unit, this);
  }
}
