/**
 * What to write so the recorded placement reasons match a plan's (pure): a put for each unit whose
 * reasons are new or changed, a delete for each unit recorded but no longer unplaced. `since` is
 * kept while the reasons stay the same, so an unchanged unit is never rewritten.
 */
import type { PlacementReasonsRecord, ReasonsChange } from '../lib/registry/index.js';
import type { Unplaced } from './planner.js';

/** A unit key holding a value fleet cannot use: the name to record it under, and why. */
export interface InvalidUnit {
  /** The unit name, or invalidUnitKeyName() of a key that is not a unit name. */
  unit: string;
  key: string;
  reason: string;
}

/**
 * The reasons to record: the plan's unplaced units, and every invalid unit key (its reason replaces
 * whatever the plan says of the unit's last good value). Pure.
 */
export function withInvalidUnits(
  unplaced: readonly Unplaced[],
  invalid: readonly InvalidUnit[],
): (Unplaced & { invalid?: string })[] {
  const bad = new Map(invalid.map((i) => [i.unit, i]));
  const out: (Unplaced & { invalid?: string })[] = unplaced.filter((u) => !bad.has(u.unit));
  for (const i of [...bad.values()].sort((a, b) => (a.unit < b.unit ? -1 : 1))) {
    out.push({
      unit: i.unit,
      reasons: [`${i.key} is invalid: ${i.reason}; fix or delete the key (see docs/etcd-schema.md)`],
      invalid: i.reason,
    });
  }
  return out;
}

export function reasonsChanges(
  recorded: ReadonlyMap<string, PlacementReasonsRecord>,
  unplaced: readonly (Unplaced & { invalid?: string })[],
  now: number,
): ReasonsChange[] {
  const out: ReasonsChange[] = [];
  const seen = new Set<string>();
  for (const u of unplaced) {
    seen.add(u.unit);
    const r = recorded.get(u.unit);
    if (r && sameList(r.reasons, u.reasons) && r.invalid === u.invalid) continue;
    out.push({
      type: 'put',
      record: {
        unit: u.unit,
        reasons: u.reasons,
        since: new Date(now).toISOString(),
        ...(u.invalid !== undefined ? { invalid: u.invalid } : {}),
      },
    });
  }
  for (const unit of [...recorded.keys()].sort()) {
    if (!seen.has(unit)) out.push({ type: 'delete', unit });
  }
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
