/**
 * Specifier expansion in [X-Fleet] values, as fleet does it (job.go unitPrintf): only `%n`, `%N`,
 * `%p` and `%i` are expanded, from the unit's NAME (never from its contents). Pure: no I/O.
 *
 * fleet                         | fleet-ts
 * ------------------------------|-------------------------------------------------------------
 * %n full name  (foo@bar.service)| same
 * %N name without suffix (foo@bar)| same (fleet's code does not unescape, whatever its docs say)
 * %p prefix (foo)                | same
 * %i instance (bar, '' otherwise)| same
 * %% left as "%%"                | "%" (systemd's meaning; fleet never documented "%%")
 * any other %x: kept verbatim    | kept verbatim, and reported so `verify` can warn
 */
import { parseUnitName } from './names.js';

export const SUPPORTED_SPECIFIERS = ['n', 'N', 'p', 'i'] as const;

export interface SpecifierExpansion {
  value: string;
  /** Specifiers that were kept as they are because fleet does not support them, e.g. `%m`. */
  unsupported: string[];
}

export interface SpecifierValues {
  n: string;
  N: string;
  p: string;
  i: string;
}

/** The values of %n %N %p %i for a valid unit name; throws InvalidUnitNameError otherwise. */
export function specifierValues(unitName: string): SpecifierValues {
  const info = parseUnitName(unitName);
  return { n: info.fullName, N: info.name, p: info.prefix, i: info.instance };
}

/**
 * Expands `%n %N %p %i %%` in `value` for the unit `unitName` in one left-to-right pass (an
 * expanded value is never expanded again). Unknown specifiers and a trailing lone `%` are kept.
 */
export function expandSpecifiers(value: string, unitName: string): SpecifierExpansion {
  const values = specifierValues(unitName);
  return expandWith(value, values);
}

/** Like expandSpecifiers, with the values given directly (e.g. from a cached UnitNameInfo). */
export function expandWith(value: string, values: SpecifierValues): SpecifierExpansion {
  let out = '';
  const unsupported: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch !== '%' || i + 1 >= value.length) {
      out += ch;
      continue;
    }
    const spec = value[i + 1] as string;
    i++;
    if (spec === '%') out += '%';
    else if (spec === 'n' || spec === 'N' || spec === 'p' || spec === 'i') out += values[spec];
    else {
      out += '%' + spec;
      if (!unsupported.includes('%' + spec)) unsupported.push('%' + spec);
    }
  }
  return { value: out, unsupported };
}

/** The specifiers (`%x`, including `%%`) that appear in `value`, in order, without repeats. */
export function specifiersIn(value: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 1 < value.length; i++) {
    if (value[i] !== '%') continue;
    const spec = '%' + (value[i + 1] as string);
    if (!found.includes(spec)) found.push(spec);
    i++;
  }
  return found;
}
