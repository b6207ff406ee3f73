/**
 * loadUnit: a unit name and its file's text (or bytes) in, everything fleet-ts needs to know about
 * it out: name parts, parsed options, [X-Fleet] requirements, content hash, and every problem with
 * a line number and a reason. Pure and total: it never throws, whatever the input.
 */
import { parseUnitName, unitNameProblem, type UnitNameInfo } from './names.js';
import { parseUnitFile, type ParseOptions } from './parse.js';
import { unitHash } from './canonical.js';
import { problem, ProblemCode, type UnitProblem } from './problems.js';
import type { ParsedUnit } from './types.js';
import { emptyRequirements, readXFleet, type FleetRequirements } from './x-fleet.js';

export interface LoadedUnit {
  name: string;
  /** The parts of the name; null when the name is not a valid unit name. */
  nameInfo: UnitNameInfo | null;
  /** True when there are no errors (warnings allowed). */
  valid: boolean;
  errors: UnitProblem[];
  warnings: UnitProblem[];
  /** The parsed file; null when the grammar refused it. */
  unit: ParsedUnit | null;
  /** The content hash (see canonical.ts); null when the grammar refused the file. */
  hash: string | null;
  /** [X-Fleet] requirements, specifiers expanded (except for templates); empty when unparsed. */
  requirements: FleetRequirements;
}

export interface LoadOptions {
  /** Passed to the grammar: the cap on the file's size in bytes. */
  maxBytes?: number;
}

/** Reads the unit `name` whose file holds `text`. */
export function loadUnit(name: string, text: string | Uint8Array, opts: LoadOptions = {}): LoadedUnit {
  const errors: UnitProblem[] = [];
  const warnings: UnitProblem[] = [];

  let nameInfo: UnitNameInfo | null = null;
  const nameProblem = typeof name === 'string' ? unitNameProblem(name) : 'the unit name is not a string';
  if (nameProblem === null) nameInfo = parseUnitName(name);
  else
    errors.push(
      problem(ProblemCode.InvalidName, null, `invalid unit name ${JSON.stringify(name)}: ${nameProblem}`),
    );

  const parseOpts: ParseOptions = {};
  if (opts.maxBytes !== undefined) parseOpts.maxBytes = opts.maxBytes;
  if (nameInfo !== null) parseOpts.unitType = nameInfo.suffix;
  const parsed = parseUnitFile(text, parseOpts);
  if (!parsed.ok) {
    const err = parsed.error;
    errors.push(problem(ProblemCode.Syntax, err.line > 0 ? err.line : null, err.reason));
    return {
      name,
      nameInfo,
      valid: false,
      errors,
      warnings,
      unit: null,
      hash: null,
      requirements: emptyRequirements(),
    };
  }

  const unit = parsed.unit;
  for (const w of unit.warnings) warnings.push(problem(ProblemCode.IgnoredLine, w.line, w.message));
  const xf = readXFleet(unit.options, nameInfo === null ? null : name);
  errors.push(...xf.errors);
  warnings.push(...xf.warnings);
  warnings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));

  return {
    name,
    nameInfo,
    valid: errors.length === 0,
    errors,
    warnings,
    unit,
    hash: unitHash(unit),
    requirements: xf.requirements,
  };
}
