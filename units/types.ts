/**
 * The unit-file model shared by every part of fleet-ts. Pure data: no I/O anywhere in units/.
 *
 * The grammar module (units/parse.ts) turns text into a ParsedUnit; names.ts, specifiers.ts and
 * x-fleet.ts read it. Line numbers are 1-based and point at the first physical line of a
 * (possibly continued) logical line.
 */

/** One assignment `Name=Value` in file order. Repeated keys are separate options. */
export interface UnitOption {
  section: string;
  name: string;
  value: string;
  line: number;
  /**
   * Set only for an assignment continued over several lines: its LAST physical line, the one
   * systemd 252 names in its messages about the assignment.
   */
  systemdLine?: number;
}

/** A line systemd would ignore with a warning (it does not refuse the file). */
export interface ParseWarning {
  line: number;
  message: string;
  /** A stable identifier of the kind of warning (see units/parse.ts ParseWarningCode). */
  code?: string;
  /**
   * The line number systemd 252 prints for the same problem, when it differs from `line`: systemd
   * names the LAST physical line of a continued line (and one past the end for a continuation that
   * runs into the end of the file).
   */
  systemdLine?: number;
  /**
   * True when systemd ignores the line WITHOUT logging anything: the line is inside a section that
   * systemd skips as a whole (any `[X-...]` section, or a section unknown for the unit type).
   * fleet-ts still reports it because [X-Fleet] is read by fleet.
   */
  systemdSilent?: boolean;
}

export interface ParsedUnit {
  /** Every assignment in file order, duplicates kept. */
  options: UnitOption[];
  /** Section names in order of first appearance. */
  sections: string[];
  warnings: ParseWarning[];
}
