/**
 * The typed refusal of a unit file. parseUnitFile never throws; it returns one of these when
 * systemd would refuse to load the file (or when fleet-ts refuses it on top: size cap, NUL bytes).
 */

export type UnitParseErrorCode =
  /** The whole file is larger than the fleet-ts cap (ParseOptions.maxBytes). */
  | 'too-large'
  /** A NUL byte: systemd silently ends the line there; fleet-ts refuses unless allowNul is set. */
  | 'nul-byte'
  /** A physical line reaches systemd's LONG_LINE_MAX (1 MiB). */
  | 'line-too-long'
  /** Continued lines add up to more than LONG_LINE_MAX. */
  | 'continuation-too-long'
  /** A non-comment line is not valid UTF-8 (systemd refuses the whole file). */
  | 'invalid-utf8'
  /** A line starts with `[` but does not end with `]`. */
  | 'invalid-section-header'
  /** A section name holds a control character, a quote or a backslash. */
  | 'bad-section-name'
  /** A bug in fleet-ts: the parser failed unexpectedly. Never expected; reported instead of thrown. */
  | 'internal';

export class UnitParseError extends Error {
  override readonly name = 'UnitParseError';
  /** 1-based line, or 0 when the problem concerns the whole file. */
  readonly line: number;
  /** What is wrong and what to do, without the line number (callers print `FILE:LINE: reason`). */
  readonly reason: string;
  readonly code: UnitParseErrorCode;
  /** The line number systemd 252 prints for the same refusal, when it prints one and it differs. */
  readonly systemdLine: number | undefined;

  constructor(
    code: UnitParseErrorCode,
    line: number,
    reason: string,
    opts: { systemdLine?: number; cause?: unknown } = {},
  ) {
    super(
      line > 0 ? `line ${line}: ${reason}` : reason,
      opts.cause === undefined ? {} : { cause: opts.cause },
    );
    this.code = code;
    this.line = line;
    this.reason = reason;
    this.systemdLine = opts.systemdLine;
  }
}
