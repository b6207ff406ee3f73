/**
 * Which sections systemd 252 reads for each unit type. A section outside this list is skipped
 * as a whole: silently when its name starts with `X-`, with an "Unknown section" warning otherwise.
 * (Checked with systemd-analyze verify 252 for every type that can be loaded from a file; scope
 * units only exist as transient units, so their list could not be checked the same way.)
 */

export const UNIT_TYPES = [
  'service',
  'socket',
  'target',
  'device',
  'mount',
  'automount',
  'swap',
  'timer',
  'path',
  'slice',
  'scope',
] as const;

export type UnitType = (typeof UNIT_TYPES)[number];

export function isUnitType(s: string): s is UnitType {
  return (UNIT_TYPES as readonly string[]).includes(s);
}

/** The sections systemd reads for a unit of this type, e.g. ['Unit', 'Service', 'Install']. */
export function knownSections(type: UnitType): readonly string[] {
  return ['Unit', type.charAt(0).toUpperCase() + type.slice(1), 'Install'];
}

/** True when systemd skips this section without a word (extension sections such as [X-Fleet]). */
export function isExtensionSection(name: string): boolean {
  return name.startsWith('X-');
}
