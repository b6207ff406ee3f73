/**
 * Conflicts=: globs, checked both ways (the unit's patterns against the units on the machine, and
 * the patterns of the units on the machine against the unit), as fleet's hasConflict.
 */
import { isLiteralGlob } from './glob-cache.js';
import type { Checker } from './types.js';

export const checkConflicts: Checker = (unit, machine, ctx) => {
  const mine = unit.requirements.conflicts;
  if (mine.length > 0) {
    const here = ctx.unitsOn(machine.id);
    for (const p of mine) {
      // A plain name needs no walk over the machine's units.
      if (isLiteralGlob(p) && p !== unit.name && here.has(p)) {
        return {
          rule: 'conflicts',
          key: `Conflicts=${p}`,
          detail: `machine ${machine.id} runs ${p}, which matches Conflicts=${p}`,
        };
      }
    }
    // Of several units that match, always the same one is named (the first by name), whatever
    // order the machine's set is in.
    const globs = mine.filter((p) => !isLiteralGlob(p));
    let hit: { other: string; p: string } | undefined;
    for (const other of globs.length > 0 ? here : []) {
      if (other === unit.name || (hit && hit.other < other)) continue;
      const p = globs.find((g) => ctx.matches(g, other));
      if (p !== undefined) hit = { other, p };
    }
    if (hit) {
      return {
        rule: 'conflicts',
        key: `Conflicts=${hit.p}`,
        detail: `machine ${machine.id} runs ${hit.other}, which matches Conflicts=${hit.p}`,
      };
    }
  }
  let theirs: { other: string; p: string } | undefined;
  for (const other of ctx.guardedOn(machine.id)) {
    if (other === unit.name || (theirs && theirs.other < other)) continue;
    const p = ctx.unit(other)?.requirements.conflicts.find((g) => ctx.matches(g, unit.name));
    if (p !== undefined) theirs = { other, p };
  }
  if (theirs) {
    return {
      rule: 'conflicts',
      key: `Conflicts=${theirs.p} of ${theirs.other}`,
      detail: `machine ${machine.id} runs ${theirs.other}, whose Conflicts=${theirs.p} matches ${unit.name}`,
    };
  }
  return null;
};
