/**
 * Blocking until units reach a state, as fleet's fleetctl: poll every 500 ms, up to
 * --block-attempts times (0 = no limit), print `Unit NAME STATE on MACHINE.../IP` as each arrives.
 * A unit has reached a state when the engine has placed it so AND systemd on its machine(s) agrees
 * (the unit states the agents write, for the unit's current file hash). reached() is pure.
 */
import { isFleetError } from '../lib/errors.js';
import type { DesiredState, Driver, MachineInfo, UnitInfo, UnitStateInfo } from './driver.js';
import { machineLegend } from './format.js';
import type { Output } from './output.js';

export const DEFAULT_BLOCK_INTERVAL_MS = 500;

/** What to wait for: a state, or a destroyed unit gone from every machine. */
export type WaitTarget = DesiredState | 'destroyed';

const RUNNING = new Set(['active', 'activating', 'deactivating', 'reloading']);

export type Reached = { done: true } | { done: false; why: string };

function describeStates(states: readonly UnitStateInfo[]): string {
  return states.map((s) => `${s.machineId}: ${s.loadState}/${s.activeState}/${s.subState}`).join(', ');
}

/** Has `unit` (undefined: not in the cluster) reached `target`, given its unit states? Pure. */
export function reached(
  unit: UnitInfo | undefined,
  states: readonly UnitStateInfo[],
  target: WaitTarget,
): Reached {
  const loadedSomewhere = states.filter((s) => s.loadState === 'loaded');
  if (target === 'destroyed') {
    if (unit) return { done: false, why: 'the unit is still in the cluster' };
    if (loadedSomewhere.length > 0)
      return { done: false, why: `systemd still has it loaded (${describeStates(loadedSomewhere)})` };
    return { done: true };
  }
  if (!unit) return { done: false, why: 'the unit is not in the cluster (destroyed meanwhile?)' };
  if (target === 'inactive') {
    if (unit.currentState !== 'inactive')
      return {
        done: false,
        why: `the engine still has it ${unit.currentState} on ${unit.machineIds.join(', ')}`,
      };
    if (loadedSomewhere.length > 0)
      return { done: false, why: `systemd still has it loaded (${describeStates(loadedSomewhere)})` };
    return { done: true };
  }
  if (unit.currentState !== target || unit.machineIds.length === 0) {
    return {
      done: false,
      why:
        unit.currentState === 'inactive'
          ? 'the engine has not placed it on a machine (no machine fits, or no engine is running; see fleetctl list-machines)'
          : `the engine has it ${unit.currentState}, not ${target}`,
    };
  }
  for (const m of unit.machineIds) {
    const s = states.find((x) => x.machineId === m);
    if (!s) return { done: false, why: `no state reported from machine ${m} yet (is its agent running?)` };
    if (s.hash !== unit.hash)
      return {
        done: false,
        why: `machine ${m} still runs another version of the file (hash ${s.hash.slice(0, 7)})`,
      };
    if (s.loadState !== 'loaded')
      return { done: false, why: `systemd on ${m} says ${s.loadState}/${s.activeState}/${s.subState}` };
    const running = RUNNING.has(s.activeState);
    if (target === 'launched' && s.activeState !== 'active')
      return { done: false, why: `systemd on ${m} says ${s.loadState}/${s.activeState}/${s.subState}` };
    if (target === 'loaded' && running)
      return { done: false, why: `systemd on ${m} says ${s.loadState}/${s.activeState}/${s.subState}` };
  }
  return { done: true };
}

export interface WaitOptions {
  /** 0: no limit. */
  attempts: number;
  intervalMs: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits for every unit; prints each arrival on stdout and each timeout on stderr. Returns the
 * names that timed out.
 */
export async function waitForUnits(
  driver: Driver,
  names: readonly string[],
  target: WaitTarget,
  opts: WaitOptions,
  out: Output,
): Promise<string[]> {
  const sleep = opts.sleep ?? defaultSleep;
  const pending = new Map<string, string>(names.map((n) => [n, 'not checked yet']));
  let machines: Map<string, MachineInfo> | undefined;
  let lastError: string | undefined;
  for (let attempt = 1; pending.size > 0; attempt++) {
    try {
      const { units, states } = await driver.snapshot([...pending.keys()]);
      const byName = new Map(units.map((u) => [u.name, u]));
      for (const name of [...pending.keys()]) {
        const unit = byName.get(name);
        const r = reached(
          unit,
          states.filter((s) => s.name === name),
          target,
        );
        if (!r.done) {
          pending.set(name, r.why);
          continue;
        }
        pending.delete(name);
        if (target === 'destroyed') continue;
        let msg = `Unit ${name} ${target}`;
        if (unit?.machineId) {
          machines ??= await driver
            .listMachines()
            .then((ms) => new Map(ms.map((m) => [m.id, m])))
            .catch(() => new Map<string, MachineInfo>());
          msg += ` on ${machineLegend(unit.machineId, machines, false)}`;
        }
        out.stdout(msg + '\n');
      }
      lastError = undefined;
    } catch (e) {
      if (!isFleetError(e)) throw e;
      if (lastError !== e.message) out.stderr(`fleetctl: warning: ${e.message} (still waiting)\n`);
      lastError = e.message;
      for (const name of pending.keys()) pending.set(name, `last check failed: ${e.message}`);
    }
    if (pending.size === 0) break;
    if (opts.attempts > 0 && attempt >= opts.attempts) break;
    await sleep(opts.intervalMs);
  }
  for (const [name, why] of pending) {
    const what = target === 'destroyed' ? 'to be gone from every machine' : `to report state ${target}`;
    out.stderr(
      `Error waiting for units: timed out waiting for unit ${name} ${what} after ${opts.attempts} attempt${opts.attempts === 1 ? '' : 's'}: ${why}; the change is recorded and fleet keeps working on it (see fleetctl list-units), or wait longer with a larger --block-attempts\n`,
    );
  }
  return [...pending.keys()];
}
