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
    const globs = mine.filter((p) => !isLiteralGlob(p));
    for (const other of globs.length > 0 ? here : []) {
      if (other === unit.name) continue;
      for (const p of globs) {
        if (ctx.matches(p, other)) {
          return {
            rule: 'conflicts',
            key: `Conflicts=${p}`,
            detail: `machine ${machine.id} runs ${other}, which matches Conflicts=${p}`,
          };
        }
      }
    }
  }
  for (const other of ctx.guardedOn(machine.id)) {
    if (other === unit.name) continue;
    const o = ctx.unit(other);
    if (!o) continue;
    for (const p of o.requirements.conflicts) {
      if (ctx.matches(p, unit.name)) {
        return {
          rule: 'conflicts',
          key: `Conflicts=${p} of ${other}`,
          detail: `machine ${machine.id} runs ${other}, whose Conflicts=${p} matches ${unit.name}`,
        };
      }
    }
  }
  return null;
};
