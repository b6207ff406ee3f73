/**
 * The canonical text of a parsed unit and its content hash.
 *
 * Canonical form: each section that holds at least one option, in order of first appearance, as a
 * `[Section]` line followed by that section's options as `Name=Value` lines in file order (options
 * of a section that is opened several times are gathered under its first header); sections are
 * separated by one empty line and the text ends with a newline. Comments, blank lines, continuation
 * lines, spacing around `=`, line endings and ignored lines leave no trace, so they do not change
 * the hash; any change to an option's section, name, value, or to the order of options within a
 * section does. Empty sections are left out: systemd does nothing with them.
 *
 * The canonical text parses back (parseUnitFile) to the same options, section by section. Two
 * values need care to survive that trip, and get it:
 * - a value ending in an odd number of backslashes gets one trailing space, so the backslash is not
 *   read as a continuation (the space is trimmed away again when parsed);
 * - an option name that starts with a byte order mark, `#` or `;` (possible only after a file's first
 *   byte order mark) gets a byte order mark in front of its line when it is the first such line.
 * One case cannot be written back at all: a name starting with `#` or `;` placed after another line
 * that needs the byte order mark. Such a file has to be hand-made for it; its hash is still stable.
 */

import { createHash } from 'node:crypto';
import { type ParsedUnit, type UnitOption } from './types.js';

const BOM = '\ufeff';

function optionLine(o: UnitOption): string {
  const line = `${o.name}=${o.value}`;
  let run = 0;
  while (run < line.length && line[line.length - 1 - run] === '\\') run++;
  return run % 2 === 1 ? `${line} ` : line;
}

/** The canonical text of `unit` (see the module comment). */
export function canonicalUnitText(unit: ParsedUnit): string {
  const bySection = new Map<string, UnitOption[]>();
  for (const s of unit.sections) bySection.set(s, []);
  for (const o of unit.options) {
    let list = bySection.get(o.section);
    if (!list) {
      list = [];
      bySection.set(o.section, list);
    }
    list.push(o);
  }
  const blocks: string[] = [];
  let bomUsed = false;
  for (const [section, options] of bySection) {
    if (options.length === 0) continue;
    const lines = [`[${section}]`];
    for (const o of options) {
      let line = optionLine(o);
      if (!bomUsed && (line.startsWith(BOM) || line.startsWith('#') || line.startsWith(';'))) {
        line = BOM + line;
        bomUsed = true;
      }
      lines.push(line);
    }
    blocks.push(lines.join('\n') + '\n');
  }
  return blocks.join('\n');
}

export type UnitHashAlgorithm = 'sha256' | 'sha1';

/** Hex digest of the canonical text (UTF-8). sha256 unless told otherwise. */
export function unitHash(unit: ParsedUnit, algorithm: UnitHashAlgorithm = 'sha256'): string {
  return createHash(algorithm).update(canonicalUnitText(unit), 'utf8').digest('hex');
}
