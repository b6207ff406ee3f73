/**
 * What to write so the recorded placement reasons match a plan's (pure): a put for each unit whose
 * reasons are new or changed, a delete for each unit recorded but no longer unplaced. `since` is
 * kept while the reasons stay the same, so an unchanged unit is never rewritten.
 */
import type { PlacementReasonsRecord, ReasonsChange } from '../lib/registry/index.js';
import type { Unplaced } from './planner.js';

export function reasonsChanges(
  recorded: ReadonlyMap<string, PlacementReasonsRecord>,
  unplaced: readonly Unplaced[],
  now: number,
): ReasonsChange[] {
  const out: ReasonsChange[] = [];
  const seen = new Set<string>();
  for (const u of unplaced) {
    seen.add(u.unit);
    const r = recorded.get(u.unit);
    if (r && sameList(r.reasons, u.reasons)) continue;
    out.push({
      type: 'put',
      record: { unit: u.unit, reasons: u.reasons, since: new Date(now).toISOString() },
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
