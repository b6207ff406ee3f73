/**
 * Problems found while reading a unit: data, not exceptions, so one pass can report them all.
 * Every problem names what is wrong and what to do, and carries the 1-based line it comes from
 * (null when it concerns the file or the name as a whole).
 */

/** Named reasons, so callers (and tests) can tell problems apart without parsing messages. */
export const ProblemCode = {
  /** The unit name is not a valid systemd unit name. */
  InvalidName: 'invalid-name',
  /** The grammar refused the file (see units/parse.ts). */
  Syntax: 'syntax',
  /** A line systemd would ignore with a warning. */
  IgnoredLine: 'ignored-line',
  /** An [X-Fleet] option fleet does not know. */
  UnknownOption: 'unknown-option',
  /** An [X-Fleet] option under a deprecated name (X-Condition*, X-Conflicts). */
  DeprecatedOption: 'deprecated-option',
  /** Two [X-Fleet] options fleet refuses to combine. */
  Combination: 'combination',
  /** Requirements no machine can ever satisfy (e.g. MachineOf a unit the unit conflicts with). */
  Unresolvable: 'unresolvable',
  /** A MachineMetadata pair that is not `key=value` (or `key!=value`); it is ignored. */
  MetadataPair: 'metadata-pair',
  /** A Conflicts=/Replaces= pattern that is not a valid glob; it matches nothing. */
  BadGlob: 'bad-glob',
  /** A specifier fleet does not expand in [X-Fleet]; it is kept as written. */
  Specifier: 'specifier',
  /** An [X-Fleet] option with an empty value; it is ignored. */
  EmptyValue: 'empty-value',
  /** A value fleet reads in a way the author may not expect (Global=maybe, a strange MachineID). */
  Value: 'value',
  /** The file could not be read as a unit file (missing, a directory, binary, too large). */
  File: 'file',
} as const;
export type ProblemCode = (typeof ProblemCode)[keyof typeof ProblemCode];

export interface UnitProblem {
  code: ProblemCode;
  /** 1-based line in the unit file, or null for the file/name as a whole. */
  line: number | null;
  message: string;
}

export function problem(code: ProblemCode, line: number | null, message: string): UnitProblem {
  return { code, line, message };
}
