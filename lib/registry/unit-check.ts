/**
 * The default unit-body check: units/parse must accept the file and find at least one option, and
 * the hash is units/canonical's (so comments and spacing do not change it).
 */
import { unitHash } from '../../units/canonical.js';
import { parseUnitFile } from '../../units/parse.js';
import type { UnitBodyCheck } from './records.js';

export const defaultUnitBodyCheck: UnitBodyCheck = (body) => {
  const r = parseUnitFile(body);
  if (!r.ok) return { ok: false, reason: r.error.message };
  if (r.unit.options.length === 0)
    return { ok: false, reason: 'the file sets no option (is it a unit file?)' };
  return { ok: true, hash: unitHash(r.unit) };
};
