/**
 * The shape every checker shares: one rule, one question ("can this unit go to this machine?"),
 * and when the answer is no, a Rejection saying which rule and why. Pure.
 */
import type { ModelMachine } from '../model.js';
import type { ModelUnit } from '../unit-info.js';

export type Rule = 'draining' | 'machine-id' | 'metadata' | 'machine-of' | 'conflicts' | 'replaces';

export interface Rejection {
  rule: Rule;
  /** What to group rejections of many machines by, e.g. "region=eu-west" or "Conflicts=web*". */
  key: string;
  /** One machine's reason, for logs: "machine m1 has region=us-east". */
  detail: string;
}

/** The planner's working state, as the checkers see it. */
export interface CheckContext {
  unit(name: string): ModelUnit | undefined;
  /** Units (global ones included) placed on the machine now. */
  unitsOn(machineId: string): ReadonlySet<string>;
  /** The units on the machine that have Conflicts= or Replaces= (for the reverse checks). */
  guardedOn(machineId: string): ReadonlySet<string>;
  /** Where a non-global unit is placed now. */
  placement(unit: string): string | undefined;
  /** Whether a unit name matches a Conflicts=/Replaces= glob (fleet's path.Match), memoized. */
  matches(pattern: string, name: string): boolean;
  /** The units this one must run next to: its MachineOf= plus an activating socket. */
  peersOf(unit: ModelUnit): readonly string[];
}

export type Checker = (unit: ModelUnit, machine: ModelMachine, ctx: CheckContext) => Rejection | null;
