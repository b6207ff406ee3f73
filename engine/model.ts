/**
 * The cluster in memory: units (with their requirements), machines (metadata, draining) and the
 * schedule (which unit is assigned to which machine). The engine feeds it from the registry's
 * list-then-watch streams; the planner reads it through ClusterView and never changes it.
 */
import { templateOf } from '../units/index.js';
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

/**
 * A unit's assignments when it has exactly one (the usual case), as a read-only map of that one
 * entry: two fields instead of a Map and its table (~8x smaller, and 100,000 units have one each).
 */
export class OneAssignment implements ReadonlyMap<string, ModelAssignment> {
  constructor(readonly only: ModelAssignment) {}

  get size(): number {
    return 1;
  }

  get(machineId: string): ModelAssignment | undefined {
    return machineId === this.only.machineId ? this.only : undefined;
  }

  has(machineId: string): boolean {
    return machineId === this.only.machineId;
  }

  *entries(): MapIterator<[string, ModelAssignment]> {
    yield [this.only.machineId, this.only];
  }

  *keys(): MapIterator<string> {
    yield this.only.machineId;
  }

  *values(): MapIterator<ModelAssignment> {
    yield this.only;
  }

  [Symbol.iterator](): MapIterator<[string, ModelAssignment]> {
    return this.entries();
  }

  forEach(
    fn: (a: ModelAssignment, machineId: string, map: ReadonlyMap<string, ModelAssignment>) => void,
  ): void {
    fn(this.only, this.only.machineId, this);
  }
}

/** What the planner reads. */
export interface ClusterView {
  readonly units: ReadonlyMap<string, ModelUnit>;
  readonly machines: ReadonlyMap<string, ModelMachine>;
  /** unit name -> machine ID -> assignment (also for units no longer in `units`). */
  readonly assignments: ReadonlyMap<string, ReadonlyMap<string, ModelAssignment>>;
  /** Every unit name that has a unit or an assignment, sorted (the planner's order). */
  names(): readonly string[];
  /** The few units the planner treats specially, so a pass need not look at every unit to find them. */
  readonly roles: UnitRoles;
}

/** Units by role (names), kept up to date as units come and go. */
export interface UnitRoles {
  /** Units with Global=true. */
  readonly globals: ReadonlySet<string>;
  /** Units with MachineOf=. */
  readonly followers: ReadonlySet<string>;
  /** Socket units that activate a service (ModelUnit.activates). */
  readonly sockets: ReadonlySet<string>;
  /** Template (foo@.service) -> its instances that are units. */
  readonly instances: ReadonlyMap<string, ReadonlySet<string>>;
}

class Roles implements UnitRoles {
  readonly globals = new Set<string>();
  readonly followers = new Set<string>();
  readonly sockets = new Set<string>();
  readonly instances = new Map<string, Set<string>>();

  put(u: ModelUnit): void {
    toggle(this.globals, u.name, u.requirements.global);
    toggle(this.followers, u.name, u.requirements.machineOf.length > 0);
    toggle(this.sockets, u.name, u.activates !== undefined);
    const t = u.name.includes('@') ? templateOf(u.name) : null;
    if (t === null) return;
    let s = this.instances.get(t);
    if (!s) this.instances.set(t, (s = new Set()));
    s.add(u.name);
  }

  delete(name: string): void {
    this.globals.delete(name);
    this.followers.delete(name);
    this.sockets.delete(name);
    const t = name.includes('@') ? templateOf(name) : null;
    const s = t === null ? undefined : this.instances.get(t);
    if (s?.delete(name) && s.size === 0) this.instances.delete(t!);
  }

  clear(): void {
    this.globals.clear();
    this.followers.clear();
    this.sockets.clear();
    this.instances.clear();
  }
}

function toggle(s: Set<string>, name: string, on: boolean): void {
  if (on) s.add(name);
  else s.delete(name);
}

/** A mutable ClusterView. */
export class ClusterModel implements ClusterView {
  readonly units = new Map<string, ModelUnit>();
  readonly machines = new Map<string, ModelMachine>();
  readonly assignments = new Map<string, OneAssignment | Map<string, ModelAssignment>>();
  readonly roles = new Roles();
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
    this.roles.put(u);
    this.version++;
  }

  deleteUnit(name: string): void {
    if (!this.units.delete(name)) return;
    this.roles.delete(name);
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
    const per = this.assignments.get(a.unit);
    if (!per) {
      if (!this.units.has(a.unit)) this.nameJoined(a.unit);
      this.assignments.set(a.unit, new OneAssignment(a));
    } else if (per instanceof Map) {
      per.set(a.machineId, a);
    } else if (per.has(a.machineId)) {
      this.assignments.set(a.unit, new OneAssignment(a));
    } else {
      this.assignments.set(a.unit, new Map([...per, [a.machineId, a]]));
    }
    this.version++;
  }

  deleteAssignment(unit: string, machineId: string): void {
    const per = this.assignments.get(unit);
    if (!per?.has(machineId)) return;
    if (per.size === 1) {
      this.assignments.delete(unit);
      if (!this.units.has(unit)) this.nameLeft(unit);
    } else if (per instanceof Map) {
      per.delete(machineId); // more than one: always a Map
    }
    this.version++;
  }

  /** Forgets everything (before a full re-list). */
  clear(): void {
    this.units.clear();
    this.machines.clear();
    this.assignments.clear();
    this.roles.clear();
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
