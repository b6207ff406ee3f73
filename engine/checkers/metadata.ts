/**
 * MachineMetadata=: values of one key are alternatives (OR), different keys must all match (AND);
 * beyond fleet, `key!=value` excludes. The key of a rejection is the requirement that failed, so
 * many machines failing the same one are counted together.
 */
import { metadataMatches } from '../../units/index.js';
import type { ModelMachine } from '../model.js';
import type { Checker, Rejection } from './types.js';

export const checkMetadata: Checker = (unit, machine) => metadataRejection(unit.requirements, machine);

export function metadataRejection(
  req: {
    machineMetadata: Readonly<Record<string, readonly string[]>>;
    machineMetadataNot: Readonly<Record<string, readonly string[]>>;
  },
  machine: ModelMachine,
): Rejection | null {
  const md = machine.metadata;
  for (const [key, wanted] of Object.entries(req.machineMetadata)) {
    if (wanted.length === 0) continue;
    const have = Object.hasOwn(md, key) ? md[key] : undefined;
    if (have === undefined || !wanted.includes(have)) {
      const verdict = metadataMatches(req, md);
      return {
        rule: 'metadata',
        key: wanted.map((v) => `${key}=${v}`).join(' or '),
        detail: `machine ${machine.id}: ${verdict.ok ? 'metadata does not match' : verdict.reason}`,
      };
    }
  }
  for (const [key, excluded] of Object.entries(req.machineMetadataNot)) {
    const have = Object.hasOwn(md, key) ? md[key] : undefined;
    if (have !== undefined && excluded.includes(have)) {
      return {
        rule: 'metadata',
        key: `${key}!=${have}`,
        detail: `machine ${machine.id} has ${key}=${have}, which the unit excludes`,
      };
    }
  }
  return null;
}

/** A stable key for "the same metadata requirement" (units sharing it share a machine index). */
export function metadataSelector(req: {
  machineMetadata: Readonly<Record<string, readonly string[]>>;
  machineMetadataNot: Readonly<Record<string, readonly string[]>>;
}): string | null {
  if (!anyValue(req.machineMetadata) && !anyValue(req.machineMetadataNot)) return null;
  const pos = Object.entries(req.machineMetadata).filter(([, v]) => v.length > 0);
  const neg = Object.entries(req.machineMetadataNot).filter(([, v]) => v.length > 0);
  const norm = (e: [string, readonly string[]][]) =>
    e.map(([k, v]) => [k, [...v].sort()] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return JSON.stringify([norm(pos), norm(neg)]);
}

/** Whether any key has a value (checked without building arrays: most units have no metadata). */
function anyValue(m: Readonly<Record<string, readonly string[]>>): boolean {
  for (const k in m) if (m[k]!.length > 0) return true;
  return false;
}
