/**
 * lib/apply's ApplyTarget over the registry (fleetd's units directory; fleetctl uses its driver).
 * Waiting polls the schedule and the unit states; whether a unit runs its file is decided by
 * runsItsFile (pure).
 */
import type { Registry } from '../registry/registry.js';
import type { AssignmentRecord, UnitStateRecord } from '../registry/records.js';
import type { ApplyTarget, NewUnit } from './execute.js';
import type { ClusterUnit } from './plan.js';

export type Runs = { done: true } | { done: false; why: string };

/** Does every machine the unit is assigned to run its file (hash) active? Pure. */
export function runsItsFile(
  hash: string,
  assignments: readonly AssignmentRecord[],
  states: readonly UnitStateRecord[],
): Runs {
  if (assignments.length === 0) return { done: false, why: 'the engine has not placed it on a machine yet' };
  for (const a of assignments) {
    if (a.hash !== hash)
      return { done: false, why: `machine ${a.machineId} is still assigned an older file` };
    const s = states.find((x) => x.machineId === a.machineId);
    if (!s) return { done: false, why: `no state reported from machine ${a.machineId} yet` };
    if (s.hash !== hash) return { done: false, why: `machine ${a.machineId} still runs an older file` };
    if (s.activeState !== 'active') {
      return {
        done: false,
        why: `systemd on ${a.machineId} says ${s.loadState}/${s.activeState}/${s.subState}`,
      };
    }
  }
  return { done: true };
}

export interface RegistryTargetOptions {
  /** How long waitLaunched waits for a unit (default 120 s). */
  waitTimeoutMs?: number;
  /** Between polls (default 250 ms). */
  pollMs?: number;
  signal?: AbortSignal;
}

export class RegistryApplyTarget implements ApplyTarget {
  constructor(
    private readonly reg: Registry,
    private readonly opts: RegistryTargetOptions = {},
  ) {}

  async listUnits(): Promise<ClusterUnit[]> {
    const [l, reasons] = await Promise.all([this.reg.listUnits(), this.reg.listReasons()]);
    const out: ClusterUnit[] = l.items.map((i) => ({
      name: i.record.name,
      hash: i.record.hash,
      desiredState: i.record.desiredState,
      source: i.record.source,
    }));
    // Keys holding invalid values (the engine's marks): never overwritten by a directory.
    const valid = new Set(out.map((u) => u.name));
    for (const r of reasons.items) {
      const why = r.record.invalid;
      if (why === undefined || valid.has(r.record.unit)) continue;
      out.push({ name: r.record.unit, hash: '', desiredState: 'inactive', invalid: why });
    }
    return out;
  }

  async submitUnits(units: readonly NewUnit[]): Promise<{ created: string[]; existing: string[] }> {
    const r = await this.reg.submitUnits(units);
    return { created: r.created, existing: r.existing };
  }

  async replaceUnit(u: NewUnit): Promise<void> {
    await this.reg.replaceUnit(u);
  }

  async setDesiredState(name: string, state: NewUnit['desiredState']): Promise<void> {
    await this.reg.setDesiredState(name, state);
  }

  async destroyUnit(name: string): Promise<void> {
    await this.reg.destroyUnit(name);
  }

  async waitLaunched(names: readonly string[]): Promise<{ name: string; why: string }[]> {
    const deadline = Date.now() + (this.opts.waitTimeoutMs ?? 120_000);
    const pending = new Map(names.map((n) => [n, 'not checked yet']));
    while (pending.size > 0 && !this.opts.signal?.aborted) {
      const [units, schedule, states] = await Promise.all([
        Promise.all([...pending.keys()].map((n) => this.reg.getUnit(n))),
        this.reg.listSchedule(),
        this.reg.listUnitStates(),
      ]);
      for (const n of [...pending.keys()]) {
        const u = units.find((x) => x?.record.name === n);
        if (!u) {
          pending.set(n, 'the unit is gone from the cluster');
          continue;
        }
        const r = runsItsFile(
          u.record.hash,
          schedule.items.filter((i) => i.record.unit === n).map((i) => i.record),
          states.items.filter((i) => i.record.unit === n).map((i) => i.record),
        );
        if (r.done) pending.delete(n);
        else pending.set(n, r.why);
      }
      if (pending.size === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 250));
    }
    return [...pending].map(([name, why]) => ({ name, why: `not running its file yet: ${why}` }));
  }
}
