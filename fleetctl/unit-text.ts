/**
 * Unit file text <-> the option list of fleet's API (Unit.options). Pure.
 */
import { canonicalUnitText, parseUnitFile } from '../units/index.js';
import type { UnitOptionRecord } from './driver.js';

/** The options of a unit file (empty when it does not parse: the registry never holds such a body). */
export function optionsOfBody(body: string): UnitOptionRecord[] {
  const p = parseUnitFile(body);
  if (!p.ok) return [];
  return p.unit.options.map((o) => ({ section: o.section, name: o.name, value: o.value }));
}

/** A unit file with these options, in canonical form (the same content hash as any original). */
export function bodyOfOptions(options: readonly UnitOptionRecord[]): string {
  return canonicalUnitText({
    options: options.map((o, i) => ({ section: o.section, name: o.name, value: o.value, line: i + 1 })),
    sections: [],
    warnings: [],
  });
}
