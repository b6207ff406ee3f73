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

import { hash } from 'node:crypto';
import { type ParsedUnit, type UnitOption } from './types.js';

const BOM = '\ufeff';
const BACKSLASH = 0x5c;

/**
 * The `Name=Value` line of `o`, with the trailing space an odd backslash run needs. The run is
 * counted on the value alone: the line ends with the value, and the `=` in front of it stops any run.
 */
function optionLine(o: UnitOption): string {
  const v = o.value;
  let run = 0;
  while (run < v.length && v.charCodeAt(v.length - 1 - run) === BACKSLASH) run++;
  return run % 2 === 1 ? `${o.name}=${v} ` : `${o.name}=${v}`;
}

/** Whether a line starting with `name` needs the byte order mark in front (see the module comment). */
function needsBom(name: string): boolean {
  // The line starts with the name (an empty name leaves `=` first, which needs nothing).
  return name.startsWith(BOM) || name.startsWith('#') || name.startsWith(';');
}

/**
 * Whether the options are already grouped as the canonical text lists them: each section's options
 * in one run, the runs in the order their sections first appear in `unit.sections`. That is what
 * the parser gives unless a section is opened twice, and it lets canonicalUnitText write the
 * options in one pass, in the order they come.
 */
function inCanonicalOrder(unit: ParsedUnit): boolean {
  let section: string | undefined;
  let index = -1;
  for (const o of unit.options) {
    if (o.section === section) continue;
    // A new run: its section must come after the previous run's, at its first appearance (as in
    // the Map canonicalUnitText builds otherwise). A section seen before fails here (its index is
    // not larger), and so does one missing from unit.sections (-1).
    const at = unit.sections.indexOf(o.section);
    if (at <= index) return false;
    section = o.section;
    index = at;
  }
  return true;
}

/** The canonical text of `unit` (see the module comment). */
export function canonicalUnitText(unit: ParsedUnit): string {
  // The common case, without a Map of arrays: the options in the order they come, a header
  // whenever the section changes (a section without options never gets one). This gives the same
  // text as the general case below for options in canonical order.
  if (inCanonicalOrder(unit)) {
    let text = '';
    let section: string | undefined;
    let bomUsed = false;
    for (const o of unit.options) {
      if (o.section !== section) {
        text += section === undefined ? `[${o.section}]\n` : `\n[${o.section}]\n`;
        section = o.section;
      }
      if (!bomUsed && needsBom(o.name)) {
        text += BOM;
        bomUsed = true;
      }
      text += optionLine(o) + '\n';
    }
    return text;
  }

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
      if (!bomUsed && needsBom(o.name)) {
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
  // crypto.hash (Node >= 20.12; package.json asks for >= 20.19) is the one-shot form of
  // createHash(algorithm).update(text, 'utf8').digest('hex'): the same digest of the same UTF-8
  // bytes, without a Hash object per call.
  return hash(algorithm, canonicalUnitText(unit), 'hex');
}
