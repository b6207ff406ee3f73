/**
 * Machine metadata (fleet's `metadata` option): "key=value,key=value".
 *
 * fleet's own reading (config.Config.Metadata): split on ",", each piece split on the first "=",
 * spaces and tabs trimmed around keys and values, the last value of a repeated key wins, and
 * pieces without "=" silently dropped. We keep the syntax and "last wins" (with a warning), but
 * refuse what fleet dropped or could never match, because a machine that silently lacks its
 * metadata makes units unplaceable:
 *   - a piece without "=" or with an empty key or value;
 *   - keys outside [A-Za-z0-9_.-] (first character a letter or digit), at most 128 characters;
 *   - values outside [A-Za-z0-9_.:/@+~-], at most 256 characters: no spaces (an [X-Fleet]
 *     MachineMetadata value cannot contain one), no quotes, and none of = ! < > , which
 *     MachineMetadata operators use.
 * validateMetadataKey / validateMetadataValue are exported for the [X-Fleet] side to share.
 */

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const VALUE = /^[A-Za-z0-9_.:/@+~-]+$/;
export const METADATA_KEY_MAX = 128;
export const METADATA_VALUE_MAX = 256;

export const METADATA_ALLOWED =
  'comma-separated key=value pairs, e.g. region=us-west,disk=ssd; keys: letters, digits, _ . - ' +
  `(starting with a letter or digit, at most ${METADATA_KEY_MAX}); values: letters, digits, _ . : / @ + ~ - ` +
  `(at most ${METADATA_VALUE_MAX})`;

/** Why `key` is not a valid metadata key, or undefined if it is. */
export function validateMetadataKey(key: string): string | undefined {
  if (key === '') return 'the key is empty';
  if (key.length > METADATA_KEY_MAX) return `the key is longer than ${METADATA_KEY_MAX} characters`;
  if (!KEY.test(key))
    return `the key "${key}" has a character other than letters, digits, _ . - (or starts with _ . -)`;
  return undefined;
}

/** Why `value` is not a valid metadata value, or undefined if it is. */
export function validateMetadataValue(value: string): string | undefined {
  if (value === '') return 'the value is empty';
  if (value.length > METADATA_VALUE_MAX) return `the value is longer than ${METADATA_VALUE_MAX} characters`;
  if (!VALUE.test(value))
    return `the value "${value}" has a character other than letters, digits, _ . : / @ + ~ -`;
  return undefined;
}

export interface MetadataParse {
  metadata: Record<string, string>;
  /** Each refused piece, with the reason. Empty when all is well. */
  problems: string[];
  warnings: string[];
}

/** Parses and validates fleet's metadata syntax. Pure. */
export function parseMetadata(raw: string): MetadataParse {
  const metadata: Record<string, string> = {};
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const piece of raw.split(',')) {
    const pair = piece.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) {
      problems.push(`"${pair}" is not key=value`);
      continue;
    }
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const why = validateMetadataKey(key) ?? validateMetadataValue(value);
    if (why) {
      problems.push(`"${pair}": ${why}`);
      continue;
    }
    if (Object.hasOwn(metadata, key)) {
      warnings.push(`metadata key "${key}" is given more than once; the last value "${value}" wins`);
    }
    metadata[key] = value;
  }
  return { metadata, problems, warnings };
}
