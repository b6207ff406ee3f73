/**
 * The systemd unit-file grammar, read exactly as systemd 252 reads a unit file (its config parser),
 * as a pure function: text or bytes in, a ParsedUnit or a typed UnitParseError out. Never throws.
 *
 * The rules, in the order systemd applies them to each physical line (see physical-lines.ts for how
 * the file is cut into lines):
 * 1. A line whose first non-blank character is `#` or `;` is a comment and skipped, even in the
 *    middle of a continued line (the continuation goes on after it). Only spaces and tabs count as
 *    blanks here; a byte order mark in front of `#` makes the line NOT a comment.
 * 2. The first line that starts with a UTF-8 byte order mark loses it (only that one line).
 * 3. A line that ends in an unescaped backslash (an odd number of trailing backslashes, checked on
 *    the raw line, so `\` followed by blanks does not count) continues on the next line: the
 *    backslash becomes a space and the next line is appended as is. Continued lines together may
 *    hold at most LONG_LINE_MAX bytes. A continuation still open at the end of the file is read as
 *    a line of its own (systemd numbers it one past the last line).
 * 4. The logical line is trimmed of spaces, tabs, CR and LF; an empty line is skipped.
 * 5. It must be valid UTF-8 (utf8.ts), else the file is refused.
 * 6. `[...]` is a section header; a line starting with `[` but not ending with `]` refuses the file.
 *    The name is everything between the brackets, blanks included; a name holding a control
 *    character (U+0001..U+001F, U+007F), a quote (" or ') or a backslash refuses the file.
 * 7. Before the first header, an assignment is ignored with a warning.
 * 8. A line with no `=` or nothing before it is ignored with a warning; else the key (before the first
 *    `=`) and the value (after it) are each trimmed. Quotes and further `=` stay in the value verbatim.
 *
 * An empty (zero-byte) file parses with an `empty-file` warning: systemd takes it as masked.
 * Lines systemd skips without a word (inside [X-...] sections, or sections unknown for `unitType`)
 * still get a warning here, marked `systemdSilent`, because fleet reads [X-Fleet].
 *
 * On top of systemd, fleet-ts refuses files over `maxBytes` (default 1 MiB: a unit body lives in
 * etcd) and files containing NUL bytes (systemd silently ends the line at a NUL); both can be turned
 * off to get systemd's behaviour exactly.
 *
 * Every rule above is checked against systemd 252 itself on the files in
 * test/fixtures/systemd-grammar/ (record.sh asks `systemd-analyze verify`, record-pid1.sh a booted
 * PID 1); unknown option NAMES are not judged here (that needs systemd's per-type option tables).
 */

import { type ParseWarning, type ParsedUnit, type UnitOption } from './types.js';
import { UnitParseError } from './parse-error.js';
import { LONG_LINE_MAX, physicalLine, readPhysicalLine } from './physical-lines.js';
import { asBuffer, asciiEnd, decodeUtf8, findInvalidUtf8, stringToBytes } from './utf8.js';
import { isExtensionSection, knownSections, type UnitType } from './sections.js';

export { UnitParseError, type UnitParseErrorCode } from './parse-error.js';
export { LONG_LINE_MAX } from './physical-lines.js';
export { lastValue, listValues } from './values.js';
export { UNIT_TYPES, isUnitType, knownSections, type UnitType } from './sections.js';

/** fleet-ts's default cap on a unit file's size in bytes. */
export const DEFAULT_MAX_BYTES = 1024 * 1024;

export interface ParseOptions {
  /** Refuse files larger than this many bytes (default DEFAULT_MAX_BYTES; Infinity = no cap, as systemd). */
  maxBytes?: number;
  /** Treat a NUL byte as systemd does (it ends the line) instead of refusing the file. Default false. */
  allowNul?: boolean;
  /**
   * The unit's type (its name's suffix). When given, sections systemd does not read for that type
   * get systemd's "Unknown section" warning. Without it every section is taken as known.
   */
  unitType?: UnitType;
}

export type ParseWarningCode =
  'assignment-outside-section' | 'missing-equals' | 'missing-key' | 'unknown-section' | 'empty-file';

export type ParseResult = { ok: true; unit: ParsedUnit } | { ok: false; error: UnitParseError };

const SPACE = 0x20;
const TAB = 0x09;
const BACKSLASH = 0x5c;
const BOM = [0xef, 0xbb, 0xbf] as const;

function isBlankByte(b: number): boolean {
  return b === SPACE || b === TAB || b === 0x0a || b === 0x0d;
}

/** Trims spaces, tabs, CR and LF at both ends, in linear time (a regex here is quadratic on long blank runs). */
function trimBlanks(s: string): string {
  let a = 0;
  let b = s.length;
  // Code units compare like the bytes: the four blanks are ASCII, and no other character's UTF-16
  // code unit has their values.
  while (a < b && isBlankByte(s.charCodeAt(a))) a++;
  while (b > a && isBlankByte(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** A short, printable rendering of (part of) a line for messages. */
function show(s: string, max = 60): string {
  const cut = s.length > max ? `${s.slice(0, max)}...` : s;
  return JSON.stringify(cut);
}

/** The first character systemd does not allow in a section name: a control character, quote or backslash. */
function badSectionChar(name: string): string | undefined {
  for (const c of name) {
    const code = c.charCodeAt(0);
    if ((code >= 0x01 && code <= 0x1f) || code === 0x7f || c === '"' || c === "'" || c === '\\') return c;
  }
  return undefined;
}

function describeChar(c: string): string {
  if (c === '"' || c === "'") return `a quote (${c})`;
  if (c === '\\') return 'a backslash';
  return `a control character (U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')})`;
}

function hex(bytes: number[]): string {
  return bytes.map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
}

function startsWithBom(bytes: Uint8Array, start: number, end: number): boolean {
  return (
    end - start >= 3 && bytes[start] === BOM[0] && bytes[start + 1] === BOM[1] && bytes[start + 2] === BOM[2]
  );
}

/**
 * A continued logical line as one buffer: each physical line `bytes[pieces[k], pieces[k + 1])` with
 * its trailing backslash turned into a space, then the last one, `bytes[start, end)`, as is.
 *
 * The pieces are kept as offsets and copied once at the end rather than copied one by one as they
 * come: a long continued line (a 1 MB one has some 200,000 pieces) would otherwise keep that many
 * small arrays alive until its end, and the collector copying them made parsing it superlinear.
 */
function joinContinued(
  bytes: Uint8Array,
  pieces: number[],
  length: number,
  start: number,
  end: number,
): Buffer {
  const out = Buffer.alloc(length + end - start);
  let at = 0;
  for (let k = 0; k < pieces.length; k += 2) {
    const a = pieces[k] as number;
    const b = pieces[k + 1] as number;
    out.set(bytes.subarray(a, b), at);
    at += b - a;
    out[at - 1] = SPACE;
  }
  out.set(bytes.subarray(start, end), at);
  return out;
}

/** State carried from one logical line to the next. */
interface Reader {
  unitType: UnitType | undefined;
  section: string | undefined;
  /** True while inside a section systemd skips as a whole. */
  sectionSkipped: boolean;
  sections: string[];
  seenSections: Set<string>;
  options: UnitOption[];
  warnings: ParseWarning[];
}

function warn(
  r: Reader,
  code: ParseWarningCode,
  line: number,
  systemdLine: number,
  message: string,
  silent = false,
): void {
  const w: ParseWarning = { line, message, code };
  if (systemdLine !== line) w.systemdLine = systemdLine;
  if (silent) w.systemdSilent = true;
  r.warnings.push(w);
}

/** The UnitParseError option naming systemd's line, when it differs. */
function where(line: number, systemdLine: number): { systemdLine?: number } {
  return systemdLine !== line ? { systemdLine } : {};
}

/**
 * Applies rules 4-8 to one logical line, `bytes[start, end)`. Returns an error to refuse the file.
 *
 * `ascii`, when given, is the whole file as a string of pure ASCII, so that byte i of `bytes` is
 * its character i: the line's text is then a slice of it, without decoding or checking anything
 * (ASCII is valid UTF-8). It is given only while `bytes` is the file itself, not a continued line
 * put together in a new buffer.
 */
function logicalLine(
  r: Reader,
  bytes: Buffer,
  start: number,
  end: number,
  ascii: string | undefined,
  line: number,
  systemdLine: number,
): UnitParseError | undefined {
  let s = start;
  let e = end;
  while (s < e && isBlankByte(bytes[s] as number)) s++;
  while (e > s && isBlankByte(bytes[e - 1] as number)) e--;
  if (s === e) return undefined;

  let text: string;
  if (ascii !== undefined) {
    text = ascii.slice(s, e);
  } else {
    // Only the part from the first non-ASCII byte on can be invalid (ASCII bytes are valid UTF-8
    // on their own and never part of a multi-byte sequence), so the check starts there; a line with
    // no such byte is decoded with the cheaper one-byte decoder.
    const firstNonAscii = asciiEnd(bytes, s, e);
    const bad = firstNonAscii < e ? findInvalidUtf8(bytes, firstNonAscii, e) : undefined;
    if (bad) {
      return new UnitParseError(
        'invalid-utf8',
        line,
        `the line is not valid UTF-8 (bytes ${hex(bad.bytes)} at column ${bad.offset - s + 1}); ` +
          'systemd refuses the whole file. Save the file as UTF-8 or comment the line out with #.',
        where(line, systemdLine),
      );
    }
    text = decodeUtf8(bytes, s, e, firstNonAscii === e);
  }

  if (text.startsWith('[')) {
    if (!text.endsWith(']') || text.length < 2) {
      return new UnitParseError(
        'invalid-section-header',
        line,
        `invalid section header ${show(text)}: it starts with '[' but does not end with ']'; ` +
          'systemd refuses the whole file. Close the bracket and put nothing after it on that line ' +
          '(a comment must go on its own line).',
        where(line, systemdLine),
      );
    }
    const name = text.slice(1, -1);
    const bad = badSectionChar(name);
    if (bad !== undefined) {
      return new UnitParseError(
        'bad-section-name',
        line,
        `section header ${show(text)} holds ${describeChar(bad)}; systemd refuses the whole file ` +
          'when a section name contains a control character, a quote or a backslash. ' +
          'Use a plain name such as [Unit], [Service] or [X-Fleet].',
        where(line, systemdLine),
      );
    }
    r.section = name;
    if (!r.seenSections.has(name)) {
      r.seenSections.add(name);
      r.sections.push(name);
    }
    r.sectionSkipped = isExtensionSection(name);
    if (r.unitType && !r.sectionSkipped && !knownSections(r.unitType).includes(name)) {
      r.sectionSkipped = true;
      const known = knownSections(r.unitType)
        .map((k) => `[${k}]`)
        .join(', ');
      warn(
        r,
        'unknown-section',
        line,
        systemdLine,
        `unknown section [${name}] for a .${r.unitType} unit; systemd ignores it and every line in it. ` +
          `Use ${known}, or start the name with X- for a section only other tools read.`,
      );
    }
    return undefined;
  }

  if (r.section === undefined) {
    warn(
      r,
      'assignment-outside-section',
      line,
      systemdLine,
      `${show(text)} comes before any section header; systemd ignores it. ` +
        'Move it below the header of the section it belongs to, e.g. [Unit].',
    );
    return undefined;
  }

  const eq = text.indexOf('=');
  if (eq < 0) {
    warn(
      r,
      'missing-equals',
      line,
      systemdLine,
      `${show(text)} in [${r.section}] has no '='; systemd ignores the line. ` +
        'Write it as Name=Value, or comment it out with #.',
      r.sectionSkipped,
    );
    return undefined;
  }
  if (eq === 0) {
    warn(
      r,
      'missing-key',
      line,
      systemdLine,
      `${show(text)} in [${r.section}] has no option name before '='; systemd ignores the line. ` +
        'Put the option name before the =.',
      r.sectionSkipped,
    );
    return undefined;
  }
  const option: UnitOption = {
    section: r.section,
    name: trimBlanks(text.slice(0, eq)),
    value: trimBlanks(text.slice(eq + 1)),
    line,
  };
  if (systemdLine !== line) option.systemdLine = systemdLine;
  r.options.push(option);
  return undefined;
}

/**
 * Parses the file `bytes`. `ascii` is the same file as a string when it is pure ASCII (so that byte
 * offsets are string offsets; see logicalLine), else undefined.
 */
function parseBytes(bytes: Uint8Array, ascii: string | undefined, opts: ParseOptions): ParseResult {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes) {
    return {
      ok: false,
      error: new UnitParseError(
        'too-large',
        0,
        `the file is ${bytes.length} bytes; fleet accepts unit files of at most ${maxBytes} bytes ` +
          '(a unit is stored in etcd). Keep large data in a separate file the unit reads, ' +
          'e.g. with EnvironmentFile=.',
      ),
    };
  }
  const r: Reader = {
    unitType: opts.unitType,
    section: undefined,
    sectionSkipped: false,
    sections: [],
    seenSections: new Set(),
    options: [],
    warnings: [],
  };
  if (bytes.length === 0) {
    warn(
      r,
      'empty-file',
      0,
      0,
      'the file is empty; systemd treats an empty unit file as masked, so the unit can never start. ' +
        'Write at least a [Unit] section, or remove the file.',
    );
  }

  const buf = asBuffer(bytes);
  const next = physicalLine();
  let pos = 0;
  let physical = 0;
  let bomSeen = false;
  /**
   * The continued line so far, as start/end offsets of its physical lines (see joinContinued; each
   * ends in the backslash that becomes a space), its length in bytes, and where it began.
   */
  let continued: number[] | undefined;
  let continuedBytes = 0;
  let continuedFrom = 0;

  for (;;) {
    const after = readPhysicalLine(bytes, pos, LONG_LINE_MAX, next);
    if (after < 0) break;
    pos = after;
    if (next.tooLong) {
      return {
        ok: false,
        error: new UnitParseError(
          'line-too-long',
          physical + 1,
          `the line is ${LONG_LINE_MAX} bytes or longer; systemd refuses the whole file ` +
            `(its limit is ${LONG_LINE_MAX - 1} bytes per line). Split the value over several ` +
            'lines ending in \\, or move the data to a separate file.',
        ),
      };
    }
    physical++;
    if (next.endedByNul && !opts.allowNul) {
      const col = bytes.subarray(next.end, pos).indexOf(0) + next.end - next.start + 1;
      return {
        ok: false,
        error: new UnitParseError(
          'nul-byte',
          physical,
          `the file contains a NUL byte (at column ${col}); systemd would silently end the line there, ` +
            'so this is probably a binary or corrupted file. Remove the NUL bytes.',
        ),
      };
    }

    let start = next.start;
    const end = next.end;
    let k = start;
    while (k < end && (bytes[k] === SPACE || bytes[k] === TAB)) k++;
    if (k < end && (bytes[k] === 0x23 || bytes[k] === 0x3b)) continue;

    if (!bomSeen && startsWithBom(bytes, start, end)) {
      start += 3;
      bomSeen = true;
    }

    if (continued !== undefined && continuedBytes + (end - start) > LONG_LINE_MAX) {
      return {
        ok: false,
        error: new UnitParseError(
          'continuation-too-long',
          physical,
          `the line continued (with a trailing \\) from line ${continuedFrom} grows past ${LONG_LINE_MAX} ` +
            'bytes here; systemd refuses the whole file. Shorten the value or move the data to a separate file.',
        ),
      };
    }

    let run = 0;
    while (end - run > start && bytes[end - 1 - run] === BACKSLASH) run++;
    if (run % 2 === 1) {
      // Continues: the backslash becomes a space (when the pieces are joined).
      if (continued === undefined) {
        continued = [];
        continuedBytes = 0;
        continuedFrom = physical;
      }
      continued.push(start, end);
      continuedBytes += end - start;
      continue;
    }

    let err: UnitParseError | undefined;
    if (continued !== undefined) {
      const logical = joinContinued(bytes, continued, continuedBytes, start, end);
      continued = undefined;
      err = logicalLine(r, logical, 0, logical.length, undefined, continuedFrom, physical);
    } else {
      err = logicalLine(r, buf, start, end, ascii, physical, physical);
    }
    if (err) return { ok: false, error: err };
  }

  if (continued !== undefined) {
    const logical = joinContinued(bytes, continued, continuedBytes, 0, 0);
    const err = logicalLine(r, logical, 0, logical.length, undefined, continuedFrom, physical + 1);
    if (err) return { ok: false, error: err };
  }

  return { ok: true, unit: { options: r.options, sections: r.sections, warnings: r.warnings } };
}

/**
 * Parses a unit file. `text` is either the file's bytes or an already decoded string (a string with
 * lone UTF-16 surrogates is treated as the invalid UTF-8 it stands for). Never throws.
 */
export function parseUnitFile(text: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  try {
    if (typeof text !== 'string' && !(text instanceof Uint8Array)) {
      return {
        ok: false,
        error: new UnitParseError(
          'internal',
          0,
          `expected the unit file as a string or bytes, got ${text === null ? 'null' : typeof text}. ` +
            'This is a bug in the caller.',
        ),
      };
    }
    if (typeof text !== 'string') return parseBytes(text, undefined, opts);
    // The grammar reads bytes, always; a string is encoded first. When it is pure ASCII (its bytes
    // are as many as its characters, see stringToBytes), the string itself serves as the decoded
    // text of every line.
    const bytes = stringToBytes(text);
    return parseBytes(bytes, bytes.length === text.length ? text : undefined, opts);
  } catch (cause) {
    return {
      ok: false,
      error: new UnitParseError(
        'internal',
        0,
        `the unit-file parser failed unexpectedly (${cause instanceof Error ? cause.message : String(cause)}). ` +
          'This is a bug in fleet-ts; please report it with the file.',
        { cause },
      ),
    };
  }
}
