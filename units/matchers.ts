/**
 * Pure checks the scheduler asks about two units or a unit and a machine, each answering with a
 * reason when it says no. fleet: agent/state.go (hasConflict, hasReplace, AbleToRun) and
 * machine.MatchID.
 */
import { globMatch } from './glob.js';

/** fleet's short machine ID length (`fleetctl list-machines` without -l). */
export const SHORT_MACHINE_ID_LENGTH = 8;

/** The name and glob lists of a unit, as the matchers need them. */
export interface UnitGlobs {
  name: string;
  conflicts: readonly string[];
  replaces?: readonly string[];
}

/**
 * Why units `a` and `b` may not share a machine, or null if they may. Checked both ways, as in
 * fleet: a's Conflicts against b's name, then b's Conflicts against a's name. A unit never
 * conflicts with itself (same name).
 */
export function conflictBetween(a: UnitGlobs, b: UnitGlobs): string | null {
  if (a.name === b.name) return null;
  for (const pattern of a.conflicts) {
    if (globMatch(pattern, b.name)) return `${a.name} conflicts with ${b.name} (Conflicts=${pattern})`;
  }
  for (const pattern of b.conflicts) {
    if (globMatch(pattern, a.name)) return `${b.name} conflicts with ${a.name} (Conflicts=${pattern})`;
  }
  return null;
}

/**
 * Whether placing `incoming` next to `existing` displaces `existing` (incoming's Replaces matches
 * it) or is refused because `existing` replaces `incoming`; null when neither, or when both
 * replace each other (fleet ignores such a circle rather than loop forever).
 */
export function replaceBetween(
  incoming: UnitGlobs,
  existing: UnitGlobs,
): { displaces: string; reason: string } | null {
  if (incoming.name === existing.name) return null;
  const forward = (incoming.replaces ?? []).find((p) => globMatch(p, existing.name));
  const backward = (existing.replaces ?? []).find((p) => globMatch(p, incoming.name));
  if ((forward === undefined) === (backward === undefined)) return null;
  if (forward !== undefined) {
    return {
      displaces: existing.name,
      reason: `${incoming.name} replaces ${existing.name} (Replaces=${forward})`,
    };
  }
  return {
    displaces: incoming.name,
    reason: `${existing.name} replaces ${incoming.name} (Replaces=${backward as string})`,
  };
}

/** Whether a MachineID requirement names this machine: its full ID or its 8-character short ID. */
export function machineIdMatches(required: string, machineId: string): boolean {
  return required === machineId || required === machineId.slice(0, SHORT_MACHINE_ID_LENGTH);
}
