/**
 * What the planner needs to know about one unit, derived from its record once (pure): validity,
 * [X-Fleet] requirements and, for sockets, which service the socket activates.
 */
import { markMemoized, type UnitBodyCheck } from '../lib/registry/index.js';
import {
  loadUnit,
  parseUnitFile,
  readXFleet,
  socketTarget,
  unitHash,
  unitNameProblem,
  type FleetRequirements,
  type ParsedUnit,
} from '../units/index.js';

export { socketTarget };

export type DesiredState = 'inactive' | 'loaded' | 'launched';

export interface ModelUnit {
  name: string;
  desiredState: DesiredState;
  body: string;
  hash: string;
  /** False when the file or its [X-Fleet] section has errors: such a unit is never placed. */
  valid: boolean;
  /** Why the unit is invalid (empty when valid). */
  problems: readonly string[];
  requirements: FleetRequirements;
  /**
   * For a socket unit: the unit it activates. `service` is an exact name (`foo.service`, or the
   * socket's Service=); `template` is set for Accept=yes (`foo@.service`: its instances follow).
   */
  activates?: { service?: string; template?: string };
}

export interface UnitInput {
  name: string;
  body: string;
  hash: string;
  desiredState: DesiredState;
}

interface Derived {
  valid: boolean;
  problems: readonly string[];
  requirements: FleetRequirements;
  activates?: { service?: string; template?: string };
}

/**
 * Reads a unit: with a ParseCache, from the parse the registry's check just made (the usual case in
 * the engine), else by parsing. Not memoized: a unit is read when its key changes, and parsing a
 * unit file costs a few µs (a memo of 100,000 entries costs more, in maps and garbage collection).
 */
export class UnitReader {
  constructor(private readonly parses?: ParseCache) {}

  read(input: UnitInput): ModelUnit {
    const parsed = this.parses?.take(input.body);
    const d = parsed ? deriveParsed(input.name, parsed) : derive(input.name, input.body);
    const unit: ModelUnit = {
      name: input.name,
      desiredState: input.desiredState,
      body: input.body,
      hash: input.hash,
      valid: d.valid,
      problems: d.problems,
      requirements: d.requirements,
    };
    if (d.activates) unit.activates = d.activates;
    return unit;
  }
}

/** The problems of a valid unit: none (one frozen array shared by all). */
const NO_PROBLEMS: readonly string[] = Object.freeze([]);

function problemText(e: { line: number | null; message: string }): string {
  return e.line !== null ? `line ${e.line}: ${e.message}` : e.message;
}

function derive(name: string, body: string): Derived {
  const loaded = loadUnit(name, body);
  const d: Derived = {
    valid: loaded.valid,
    problems: loaded.errors.length === 0 ? NO_PROBLEMS : loaded.errors.map(problemText),
    requirements: loaded.requirements,
  };
  if (loaded.valid && loaded.nameInfo?.suffix === 'socket' && loaded.unit) {
    d.activates = socketTarget(name, loaded.unit);
  }
  return d;
}

/** The same as derive(), from a file the registry's check already parsed. */
function deriveParsed(name: string, unit: ParsedUnit): Derived {
  const nameProblem = unitNameProblem(name);
  if (nameProblem !== null) return derive(name, '');
  const xf = readXFleet(unit.options, name);
  const d: Derived = {
    valid: xf.errors.length === 0,
    problems: xf.errors.length === 0 ? NO_PROBLEMS : xf.errors.map(problemText),
    requirements: xf.requirements,
  };
  if (d.valid && name.endsWith('.socket')) d.activates = socketTarget(name, unit);
  return d;
}

/**
 * The registry checks every unit body it reads (units/parse + units/canonical); the engine needs
 * the same parse to read [X-Fleet]. Given to the registry as its `checkUnitBody`, this keeps the
 * last parse so the engine's UnitReader does not parse the file a second time. Same verdicts and
 * hashes as the registry's default check. Not memoized (see UnitReader), but marked so: the
 * registry adds no memo of its own either.
 */
export class ParseCache {
  /**
   * The parse of the body checked last: the engine reads a unit (take) right after the registry
   * checked it, in the same event, so one slot is enough.
   */
  private last: { body: string; unit: ParsedUnit } | undefined;

  /** The registry's checkUnitBody. */
  readonly check: UnitBodyCheck = markMemoized((body) => {
    const r = parseUnitFile(body);
    if (!r.ok) return { ok: false, reason: r.error.message };
    if (r.unit.options.length === 0)
      return { ok: false, reason: 'the file sets no option (is it a unit file?)' };
    this.last = { body, unit: r.unit };
    return { ok: true, hash: unitHash(r.unit) };
  });

  /** The parse of a body the check accepted, if it was the last one checked (it is then forgotten). */
  take(body: string): ParsedUnit | undefined {
    const last = this.last;
    if (last === undefined || last.body !== body) return undefined;
    this.last = undefined;
    return last.unit;
  }
}
