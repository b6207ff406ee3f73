/**
 * Reading option values the way systemd applies repeated assignments, in file order.
 */

import { type ParsedUnit } from './types.js';

/**
 * The value of a single-valued option: the last assignment wins. Undefined when the option is not
 * set at all; '' when its last assignment is empty (for most options systemd then uses the default).
 */
export function lastValue(unit: ParsedUnit, section: string, name: string): string | undefined {
  for (let i = unit.options.length - 1; i >= 0; i--) {
    const o = unit.options[i];
    if (o && o.section === section && o.name === name) return o.value;
  }
  return undefined;
}

/**
 * The assignments of a list-valued option in file order, where an empty assignment (`Name=`) empties
 * the list built so far. Each entry is one assignment's raw value: splitting a value into words
 * (e.g. `After=a.service b.service`) is up to the option's own rules.
 */
export function listValues(unit: ParsedUnit, section: string, name: string): string[] {
  let out: string[] = [];
  for (const o of unit.options) {
    if (o.section !== section || o.name !== name) continue;
    if (o.value === '') out = [];
    else out.push(o.value);
  }
  return out;
}
