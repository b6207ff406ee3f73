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
  problems: string[];
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
  problems: string[];
  requirements: FleetRequirements;
  activates?: { service?: string; template?: string };
}

/**
 * Reads a unit. Bodies repeat (instances of one template, re-lists), so results are memoized by
 * name and body; the cache is bounded.
 */
export class UnitReader {
  private readonly memo = new Map<string, Derived>();

  constructor(
    private readonly parses?: ParseCache,
    private readonly max = 50_000,
  ) {}

  read(input: UnitInput): ModelUnit {
    const key = `${input.name}\u0000${input.hash}`;
    let d = this.memo.get(key);
    if (!d) {
      const parsed = this.parses?.take(input.body);
      d = parsed ? deriveParsed(input.name, parsed) : derive(input.name, input.body);
      bounded(this.memo, this.max).set(key, d);
    }
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

function derive(name: string, body: string): Derived {
  const loaded = loadUnit(name, body);
  const d: Derived = {
    valid: loaded.valid,
    problems: loaded.errors.map((e) => (e.line !== null ? `line ${e.line}: ${e.message}` : e.message)),
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
    problems: xf.errors.map((e) => (e.line !== null ? `line ${e.line}: ${e.message}` : e.message)),
    requirements: xf.requirements,
  };
  if (d.valid && name.endsWith('.socket')) d.activates = socketTarget(name, unit);
  return d;
}

/**
 * The registry checks every unit body it reads (units/parse + units/canonical); the engine needs
 * the same parse to read [X-Fleet]. Given to the registry as its `checkUnitBody`, this keeps the
 * parse so the engine's UnitReader does not parse each file a second time. Same verdicts and
 * hashes as the registry's default check. Bounded.
 */
export class ParseCache {
  /**
   * The parse of the body checked last: the engine reads a unit (take) right after the registry
   * checked it, in the same event, so one slot is enough (a map of every parse costs more).
   */
  private last: { body: string; unit: ParsedUnit } | undefined;
  private readonly verdicts = new Map<string, ReturnType<UnitBodyCheck>>();

  constructor(private readonly max = 250_000) {}

  /** The registry's checkUnitBody: remembers its verdicts (so the registry adds no memo of its own). */
  readonly check: UnitBodyCheck = markMemoized((body) => {
    const known = this.verdicts.get(body);
    if (known) return known;
    const r = parseUnitFile(body);
    let verdict: ReturnType<UnitBodyCheck>;
    if (!r.ok) verdict = { ok: false, reason: r.error.message };
    else if (r.unit.options.length === 0) {
      verdict = { ok: false, reason: 'the file sets no option (is it a unit file?)' };
    } else {
      verdict = { ok: true, hash: unitHash(r.unit) };
      this.last = { body, unit: r.unit };
    }
    bounded(this.verdicts, this.max).set(body, verdict);
    return verdict;
  });

  /** The parse of a body the check accepted, if it was the last one checked (it is then forgotten). */
  take(body: string): ParsedUnit | undefined {
    const last = this.last;
    if (last === undefined || last.body !== body) return undefined;
    this.last = undefined;
    return last.unit;
  }
}

/**
 * Forgets everything once full. (Evicting the oldest entry one at a time is quadratic in V8: a Map
 * keeps deleted slots until it rehashes, and keys().next() walks over them.)
 */
function bounded<K, V>(m: Map<K, V>, max: number): Map<K, V> {
  if (m.size >= max) m.clear();
  return m;
}
