/**
 * Replaces=: a unit may go where a unit it replaces runs (that one is then moved away), but not
 * where a unit that replaces it runs. Two units replacing each other are ignored, as in fleet's
 * hasReplace (a circle would move them forever).
 */
import { replaceBetween } from '../../units/index.js';
import type { CheckContext, Checker } from './types.js';
import type { ModelUnit } from '../unit-info.js';

export const checkReplaces: Checker = (unit, machine, ctx) => {
  // Of several units that replace it, always the same one is named (the first by name).
  let hit: { other: string; reason: string } | undefined;
  for (const other of ctx.guardedOn(machine.id)) {
    if (other === unit.name || (hit && hit.other < other)) continue;
    const o = ctx.unit(other);
    if (!o || o.requirements.replaces.length === 0) continue;
    const r = replaceBetween(globsOf(unit), globsOf(o));
    if (r && r.displaces === unit.name) hit = { other, reason: r.reason };
  }
  if (!hit) return null;
  return {
    rule: 'replaces',
    key: `Replaces= of ${hit.other}`,
    detail: `machine ${machine.id} runs ${hit.other}: ${hit.reason}`,
  };
};

/** The units on the machine that placing `unit` there displaces. */
export function displacedBy(unit: ModelUnit, machineId: string, ctx: CheckContext): string[] {
  if (unit.requirements.replaces.length === 0) return [];
  const out: string[] = [];
  for (const other of ctx.unitsOn(machineId)) {
    if (other === unit.name) continue;
    const o = ctx.unit(other);
    if (!o) continue;
    const r = replaceBetween(globsOf(unit), globsOf(o));
    if (r && r.displaces === other) out.push(other);
  }
  return out.sort();
}

function globsOf(u: ModelUnit): { name: string; conflicts: readonly string[]; replaces: readonly string[] } {
  return { name: u.name, conflicts: u.requirements.conflicts, replaces: u.requirements.replaces };
}
