/**
 * The cluster in memory: units (with their requirements), machines (metadata, draining) and the
 * schedule (which unit is assigned to which machine). The engine feeds it from the registry's
 * list-then-watch streams; the planner reads it through ClusterView and never changes it.
 */
import type { DesiredState, ModelUnit } from './unit-info.js';

export interface ModelMachine {
  id: string;
  metadata: Readonly<Record<string, string>>;
  draining: boolean;
}

/** One assignment as stored in the schedule. */
export interface ModelAssignment {
  unit: string;
  machineId: string;
  hash: string;
  desiredState: Exclude<DesiredState, 'inactive'>;
}

/** What the planner reads. */
export interface ClusterView {
  readonly units: ReadonlyMap<string, ModelUnit>;
  readonly machines: ReadonlyMap<string, ModelMachine>;
  /** unit name -> machine ID -> assignment (also for units no longer in `units`). */
  readonly assignments: ReadonlyMap<string, ReadonlyMap<string, ModelAssignment>>;
  /** Every unit name that has a unit or an assignment, sorted (the planner's order). */
  names(): readonly string[];
}

/** A mutable ClusterView. */
export class ClusterModel implements ClusterView {
  readonly units = new Map<string, ModelUnit>();
  readonly machines = new Map<string, ModelMachine>();
  readonly assignments = new Map<string, Map<string, ModelAssignment>>();
  /**
   * The sorted names as of the last names() call, and what joined or left since: the names now are
   * (sorted minus left) plus joined, with left a subset of sorted and joined disjoint from it. So
   * a burst of new units costs a sort of the new names and one merge, not a sort of them all.
   */
  private sorted: string[] | undefined;
  private readonly joined = new Set<string>();
  private readonly left = new Set<string>();
  /** Bumped on every change (the engine re-plans when it moved). */
  version = 0;

  names(): readonly string[] {
    if (!this.sorted) {
      const all = new Set<string>(this.units.keys());
      for (const k of this.assignments.keys()) all.add(k);
      this.sorted = [...all].sort();
    } else if (this.joined.size > 0 || this.left.size > 0) {
      const base = this.left.size > 0 ? this.sorted.filter((n) => !this.left.has(n)) : this.sorted;
      this.sorted = this.joined.size > 0 ? mergeSorted(base, [...this.joined].sort()) : base;
    }
    this.joined.clear();
    this.left.clear();
    return this.sorted;
  }

  private nameJoined(name: string): void {
    if (!this.sorted) return;
    if (!this.left.delete(name)) this.joined.add(name);
  }

  private nameLeft(name: string): void {
    if (!this.sorted) return;
    if (!this.joined.delete(name)) this.left.add(name);
  }

  putUnit(u: ModelUnit): void {
    if (!this.units.has(u.name) && !this.assignments.has(u.name)) this.nameJoined(u.name);
    this.units.set(u.name, u);
    this.version++;
  }

  deleteUnit(name: string): void {
    if (!this.units.delete(name)) return;
    if (!this.assignments.has(name)) this.nameLeft(name);
    this.version++;
  }

  putMachine(m: ModelMachine): void {
    this.machines.set(m.id, m);
    this.version++;
  }

  deleteMachine(id: string): void {
    if (this.machines.delete(id)) this.version++;
  }

  putAssignment(a: ModelAssignment): void {
    let per = this.assignments.get(a.unit);
    if (!per) {
      if (!this.units.has(a.unit)) this.nameJoined(a.unit);
      per = new Map();
      this.assignments.set(a.unit, per);
    }
    per.set(a.machineId, a);
    this.version++;
  }

  deleteAssignment(unit: string, machineId: string): void {
    const per = this.assignments.get(unit);
    if (!per || !per.delete(machineId)) return;
    if (per.size === 0) {
      this.assignments.delete(unit);
      if (!this.units.has(unit)) this.nameLeft(unit);
    }
    this.version++;
  }

  /** Forgets everything (before a full re-list). */
  clear(): void {
    this.units.clear();
    this.machines.clear();
    this.assignments.clear();
    this.sorted = undefined;
    this.joined.clear();
    this.left.clear();
    this.version++;
  }
}

/** Two sorted lists of distinct names as one sorted list. */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out = new Array<string>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}
