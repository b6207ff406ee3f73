/**
 * Where units are placed, as the planner's working state needs it: unit -> machine (non-global),
 * unit -> machines (global), machine -> units, machine -> units with Conflicts=/Replaces=, and the
 * load of every machine. Built from a view's schedule (O(assignments)), then kept between passes
 * and brought up to date unit by unit (O(changes)); a pass never changes it (it works on a copy
 * of what it touches, see Pass in planner.ts). Pure: no I/O.
 *
 * What a unit contributes depends only on its own assignments, its unit's Global= and
 * Conflicts=/Replaces=, and which machines exist; so after a change of units or assignments (not
 * of machines), refreshing the units concerned gives what building from scratch gives.
 */
import type { ClusterView } from './model.js';
import type { Decision } from './planner.js';
import type { ModelUnit } from './unit-info.js';
import { SHORT_MACHINE_ID_LENGTH } from '../units/index.js';

export class Placements {
  /** Non-global unit -> the machine it is placed on (its first assignment to a known machine). */
  readonly at = new Map<string, string>();
  /** Global unit -> the known machines it is placed on. */
  readonly globalAt = new Map<string, Set<string>>();
  /** Machine -> units placed there. */
  readonly on = new Map<string, Set<string>>();
  /** Machine -> units placed there that have Conflicts= or Replaces=. */
  readonly guarded = new Map<string, Set<string>>();
  /** Machine -> units placed there (every known machine has an entry). */
  readonly load = new Map<string, number>();
  /** The known machines in ID order (machines do not change while a Placements is kept). */
  readonly machineIds: readonly string[];
  /** The known machines by short ID (the first 8 characters, as MachineID= may give it). */
  readonly byShortId = new Map<string, string[]>();

  private constructor(machineIds: readonly string[]) {
    this.machineIds = machineIds;
    for (const id of machineIds) {
      const short = id.slice(0, SHORT_MACHINE_ID_LENGTH);
      const list = this.byShortId.get(short);
      if (list) list.push(id);
      else this.byShortId.set(short, [id]);
    }
  }

  static of(view: ClusterView): Placements {
    const p = new Placements([...view.machines.keys()].sort());
    for (const id of p.machineIds) p.load.set(id, 0);
    for (const unit of view.assignments.keys()) p.add(view, unit);
    return p;
  }

  /** Brings these units up to date with the view (their unit or assignments changed; no machine did). */
  refresh(view: ClusterView, units: Iterable<string>): void {
    for (const unit of units) {
      this.remove(unit);
      this.add(view, unit);
    }
  }

  /**
   * Takes in a pass's placements, which the view shows from now on (the engine writes them, or lays
   * them over the model while they are written), without reading the view's schedule again. A unit
   * the pass also removed from a machine is left as it was (the view does not show the pass yet,
   * and the unit may have had a second assignment): returned, to be refreshed from the next view.
   */
  apply(view: ClusterView, decisions: readonly Decision[]): string[] {
    const removed = new Set<string>();
    for (const d of decisions) if (d.type === 'unplace') removed.add(d.unit);
    for (const d of decisions) {
      if (d.type === 'place' && !removed.has(d.unit)) this.put(view, d.unit, d.machineId);
    }
    return [...removed];
  }

  private add(view: ClusterView, unit: string): void {
    const per = view.assignments.get(unit);
    if (!per) return;
    for (const machineId of per.keys()) if (view.machines.has(machineId)) this.put(view, unit, machineId);
  }

  /** One assignment of the unit to a known machine. */
  private put(view: ClusterView, unit: string, machineId: string): void {
    const u = view.units.get(unit);
    if (u?.requirements.global) {
      let s = this.globalAt.get(unit);
      if (!s) this.globalAt.set(unit, (s = new Set()));
      s.add(machineId);
    } else if (!this.at.has(unit)) {
      this.at.set(unit, machineId);
    } else {
      return; // a second assignment of a non-global unit: the planner removes it
    }
    addTo(this.on, machineId, unit);
    if (guards(u)) addTo(this.guarded, machineId, unit);
    this.load.set(machineId, (this.load.get(machineId) ?? 0) + 1);
  }

  private remove(unit: string): void {
    const at = this.at.get(unit);
    const global = this.globalAt.get(unit);
    if (at === undefined && global === undefined) return; // not placed (a new unit: the usual case)
    const machines: string[] = [];
    if (at !== undefined) machines.push(at);
    for (const m of global ?? []) machines.push(m);
    this.at.delete(unit);
    this.globalAt.delete(unit);
    for (const m of machines) {
      this.on.get(m)?.delete(unit);
      this.guarded.get(m)?.delete(unit);
      this.load.set(m, (this.load.get(m) ?? 1) - 1);
    }
  }
}

/** Whether the unit's rules concern other units on its machine (Conflicts=, Replaces=). */
export function guards(u: ModelUnit | undefined): boolean {
  return !!u && (u.requirements.conflicts.length > 0 || u.requirements.replaces.length > 0);
}

function addTo(m: Map<string, Set<string>>, key: string, v: string): void {
  let s = m.get(key);
  if (!s) m.set(key, (s = new Set()));
  s.add(v);
}
