/**
 * The schedule writes the engine has sent (or is about to send) that its model may not show yet:
 * the model follows etcd through a watch, so a write shows there only once its echo arrives. The
 * engine plans on the model with these writes laid over it, so it can plan the next pass while
 * the last one is still being written, without deciding the same units twice.
 *
 * An entry leaves when the schedule stream has reached the revision its transaction committed at
 * (the model then shows it, or something newer), or when its transaction failed (dropped: the
 * caller first waits until the model has caught up with etcd, see Engine).
 */
import type { ClusterModel, ClusterView, ModelAssignment } from './model.js';

/** One schedule write: an assignment put, or (assignment undefined) a removal. */
export interface PendingWrite {
  readonly unit: string;
  readonly machineId: string;
  readonly assignment: ModelAssignment | undefined;
  /** The revision its transaction committed at (undefined while in flight). */
  revision?: bigint;
}

export class PendingSchedule {
  private readonly byKey = new Map<string, PendingWrite>();

  get size(): number {
    return this.byKey.size;
  }

  add(w: PendingWrite): void {
    this.byKey.set(keyOf(w.unit, w.machineId), w);
  }

  /** Writes committed at `revision` (their transaction succeeded). */
  committed(ws: readonly PendingWrite[], revision: bigint): void {
    for (const w of ws) w.revision = revision;
  }

  /** Forgets the writes the model shows now: those committed at or below `seen`. */
  prune(seen: bigint): void {
    for (const [k, w] of this.byKey) if (w.revision !== undefined && w.revision <= seen) this.byKey.delete(k);
  }

  clear(): void {
    this.byKey.clear();
  }

  /** The model with these writes laid over its schedule (copies only what they touch: O(writes)). */
  view(model: ClusterModel): ClusterView {
    if (this.byKey.size === 0) return model;
    const changed = new Map<string, Map<string, ModelAssignment>>();
    for (const w of this.byKey.values()) {
      let per = changed.get(w.unit);
      if (!per) changed.set(w.unit, (per = new Map(model.assignments.get(w.unit) ?? [])));
      if (w.assignment) per.set(w.machineId, w.assignment);
      else per.delete(w.machineId);
    }
    return {
      units: model.units,
      machines: model.machines,
      assignments: new Overlay(model.assignments, changed),
      names: () => model.names(),
      roles: model.roles,
    };
  }
}

type PerUnit = ReadonlyMap<string, ModelAssignment>;

/**
 * The model's schedule with some units' assignments replaced (an empty map: none left), read
 * through without copying the rest. Iterates like a copy changed in place would: the model's
 * order, then units only the overlay has.
 */
class Overlay implements ReadonlyMap<string, PerUnit> {
  constructor(
    private readonly base: ReadonlyMap<string, PerUnit>,
    private readonly changed: ReadonlyMap<string, PerUnit>,
  ) {}

  get(unit: string): PerUnit | undefined {
    const c = this.changed.get(unit);
    if (c === undefined) return this.base.get(unit);
    return c.size > 0 ? c : undefined;
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
    for (const [unit, per] of this.changed) if (!this.base.has(unit) && per.size > 0) yield [unit, per];
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

function keyOf(unit: string, machineId: string): string {
  return `${unit}\u0000${machineId}`;
}
