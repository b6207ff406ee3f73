/**
 * The planner: PURE. `plan(view, now)` reads the cluster and returns the decisions that bring the
 * schedule in line with the units' requirements, and, for every unit it cannot place, the reasons
 * per rule. Nothing here performs I/O or reads the time; the view is never changed.
 *
 * fleet's semantics (engine/reconciler.go, agent/state.go AbleToRun): first unplace what must go
 * (desired state inactive, machine gone, no longer fits), then place every unplaced unit on the
 * least-loaded machine that fits (load = units placed there, global ones included; ties by
 * machine ID). Each decision updates the working state at once, so the next one sees it. Machines
 * joining cause no rebalancing. Beyond fleet: global units are placed here too (one assignment per
 * fitting machine), draining machines, `!=` metadata, and socket activation (a service follows the
 * socket that activates it, and the socket only goes where its service can run too).
 *
 * Cost: O(units + machines) per pass to build the working state, then O(log machines) per
 * decision for units without constraints that exclude many machines: machines are kept in
 * (load, ID) heaps (one for all, one per distinct metadata requirement) and are visited in load
 * order with an early exit.
 */
import {
  ALL_CHECKERS,
  COMPANION_CHECKERS,
  STATIC_CHECKERS,
  checkConflicts,
  checkDraining,
  checkReplaces,
  displacedBy,
  firstRejection,
  metadataRejection,
  metadataSelector,
  type CheckContext,
  type Rejection,
} from './checkers/index.js';
import { GlobCache } from './checkers/glob-cache.js';
import { LoadIndex } from './load-index.js';
import { Placements, guards } from './placements.js';
import type { ClusterView, ModelAssignment, ModelMachine } from './model.js';
import type { ModelUnit } from './unit-info.js';
import { SHORT_MACHINE_ID_LENGTH } from '../units/index.js';

export type DecisionType = 'place' | 'unplace' | 'update';

export interface Decision {
  type: DecisionType;
  unit: string;
  machineId: string;
  /** Why, for logs and `fleetctl why`. */
  reason: string;
}

/** A unit the planner could not place (or, for a global unit, placed nowhere), and why. */
export interface Unplaced {
  unit: string;
  reasons: string[];
}

export interface Plan {
  /** Removals first, then placements and updates; each group by unit then machine. */
  decisions: Decision[];
  /** Units that want to run but are not placed after this plan, by name. */
  unplaced: Unplaced[];
  /** The `now` given, for stamping the reasons. */
  at: number;
}

/** Plans one full pass (every unit). Pure: same view, same plan. */
export function plan(view: ClusterView, now: number): Plan {
  return new Pass(view, Placements.of(view)).run(now);
}

/**
 * Plans pass after pass (the engine keeps one), remembering the working state between passes so
 * that a pass after a few changes costs O(changes), not O(units).
 *
 * `plan(view, now)` looks at every unit. `plan(view, now, changed)` looks only at the units a
 * change can concern: the changed ones, the units the last pass left unplaced, every global unit,
 * the units that must run with a changed one (MachineOf, socket activation), and the units sharing
 * a machine whose Conflicts=/Replaces= could meet a changed one. Every other unit was placed by an
 * earlier pass (the last pass's placements are in the working state already) and nothing it
 * depends on moved, so a full pass would leave it alone too. Valid only when machines
 * did not change since the last pass and that pass's decisions are in the view (written, or laid
 * over it as pending writes); otherwise call without `changed`. Deterministic: the same views and
 * changes give the same plans.
 */
export class Planner {
  private placements: Placements | undefined;
  private last: Plan | undefined;
  /** Units the last pass removed from a machine: refreshed from the view at the next pass. */
  private stale: string[] = [];

  plan(view: ClusterView, now: number, changed?: Iterable<string>): Plan {
    let p: Plan;
    if (changed === undefined || this.placements === undefined || this.last === undefined) {
      this.placements = Placements.of(view);
      p = new Pass(view, this.placements).run(now);
    } else {
      const names = new Set(changed);
      this.placements.refresh(view, [...names, ...this.stale]);
      const unplaced = this.last.unplaced.map((u) => u.unit);
      p = new Pass(view, this.placements).run(now, { changed: names, unplaced });
    }
    // The next view shows these decisions (see above): the working state takes them in now,
    // except the units the pass removed from a machine (refreshed from that next view).
    this.stale = this.placements.apply(view, p.decisions);
    this.last = p;
    return p;
  }
}

interface Scope {
  changed: Iterable<string>;
  unplaced: Iterable<string>;
}

class Pass implements CheckContext {
  /*
   * The working state: `base` (where units are before this pass, shared between passes and never
   * changed here) with this pass's changes over it; a set is copied before its first change.
   */
  /** Non-global placements changed in this pass: unit -> machine (undefined: unplaced). */
  private readonly atHere = new Map<string, string | undefined>();
  /** Global placements changed in this pass: unit -> machines. */
  private readonly globalHere = new Map<string, Set<string>>();
  /** Machine -> its units, for machines whose set was read after this pass changed it. */
  private readonly onHere = new Map<string, Set<string>>();
  /**
   * This pass's changes to machines' unit sets not read since (unit, added): replayed onto a copy
   * only when the set is read (only Conflicts= and Replaces= read them), so placing a unit does
   * not copy its machine's set.
   */
  private readonly onChanges = new Map<string, [string, boolean][]>();
  private readonly guardedHere = new Map<string, Set<string>>();
  /** Loads changed in this pass (the others are the base's). */
  private readonly loadHere = new Map<string, number>();
  private readonly machineIds: readonly string[];
  private readonly all: LoadIndex;
  private readonly selectors = new Map<string, LoadIndex>();
  private readonly selectorsOf = new Map<string, LoadIndex[]>();
  /** The implicit MachineOf of socket-activated services: service -> socket. */
  private readonly socketOf = new Map<string, string>();
  /** Reverse: unit -> units that must run next to it (explicit and implicit MachineOf). */
  private readonly dependents = new Map<string, string[]>();
  /** A socket -> the services it activates that exist and want to run. */
  private readonly companions = new Map<string, string[]>();
  /** Why this pass placed a unit on, or removed it from, a machine: machine -> unit -> why. */
  private readonly reasons = new Map<string, Map<string, string>>();
  private readonly unplacedReasons = new Map<string, string[]>();
  private readonly peersMemo = new Map<string, readonly string[]>();
  private readonly emptySet: ReadonlySet<string> = new Set();
  private readonly globs = new GlobCache();
  private readonly loadOf = (id: string): number => this.loadHere.get(id) ?? this.base.load.get(id) ?? 0;
  /** Units placed or unplaced during this pass. */
  private readonly touched = new Set<string>();

  constructor(
    private readonly view: ClusterView,
    private readonly base: Placements,
  ) {
    this.machineIds = base.machineIds;
    this.all = new LoadIndex(
      this.loadOf,
      this.machineIds.filter((id) => !view.machines.get(id)!.draining),
    );
    this.indexSockets();
  }

  // ------------------------------------------------------------------ CheckContext

  unit(name: string): ModelUnit | undefined {
    return this.view.units.get(name);
  }

  unitsOn(machineId: string): ReadonlySet<string> {
    const here = this.onHere.get(machineId);
    if (here) return here;
    const changes = this.onChanges.get(machineId);
    const base = this.base.on.get(machineId);
    if (!changes) return base ?? this.emptySet;
    const s = new Set(base);
    for (const [unit, added] of changes) {
      if (added) s.add(unit);
      else s.delete(unit);
    }
    this.onHere.set(machineId, s);
    this.onChanges.delete(machineId);
    return s;
  }

  private changeOn(machineId: string, unit: string, added: boolean): void {
    const here = this.onHere.get(machineId);
    if (here) {
      if (added) here.add(unit);
      else here.delete(unit);
      return;
    }
    let changes = this.onChanges.get(machineId);
    if (!changes) this.onChanges.set(machineId, (changes = []));
    changes.push([unit, added]);
  }

  guardedOn(machineId: string): ReadonlySet<string> {
    return this.guardedHere.get(machineId) ?? this.base.guarded.get(machineId) ?? this.emptySet;
  }

  placement(unit: string): string | undefined {
    return this.atHere.has(unit) ? this.atHere.get(unit) : this.base.at.get(unit);
  }

  private globalPlacements(unit: string): ReadonlySet<string> | undefined {
    return this.globalHere.get(unit) ?? this.base.globalAt.get(unit);
  }

  /** The set to change, copied from the base before its first change in this pass. */
  private own(here: Map<string, Set<string>>, base: ReadonlyMap<string, ReadonlySet<string>>, key: string) {
    let s = here.get(key);
    if (!s) here.set(key, (s = new Set(base.get(key))));
    return s;
  }

  matches(pattern: string, name: string): boolean {
    return this.globs.matches(pattern, name);
  }

  peersOf(unit: ModelUnit): readonly string[] {
    if (this.socketOf.size === 0) return unit.requirements.machineOf;
    let p = this.peersMemo.get(unit.name);
    if (!p) {
      const sock = this.socketOf.get(unit.name);
      const explicit = unit.requirements.machineOf;
      p = sock !== undefined && !explicit.includes(sock) ? [...explicit, sock] : explicit;
      this.peersMemo.set(unit.name, p);
    }
    return p;
  }

  // ------------------------------------------------------------------ the pass

  run(now: number, scope?: Scope): Plan {
    const names = scope ? this.scopeNames(scope) : this.view.names();
    // Phase 1: take away what must go.
    for (const name of names) this.verify(name);
    // Phase 2: global units on every machine that fits.
    for (const name of names) {
      const u = this.view.units.get(name);
      if (u && this.wantsToRun(u) && u.requirements.global) this.placeGlobal(u);
    }
    // Phase 3: every other unit that wants to run, targets of MachineOf before their followers.
    const done = new Set<string>();
    const visiting = new Set<string>();
    const visit = (name: string): void => {
      // A placed unit passed phase 1, so its MachineOf peers are placed next to it already.
      if (this.placement(name) !== undefined || done.has(name) || visiting.has(name)) return;
      const u = this.view.units.get(name);
      if (!u || !this.wantsToRun(u) || u.requirements.global) {
        done.add(name);
        return;
      }
      visiting.add(name);
      for (const p of this.peersOf(u)) visit(p);
      visiting.delete(name);
      done.add(name);
      if (this.placement(name) === undefined) this.placeOne(u, queue);
    };
    const queue: string[] = [];
    for (const name of names) visit(name);
    // Units displaced by Replaces= (and their followers), in the order they were displaced.
    for (let i = 0; i < queue.length; i++) {
      const u = this.view.units.get(queue[i]!);
      if (u && this.placement(u.name) === undefined) this.placeOne(u, queue);
    }
    if (!scope) return { decisions: this.diff(names), unplaced: this.collectUnplaced(names), at: now };
    const looked = withTouched(names, this.touched);
    return { decisions: this.diff(looked), unplaced: this.collectUnplaced(looked), at: now };
  }

  /** The units a scoped pass looks at (see plan()), sorted. */
  private scopeNames(scope: Scope): string[] {
    const out = new Set<string>(this.view.roles.globals);
    for (const n of scope.unplaced) out.add(n);
    for (const n of scope.changed) {
      out.add(n);
      for (const d of this.dependents.get(n) ?? []) out.add(d);
      const guarding = guards(this.view.units.get(n));
      for (const machineId of this.view.assignments.get(n)?.keys() ?? []) {
        // Its Conflicts=/Replaces= may concern any unit there; theirs may concern it.
        for (const other of guarding ? this.unitsOn(machineId) : this.guardedOn(machineId)) out.add(other);
      }
    }
    return [...out].sort();
  }

  /**
   * A non-global unit without any requirement of its own and no socket: only the rules that other
   * units or the machine impose can reject it (draining, their Conflicts= and Replaces=).
   */
  private isPlain(u: ModelUnit): boolean {
    const r = u.requirements;
    return (
      !r.global &&
      r.machineId === null &&
      r.machineOf.length === 0 &&
      r.conflicts.length === 0 &&
      r.replaces.length === 0 &&
      isEmpty(r.machineMetadata) &&
      isEmpty(r.machineMetadataNot) &&
      !this.socketOf.has(u.name)
    );
  }

  private wantsToRun(u: ModelUnit): boolean {
    return u.valid && u.desiredState !== 'inactive';
  }

  /** Phase 1 for one unit: remove each assignment that must go. */
  private verify(name: string): void {
    const per = this.view.assignments.get(name);
    if (!per) return;
    const u = this.view.units.get(name);
    const ids = per.size === 1 ? per.keys() : [...per.keys()].sort();
    for (const machineId of ids) {
      const machine = this.view.machines.get(machineId);
      let why: string | null = null;
      if (!u) why = 'the unit was destroyed';
      else if (u.desiredState === 'inactive') why = 'desired state is inactive';
      else if (!u.valid) why = `the unit file is invalid: ${u.problems.join('; ')}`;
      else if (!machine) why = `machine ${machineId} went away`;
      else if (!u.requirements.global && this.placement(name) !== machineId) {
        why = `a second assignment of ${name} (it stays on ${this.placement(name) ?? 'none'})`;
      } else {
        const r = this.isPlain(u)
          ? firstRejection(PLAIN_CHECKERS, u, machine, this)
          : firstRejection(u.requirements.global ? STATIC_GLOBAL : ALL_CHECKERS, u, machine, this);
        if (r) why = `no longer fits machine ${machineId}: ${r.detail}`;
      }
      if (why === null) continue;
      if (!machine || (u && !u.requirements.global && this.placement(name) !== machineId)) {
        this.setReason(name, machineId, why);
        continue; // never counted in the working state
      }
      this.unplace(name, machineId, why, undefined);
    }
  }

  private placeGlobal(u: ModelUnit): void {
    const have = new Set(this.globalPlacements(u.name));
    const tally = new Tally();
    let placed = have.size;
    for (const id of this.machineIds) {
      if (have.has(id)) continue;
      const m = this.view.machines.get(id)!;
      const r = firstRejection(STATIC_GLOBAL, u, m, this);
      if (r) {
        tally.add(r);
        continue;
      }
      this.place(u, id, 'global unit: the machine fits');
      placed++;
    }
    if (placed === 0) {
      this.unplacedReasons.set(
        u.name,
        this.machineIds.length === 0 ? ['no machine is known'] : tally.messages(this.machineIds.length),
      );
    }
  }

  /** Phase 3 for one unit. `queue` receives units displaced on the way. */
  private placeOne(u: ModelUnit, queue: string[]): void {
    const peers = this.peersOf(u);
    if (peers.length > 0) {
      const target = this.peerMachine(u, peers);
      if (typeof target !== 'string') {
        this.unplacedReasons.set(u.name, [target.reason]);
        return;
      }
      const m = this.view.machines.get(target)!;
      const r = this.reject(u, m);
      if (r) {
        this.unplacedReasons.set(u.name, [
          `cannot follow ${peers.join(', ')} to machine ${target}: ${r.detail}`,
        ]);
        return;
      }
      this.placeAndDisplace(u, target, `follows ${peers.join(', ')} (MachineOf)`, queue);
      return;
    }
    const total = this.machineIds.length;
    if (total === 0) {
      this.unplacedReasons.set(u.name, ['no machine is known']);
      return;
    }
    const tally = new Tally();
    const want = u.requirements.machineId;
    if (want !== null) {
      const ids = this.machinesMatchingId(want);
      ids.sort((a, b) => this.loadOf(a) - this.loadOf(b) || (a < b ? -1 : a > b ? 1 : 0));
      for (const id of ids) {
        const r = this.reject(u, this.view.machines.get(id)!);
        if (!r) {
          this.placeAndDisplace(u, id, `MachineID=${want}`, queue);
          return;
        }
        tally.add(r);
      }
      if (ids.length < total) tally.addCount('machine-id', `MachineID=${want}`, total - ids.length);
      this.unplacedReasons.set(u.name, tally.messages(total));
      return;
    }
    const idx = this.indexFor(u);
    // The usual case: the least-loaded machine fits (no walk, nothing to tally).
    const top = idx.peek();
    if (top !== undefined && !this.reject(u, this.view.machines.get(top)!)) {
      this.placeAndDisplace(u, top, 'the least-loaded machine that fits', queue);
      return;
    }
    for (const id of idx.inOrder()) {
      const r = this.reject(u, this.view.machines.get(id)!);
      if (!r) {
        this.placeAndDisplace(u, id, 'the least-loaded machine that fits', queue);
        return;
      }
      tally.add(r);
    }
    // Nothing fits: say why for the machines the index left out too.
    const draining = this.machineIds.filter((id) => this.view.machines.get(id)!.draining);
    if (draining.length > 0) tally.addCount('draining', 'draining', draining.length);
    if (idx !== this.all) {
      for (const id of this.all.inOrder()) {
        if (idx.has(id)) continue;
        const r = metadataRejection(u.requirements, this.view.machines.get(id)!);
        if (r) tally.add(r);
      }
    }
    this.unplacedReasons.set(u.name, tally.messages(total));
  }

  /** The machine all peers share, or why there is none. */
  private peerMachine(u: ModelUnit, peers: readonly string[]): string | { reason: string } {
    let target: string | undefined;
    for (const p of peers) {
      const pu = this.view.units.get(p);
      if (!pu) return { reason: `waiting for ${p} (MachineOf): no such unit` };
      if (pu.requirements.global) return { reason: `MachineOf=${p} names a global unit` };
      const at = this.placement(p);
      if (at === undefined) {
        return {
          reason: this.wantsToRun(pu)
            ? `waiting for ${p} (MachineOf) to be placed`
            : `waiting for ${p} (MachineOf), which is ${pu.valid ? 'inactive' : 'invalid'}`,
        };
      }
      if (target !== undefined && target !== at) {
        return { reason: `MachineOf peers are on different machines (${target}, ${at})` };
      }
      target = at;
    }
    return target!;
  }

  private machinesMatchingId(want: string): string[] {
    if (this.view.machines.has(want)) return [want];
    if (want.length === SHORT_MACHINE_ID_LENGTH) return [...(this.base.byShortId.get(want) ?? [])];
    return [];
  }

  /** The load index to walk for this unit: all machines, or those its metadata allows. */
  private indexFor(u: ModelUnit): LoadIndex {
    const sel = metadataSelector(u.requirements);
    if (sel === null) return this.all;
    let idx = this.selectors.get(sel);
    if (!idx) {
      const ids = this.machineIds.filter((id) => {
        const m = this.view.machines.get(id)!;
        return !m.draining && metadataRejection(u.requirements, m) === null;
      });
      idx = new LoadIndex(this.loadOf, ids);
      this.selectors.set(sel, idx);
      for (const id of ids) {
        const list = this.selectorsOf.get(id);
        if (list) list.push(idx);
        else this.selectorsOf.set(id, [idx]);
      }
    }
    return idx;
  }

  /** All rules, plus, for a socket, the rules of the services it activates on the same machine. */
  private reject(u: ModelUnit, m: ModelMachine): Rejection | null {
    const r = firstRejection(ALL_CHECKERS, u, m, this);
    if (r) return r;
    for (const c of this.companions.get(u.name) ?? []) {
      const cu = this.view.units.get(c)!;
      const cr = firstRejection(COMPANION_CHECKERS, cu, m, this);
      if (cr) return { ...cr, key: `${cr.key} (of ${c}, which ${u.name} activates)` };
    }
    return null;
  }

  private placeAndDisplace(u: ModelUnit, machineId: string, reason: string, queue: string[]): void {
    this.place(u, machineId, reason);
    for (const v of displacedBy(u, machineId, this)) {
      const vu = this.view.units.get(v);
      if (vu?.requirements.global) {
        this.unplace(v, machineId, `replaced by ${u.name} (Replaces=)`, undefined);
      } else {
        this.unplace(v, machineId, `replaced by ${u.name} (Replaces=); moves to another machine`, queue);
      }
    }
  }

  // ------------------------------------------------------------------ working state

  private setReason(unit: string, machineId: string, why: string): void {
    let here = this.reasons.get(machineId);
    if (!here) this.reasons.set(machineId, (here = new Map()));
    here.set(unit, why);
  }

  private place(u: ModelUnit, machineId: string, reason: string): void {
    if (u.requirements.global) {
      this.own(this.globalHere, this.base.globalAt, u.name).add(machineId);
    } else {
      this.atHere.set(u.name, machineId);
    }
    this.addOn(u.name, machineId);
    this.touched.add(u.name);
    this.setReason(u.name, machineId, reason);
    this.unplacedReasons.delete(u.name);
  }

  /** Removes a placement; followers (MachineOf) on the same machine go too. */
  private unplace(name: string, machineId: string, reason: string, queue: string[] | undefined): void {
    if (this.globalPlacements(name)?.has(machineId)) {
      this.own(this.globalHere, this.base.globalAt, name).delete(machineId);
    } else if (this.placement(name) === machineId) {
      this.atHere.set(name, undefined);
      queue?.push(name);
    } else {
      return;
    }
    this.removeOn(name, machineId);
    this.touched.add(name);
    this.setReason(name, machineId, reason);
    for (const d of this.dependents.get(name) ?? []) {
      if (this.placement(d) === machineId) {
        this.unplace(d, machineId, `follows ${name}, which left machine ${machineId}`, queue);
      }
    }
  }

  private addOn(unit: string, machineId: string): void {
    this.changeOn(machineId, unit, true);
    if (guards(this.view.units.get(unit))) this.own(this.guardedHere, this.base.guarded, machineId).add(unit);
    this.bump(machineId, 1);
  }

  private removeOn(unit: string, machineId: string): void {
    this.changeOn(machineId, unit, false);
    if (this.guardedOn(machineId).has(unit))
      this.own(this.guardedHere, this.base.guarded, machineId).delete(unit);
    this.bump(machineId, -1);
  }

  private bump(machineId: string, by: number): void {
    if (!this.base.load.has(machineId)) return;
    this.loadHere.set(machineId, this.loadOf(machineId) + by);
    // The indexes exist only after the constructor's first pass over the schedule.
    if (!this.all) return;
    this.all.update(machineId);
    for (const idx of this.selectorsOf.get(machineId) ?? []) idx.update(machineId);
  }

  private indexSockets(): void {
    const roles = this.view.roles;
    for (const sock of [...roles.sockets].sort()) {
      const su0 = this.view.units.get(sock)!;
      if (!this.wantsToRun(su0) || su0.requirements.global) continue;
      const a = su0.activates!;
      const services =
        a.service !== undefined ? [a.service] : [...(roles.instances.get(a.template!) ?? [])].sort();
      const comps: string[] = [];
      for (const s of services) {
        const su = this.view.units.get(s);
        if (!su || !this.wantsToRun(su) || su.requirements.global || s === sock) continue;
        if (this.socketOf.has(s)) continue; // two sockets for one service: the first (by name) wins
        this.socketOf.set(s, sock);
        comps.push(s);
      }
      if (comps.length > 0) this.companions.set(sock, comps);
    }
    // Only followers (MachineOf=) and activated services have peers.
    for (const name of new Set([...roles.followers, ...this.socketOf.keys()])) {
      const u = this.view.units.get(name)!;
      for (const p of this.peersOf(u)) {
        const list = this.dependents.get(p);
        if (list) list.push(name);
        else this.dependents.set(p, [name]);
      }
    }
    for (const list of this.dependents.values()) list.sort();
  }

  // ------------------------------------------------------------------ results

  /**
   * The decisions for the given units (all names that have a unit or an assignment, or a scope),
   * which come sorted and without repeats: removals first, then placements, then updates, each group
   * by unit then machine.
   */
  private diff(units: Iterable<string>): Decision[] {
    const groups: Record<DecisionType, Decision[]> = { unplace: [], place: [], update: [] };
    const reason = (u: string, m: string, fallback: string) => this.reasons.get(m)?.get(u) ?? fallback;
    const before = this.view.assignments;
    const mine: Decision[] = [];
    for (const unit of units) {
      const per = before.get(unit);
      for (const [machineId, a] of per ?? []) {
        if (!this.isPlaced(unit, machineId)) {
          mine.push({ type: 'unplace', unit, machineId, reason: reason(unit, machineId, 'unplaced') });
        } else if (this.needsUpdate(unit, a)) {
          mine.push({
            type: 'update',
            unit,
            machineId,
            reason: 'the unit file or desired state changed',
          });
        }
      }
      const added = (machineId: string) => {
        if (!per?.has(machineId)) {
          mine.push({ type: 'place', unit, machineId, reason: reason(unit, machineId, 'placed') });
        }
      };
      const at = this.placement(unit);
      if (at !== undefined) added(at);
      for (const m of this.globalPlacements(unit) ?? []) added(m);
      // One unit's decisions (usually one) by machine, then into their groups.
      if (mine.length > 1) mine.sort((a, b) => cmp(a.machineId, b.machineId));
      for (const d of mine) groups[d.type].push(d);
      mine.length = 0;
    }
    if (groups.unplace.length === 0 && groups.update.length === 0) return groups.place;
    return [...groups.unplace, ...groups.place, ...groups.update];
  }

  private isPlaced(unit: string, machineId: string): boolean {
    return this.placement(unit) === machineId || (this.globalPlacements(unit)?.has(machineId) ?? false);
  }

  private needsUpdate(unit: string, a: ModelAssignment): boolean {
    const u = this.view.units.get(unit);
    return !!u && (u.hash !== a.hash || u.desiredState !== a.desiredState);
  }

  private collectUnplaced(names: readonly string[]): Unplaced[] {
    const out: Unplaced[] = [];
    for (const name of names) {
      if (this.placement(name) !== undefined) continue;
      const u = this.view.units.get(name);
      if (!u || u.desiredState === 'inactive') continue;
      if (!u.valid) {
        out.push({ unit: name, reasons: [`the unit file is invalid: ${u.problems.join('; ')}`] });
        continue;
      }
      if (
        u.requirements.global
          ? (this.globalPlacements(name)?.size ?? 0) > 0
          : this.placement(name) !== undefined
      )
        continue;
      out.push({ unit: name, reasons: this.unplacedReasons.get(name) ?? ['not placed'] });
    }
    return out;
  }
}

/** What a global unit must pass on each machine: the static rules and conflicts both ways. */
const STATIC_GLOBAL = [...STATIC_CHECKERS, checkConflicts, checkReplaces];

/** What can reject a unit without requirements of its own (see Pass.isPlain). */
const PLAIN_CHECKERS = [checkDraining, checkConflicts, checkReplaces];

function isEmpty(o: Readonly<Record<string, unknown>>): boolean {
  for (const _ in o) return false;
  return true;
}

/** The sorted names, with the units a pass touched beyond them (displaced, followers) merged in. */
function withTouched(names: readonly string[], touched: ReadonlySet<string>): readonly string[] {
  const looked = new Set(names);
  const extra = [...touched].filter((t) => !looked.has(t));
  return extra.length === 0 ? names : [...names, ...extra].sort();
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rejections of many machines, grouped by rule and key, as sentences. */
class Tally {
  private readonly counts = new Map<string, { rule: Rejection['rule']; key: string; n: number }>();

  add(r: Rejection): void {
    this.addCount(r.rule, r.key, 1);
  }

  addCount(rule: Rejection['rule'], key: string, n: number): void {
    const k = `${rule}\u0000${key}`;
    const c = this.counts.get(k);
    if (c) c.n += n;
    else this.counts.set(k, { rule, key, n });
  }

  messages(total: number): string[] {
    const out: string[] = [];
    for (const { rule, key, n } of this.counts.values()) {
      const all = n >= total;
      const machines = `${n} machine${n === 1 ? '' : 's'}`;
      switch (rule) {
        case 'metadata':
          out.push(all ? `no machine has ${key}` : `${machines} ${n === 1 ? 'lacks' : 'lack'} ${key}`);
          break;
        case 'machine-id':
          out.push(all ? `no machine matches ${key}` : `${machines} excluded by ${key}`);
          break;
        case 'draining':
          out.push(`${machines} draining`);
          break;
        default:
          out.push(`${machines} excluded by ${key}`);
      }
    }
    return out.length > 0 ? out : ['no machine fits'];
  }
}
