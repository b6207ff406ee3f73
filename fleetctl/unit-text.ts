/**
 * Unit file text <-> the option list of fleet's API (Unit.options). Pure.
 */
import { canonicalUnitText, isTruthy, loadUnit, parseUnitFile } from '../units/index.js';
import type { UnitOptionRecord } from './driver.js';

/** The options of a unit file (empty when it does not parse: the registry never holds such a body). */
export function optionsOfBody(body: string): UnitOptionRecord[] {
  const p = parseUnitFile(body);
  if (!p.ok) return [];
  return p.unit.options.map((o) => ({ section: o.section, name: o.name, value: o.value }));
}

/** [X-Fleet] Global= (the last one wins, as systemd reads repeated options). */
export function isGlobalOptions(options: readonly UnitOptionRecord[]): boolean {
  let global = false;
  for (const o of options) if (o.section === 'X-Fleet' && o.name === 'Global') global = isTruthy(o.value);
  return global;
}

/** The content hash of a unit file ('' when it does not parse). */
export function hashOfBody(name: string, body: string): string {
  return loadUnit(name, body).hash ?? '';
}

/** A unit file with these options, in canonical form (the same content hash as any original). */
export function bodyOfOptions(options: readonly UnitOptionRecord[]): string {
  return canonicalUnitText({
    options: options.map((o, i) => ({ section: o.section, name: o.name, value: o.value, line: i + 1 })),
    sections: [],
    warnings: [],
  });
}
