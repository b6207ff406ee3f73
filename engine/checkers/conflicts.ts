/**
 * Conflicts=: globs, checked both ways (the unit's patterns against the units on the machine, and
 * the patterns of the units on the machine against the unit), as fleet's hasConflict.
 */
import { globMatch } from '../../units/index.js';
import type { Checker } from './types.js';

export const checkConflicts: Checker = (unit, machine, ctx) => {
  const mine = unit.requirements.conflicts;
  if (mine.length > 0) {
    for (const other of ctx.unitsOn(machine.id)) {
      if (other === unit.name) continue;
      for (const p of mine) {
        if (globMatch(p, other)) {
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
      if (globMatch(p, unit.name)) {
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
