/**
 * Splits a file into physical lines the way systemd 252 reads a unit file (its read_line with the
 * LONG_LINE_MAX limit):
 *
 * - `\n`, `\r` and NUL all end a line. A run of end-of-line bytes counts as ONE line end as long as
 *   no kind repeats and nothing follows a NUL: `\r\n`, `\n\r`, `\r\n\0`, `\n\0` are one line end each,
 *   while `\n\n`, `\r\r` and `\0\0` are two (the second starts an empty line).
 * - A line whose content (end-of-line bytes excluded) is LONG_LINE_MAX bytes or longer is refused;
 *   systemd then refuses the whole file.
 * - End of file ends the last line; a file ending in a line end has no extra empty line.
 */

/** systemd's LONG_LINE_MAX: 1 MiB. A physical line must stay below it, a continued line at or below it. */
export const LONG_LINE_MAX = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/**
 * One physical line: content is bytes[start, end); `endedByNul` is set when a NUL byte ended it.
 * `tooLong` is set (and `end`, `endedByNul` are meaningless) when the line reaches the limit.
 *
 * The reader fills one such object in place for every line instead of returning a new one: a unit
 * file is read line by line at every engine start, 100,000 files at a time, and the allocations
 * showed in the profile.
 */
export interface PhysicalLine {
  start: number;
  end: number;
  endedByNul: boolean;
  tooLong: boolean;
}

/** A PhysicalLine to pass to readPhysicalLine (one per file being read). */
export function physicalLine(): PhysicalLine {
  return { start: 0, end: 0, endedByNul: false, tooLong: false };
}

function eolKind(b: number): number {
  return b === LF ? 2 : b === CR ? 4 : b === NUL ? 1 : 0;
}

/**
 * Reads the physical line at `pos` into `line` and returns where the next line starts (the caller
 * advances to it), or -1 at end of input (`line` is then left as it was).
 */
export function readPhysicalLine(bytes: Uint8Array, pos: number, limit: number, line: PhysicalLine): number {
  const len = bytes.length;
  if (pos >= len) return -1;
  const start = pos;
  let i = pos;
  while (i < len) {
    const b = bytes[i] as number;
    if (b === LF || b === CR || b === NUL) break;
    i++;
  }
  line.start = start;
  if (i - start >= limit) {
    line.tooLong = true;
    return len;
  }
  line.tooLong = false;
  line.end = i;
  let seen = 0;
  while (i < len) {
    const kind = eolKind(bytes[i] as number);
    if (kind === 0 || seen & 1 || seen & kind) break;
    seen |= kind;
    i++;
  }
  line.endedByNul = (seen & 1) !== 0;
  return i;
}
