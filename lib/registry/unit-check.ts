/**
 * The default unit-body check: units/parse must accept the file, and the hash is units/canonical's.
 */
import { createHash } from 'node:crypto';
import type { UnitBodyCheck } from './records.js';

/** Provisional until units/parse and units/canonical are merged: a [Section] header and sha256. */
export const defaultUnitBodyCheck: UnitBodyCheck = (body) => {
  if (!/^\s*\[[^\]\n]+\]\s*$/m.test(body)) return { ok: false, reason: 'no [Section] header' };
  return { ok: true, hash: createHash('sha256').update(body).digest('hex') };
};
