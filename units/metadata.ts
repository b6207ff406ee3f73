/**
 * MachineMetadata: parsing one pair, and deciding whether a machine's metadata satisfies a unit.
 * Pure: no I/O.
 *
 * fleet (job.go RequiredTargetMetadata, machine.HasMetadata): a pair is `key=value` with both
 * sides non-empty and exactly one `=`; anything else is silently ignored. The same key repeated
 * means OR; different keys mean AND; a machine has one value per key, compared exactly.
 * Beyond fleet: `key!=value` excludes machines whose `key` is `value` (a machine without the key
 * is not excluded); several `!=` for one key exclude each of those values.
 */

export type MetadataPair =
  { ok: true; key: string; value: string; negated: boolean } | { ok: false; reason: string };

/** Reads one pair from a MachineMetadata value (after fleet's quoted-list split). */
export function parseMetadataPair(text: string): MetadataPair {
  const not = text.indexOf('!=');
  if (not !== -1) {
    const key = text.slice(0, not);
    const value = text.slice(not + 2);
    if (key === '' || value === '' || key.includes('=') || value.includes('=')) {
      return { ok: false, reason: 'expected key!=value with a non-empty key and value and no other "="' };
    }
    return { ok: true, key, value, negated: true };
  }
  const parts = text.split('=');
  if (parts.length !== 2) {
    return {
      ok: false,
      reason:
        parts.length === 1
          ? 'expected key=value (or key!=value) but there is no "="'
          : 'expected key=value (or key!=value) but there is more than one "="',
    };
  }
  const [key, value] = parts as [string, string];
  if (key === '' || value === '')
    return { ok: false, reason: 'expected key=value with a non-empty key and value' };
  return { ok: true, key, value, negated: false };
}

/** What a unit asks of a machine's metadata. Each key maps to the values it accepts/excludes. */
export interface MetadataRequirements {
  machineMetadata: Readonly<Record<string, readonly string[]>>;
  machineMetadataNot: Readonly<Record<string, readonly string[]>>;
}

export type MetadataVerdict = { ok: true } | { ok: false; reason: string };

function quoteList(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(' or ');
}

/**
 * Whether a machine with `metadata` may run a unit with `requirements`, and if not, why (the
 * first unmet requirement, in the unit's order).
 */
export function metadataMatches(
  requirements: MetadataRequirements,
  metadata: Readonly<Record<string, string>>,
): MetadataVerdict {
  for (const [key, wanted] of Object.entries(requirements.machineMetadata)) {
    if (wanted.length === 0) continue;
    if (!Object.hasOwn(metadata, key)) {
      return {
        ok: false,
        reason: `machine has no metadata ${JSON.stringify(key)} (unit needs ${quoteList(wanted)})`,
      };
    }
    const have = metadata[key] as string;
    if (!wanted.includes(have)) {
      return {
        ok: false,
        reason: `machine metadata ${key}=${JSON.stringify(have)} is not ${quoteList(wanted)}`,
      };
    }
  }
  for (const [key, excluded] of Object.entries(requirements.machineMetadataNot)) {
    if (!Object.hasOwn(metadata, key)) continue;
    const have = metadata[key] as string;
    if (excluded.includes(have)) {
      return {
        ok: false,
        reason: `machine metadata ${key}=${JSON.stringify(have)} is excluded by ${key}!=${have}`,
      };
    }
  }
  return { ok: true };
}
