/**
 * The checkers, one per rule, in the order the planner asks them. Each returns a Rejection when it
 * says no (cf. fleet's AbleToRun and nomad's feasibility checkers).
 */
import type { ModelMachine } from '../model.js';
import type { ModelUnit } from '../unit-info.js';
import { checkConflicts } from './conflicts.js';
import { checkDraining } from './draining.js';
import { checkMachineId } from './machine-id.js';
import { checkMachineOf } from './machine-of.js';
import { checkMetadata } from './metadata.js';
import { checkReplaces } from './replaces.js';
import type { CheckContext, Checker, Rejection } from './types.js';

export * from './types.js';
export { checkConflicts, checkDraining, checkMachineId, checkMachineOf, checkMetadata, checkReplaces };
export { metadataRejection, metadataSelector } from './metadata.js';
export { displacedBy } from './replaces.js';

/** Rules about the unit and the machine alone (no other unit involved). */
export const STATIC_CHECKERS: readonly Checker[] = [checkDraining, checkMachineId, checkMetadata];

/** Every rule, in order. */
export const ALL_CHECKERS: readonly Checker[] = [
  checkDraining,
  checkMachineId,
  checkMetadata,
  checkMachineOf,
  checkConflicts,
  checkReplaces,
];

/** Rules a unit that runs with another (a socket's service) must also pass on the same machine. */
export const COMPANION_CHECKERS: readonly Checker[] = [
  checkMachineId,
  checkMetadata,
  checkConflicts,
  checkReplaces,
];

/** The first rule that says no, or null. */
export function firstRejection(
  checkers: readonly Checker[],
  unit: ModelUnit,
  machine: ModelMachine,
  ctx: CheckContext,
): Rejection | null {
  for (const c of checkers) {
    const r = c(unit, machine, ctx);
    if (r) return r;
  }
  return null;
}
