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
  private sorted: string[] | undefined;
  /** Bumped on every change (the engine re-plans when it moved). */
  version = 0;

  names(): readonly string[] {
    if (!this.sorted) {
      const all = new Set<string>(this.units.keys());
      for (const k of this.assignments.keys()) all.add(k);
      this.sorted = [...all].sort();
    }
    return this.sorted;
  }

  putUnit(u: ModelUnit): void {
    if (!this.units.has(u.name) && !this.assignments.has(u.name)) this.sorted = undefined;
    this.units.set(u.name, u);
    this.version++;
  }

  deleteUnit(name: string): void {
    if (!this.units.delete(name)) return;
    if (!this.assignments.has(name)) this.sorted = undefined;
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
      if (!this.units.has(a.unit)) this.sorted = undefined;
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
      if (!this.units.has(unit)) this.sorted = undefined;
    }
    this.version++;
  }

  /** Forgets everything (before a full re-list). */
  clear(): void {
    this.units.clear();
    this.machines.clear();
    this.assignments.clear();
    this.sorted = undefined;
    this.version++;
  }
}
