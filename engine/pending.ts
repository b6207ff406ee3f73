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

  /** The model with these writes laid over its schedule (copies only what they touch). */
  view(model: ClusterModel): ClusterView {
    if (this.byKey.size === 0) return model;
    const assignments = new Map<string, ReadonlyMap<string, ModelAssignment>>(model.assignments);
    const copied = new Set<string>();
    for (const w of this.byKey.values()) {
      let per = assignments.get(w.unit) as Map<string, ModelAssignment> | undefined;
      if (!copied.has(w.unit)) {
        per = new Map(per ?? []);
        copied.add(w.unit);
      } else per ??= new Map();
      if (w.assignment) per.set(w.machineId, w.assignment);
      else per.delete(w.machineId);
      if (per.size === 0) assignments.delete(w.unit);
      else assignments.set(w.unit, per);
    }
    return {
      units: model.units,
      machines: model.machines,
      assignments,
      names: () => model.names(),
    };
  }
}

function keyOf(unit: string, machineId: string): string {
  return `${unit}\u0000${machineId}`;
}
