/**
 * fleet's JSON shapes (schema/v1.json: Unit, UnitOption, UnitState, Machine and their pages) and
 * the conversions from our records; the validation of PUT and PATCH bodies; the decision a PUT
 * makes. Pure: records and request bodies in, shapes or ApiErrors out. The unit rules themselves
 * (names, the grammar, [X-Fleet] combinations, the hash) are units/'s; nothing is re-checked here.
 */
import type {
  AssignmentRecord,
  DesiredState,
  MachineRecord,
  UnitRecord,
  UnitStateRecord,
} from '../../lib/registry/records.js';
import { DESIRED_STATES } from '../../lib/registry/records.js';
import { validateMetadataKey, validateMetadataValue } from '../../lib/metadata.js';
import {
  canonicalUnitText,
  isTemplate,
  loadUnit,
  parseUnitFile,
  unitNameProblem,
} from '../../units/index.js';
import { ApiError } from './errors.js';

export interface ApiUnitOption {
  section: string;
  name: string;
  value: string;
}

/** fleet's Unit; empty fields are left out, as fleet's encoder does (omitempty). */
export interface ApiUnit {
  name: string;
  options: ApiUnitOption[];
  desiredState: DesiredState;
  currentState?: DesiredState;
  machineID?: string;
  /** Beyond fleet: who submitted the unit ("api", "fleetctl", a directory's source id). */
  source?: string;
}

export interface ApiUnitState {
  name: string;
  hash: string;
  machineID: string;
  systemdLoadState: string;
  systemdActiveState: string;
  systemdSubState: string;
}

export interface ApiMachine {
  id: string;
  primaryIP?: string;
  metadata?: Record<string, string>;
  /** Beyond fleet: a draining machine gets no new units (fleet's clients ignore the field). */
  draining?: boolean;
}

// ------------------------------------------------------------------ records -> shapes

/** The options of a stored body, in file order. */
export function optionsOfBody(body: string): ApiUnitOption[] {
  const r = parseUnitFile(body);
  if (!r.ok) return [];
  return r.unit.options.map((o) => ({ section: o.section, name: o.name, value: o.value }));
}

/**
 * A unit as fleet shows it: currentState is what the engine scheduled (the assignment's state), or
 * "inactive" when it is scheduled nowhere; machineID is set when it is scheduled on exactly one
 * machine (a global unit on several has none, as in fleet).
 */
export function unitToApi(
  rec: UnitRecord,
  assignments: readonly AssignmentRecord[],
  options: ApiUnitOption[] = optionsOfBody(rec.body),
): ApiUnit {
  const out: ApiUnit = { name: rec.name, options, desiredState: rec.desiredState };
  out.currentState = assignments[0]?.desiredState ?? 'inactive';
  if (assignments.length === 1) out.machineID = assignments[0]!.machineId;
  if (rec.source !== undefined) out.source = rec.source;
  return out;
}

export function stateToApi(s: UnitStateRecord): ApiUnitState {
  return {
    name: s.unit,
    hash: s.hash,
    machineID: s.machineId,
    systemdLoadState: s.loadState,
    systemdActiveState: s.activeState,
    systemdSubState: s.subState,
  };
}

export function machineToApi(m: MachineRecord): ApiMachine {
  const out: ApiMachine = { id: m.id };
  if (m.publicIp) out.primaryIP = m.publicIp;
  if (Object.keys(m.metadata).length > 0) out.metadata = { ...m.metadata };
  if (m.draining) out.draining = true;
  return out;
}

// ------------------------------------------------------------------ request bodies

/** Parses a JSON body; malformed JSON is fleet's 400 "unable to decode body". */
export function parseJsonBody(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (e) {
    throw new ApiError(400, `unable to decode body: ${(e as Error).message}; send a JSON document`);
  }
}

/** Go's encoding/json matches field names case-insensitively; so do we (fleet clients rely on it). */
function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface PutUnitRequest {
  name: string;
  options: ApiUnitOption[];
  desiredState: DesiredState | undefined;
  /** Beyond fleet: the source to record on a created or replaced unit (default "api"). */
  source?: string;
}

/** The body of PUT /units/{name}, checked as fleet does, plus types and desired-state values. */
export function parsePutUnit(urlName: string, raw: string): PutUnitRequest {
  const j = parseJsonBody(raw);
  if (!isObject(j)) throw new ApiError(400, 'unable to decode body: expected a JSON object (a Unit)');
  let name = field(j, 'name');
  if (name === undefined || name === null || name === '') name = urlName;
  if (typeof name !== 'string') throw new ApiError(400, 'unable to decode body: "name" must be a string');
  if (name !== urlName) {
    throw new ApiError(
      400,
      `name in URL ${JSON.stringify(urlName)} differs from unit name in request body ${JSON.stringify(name)}`,
    );
  }
  const nameProblem = unitNameProblem(name);
  if (nameProblem !== null)
    throw new ApiError(400, `invalid unit name ${JSON.stringify(name)}: ${nameProblem}`);

  const ds = field(j, 'desiredState');
  let desiredState: DesiredState | undefined;
  if (ds !== undefined && ds !== null && ds !== '') {
    if (typeof ds !== 'string' || !(DESIRED_STATES as readonly string[]).includes(ds)) {
      throw new ApiError(
        400,
        `unknown desired state ${JSON.stringify(ds)} for unit ${name}; use one of ${DESIRED_STATES.join(', ')}`,
      );
    }
    desiredState = ds as DesiredState;
  }

  const rawOpts = field(j, 'options');
  const options: ApiUnitOption[] = [];
  if (rawOpts !== undefined && rawOpts !== null) {
    if (!Array.isArray(rawOpts)) {
      throw new ApiError(400, 'unable to decode body: "options" must be an array of {section, name, value}');
    }
    rawOpts.forEach((o, i) => {
      if (!isObject(o)) throw new ApiError(400, `unable to decode body: options[${i}] must be an object`);
      const parts = ['section', 'name', 'value'].map((f) => field(o, f));
      if (!parts.every((p) => typeof p === 'string')) {
        throw new ApiError(400, `unable to decode body: options[${i}] needs string section, name and value`);
      }
      const [section, oname, value] = parts as [string, string, string];
      options.push({ section, name: oname, value });
    });
  }
  const out: PutUnitRequest = { name, options, desiredState };
  const source = field(j, 'source');
  if (source !== undefined && source !== null) {
    if (typeof source !== 'string' || source === '') {
      throw new ApiError(400, `unable to decode body: "source" of unit ${name} must be a non-empty string`);
    }
    out.source = source;
  }
  return out;
}

/**
 * The unit file text of a list of options (units/canonical's printing). Refuses what could not be
 * written as a unit file line, naming the option.
 */
export function unitTextOf(unit: string, options: readonly ApiUnitOption[]): string {
  const sections: string[] = [];
  options.forEach((o, i) => {
    const where = `option ${i + 1} (${o.section}.${o.name}) of unit ${unit}`;
    if (o.section === '' || /[\]\n\r]/.test(o.section)) {
      throw new ApiError(400, `${where}: a section name cannot be empty or hold "]" or a line break`);
    }
    if (o.name === '' || /[=\n\r[]/.test(o.name) || o.name.trim() !== o.name) {
      throw new ApiError(
        400,
        `${where}: an option name cannot be empty or hold "=", "[", spaces at its ends, or a line break`,
      );
    }
    if (/[\n\r]/.test(o.value)) {
      throw new ApiError(
        400,
        `${where}: a value cannot hold a line break (join continued lines with a space)`,
      );
    }
    if (!sections.includes(o.section)) sections.push(o.section);
  });
  return canonicalUnitText({
    sections,
    options: options.map((o) => ({ ...o, line: 0 })),
    warnings: [],
  });
}

/** What a PUT does, decided from the request and the unit as stored (undefined: none). */
export type PutDecision =
  | { kind: 'create'; name: string; body: string; desiredState: DesiredState }
  | { kind: 'set-state'; name: string; desiredState: DesiredState }
  /** fleet-ts extension (PUT ...?replace=true): a new file for an existing unit. */
  | { kind: 'replace'; name: string; body: string; desiredState: DesiredState | undefined };

/**
 * What a PUT does. fleet's API only creates a unit or changes its desired state; with
 * `replace` (the fleet-ts extension `?replace=true`, docs/api.md) options that differ from the
 * existing unit's replace its file, keeping its desired state unless one is given.
 */
export function decidePut(
  req: PutUnitRequest,
  existing: UnitRecord | undefined,
  replace = false,
): PutDecision {
  const { name } = req;
  const refuseTemplate = (state: DesiredState) => {
    if (isTemplate(name) && state !== 'inactive') {
      throw new ApiError(
        400,
        `cannot activate template ${JSON.stringify(name)}; submit it, then start an instance such as ${name.replace('@.', '@1.')}`,
      );
    }
  };
  if (existing === undefined) {
    if (req.options.length === 0) {
      throw new ApiError(
        409,
        `unit ${name} does not exist and options field empty; send the unit's options to create it`,
      );
    }
    const body = unitTextOf(name, req.options);
    const loaded = loadUnit(name, body);
    if (!loaded.valid) {
      const why = loaded.errors.map((e) => e.message).join('; ');
      throw new ApiError(400, `unit ${name} is refused: ${why}`);
    }
    const desiredState = req.desiredState ?? 'inactive';
    refuseTemplate(desiredState);
    return { kind: 'create', name, body, desiredState };
  }
  if (req.options.length > 0) {
    const body = unitTextOf(name, req.options);
    const loaded = loadUnit(name, body);
    if (loaded.hash !== existing.hash && replace) {
      if (!loaded.valid) {
        throw new ApiError(400, `unit ${name} is refused: ${loaded.errors.map((e) => e.message).join('; ')}`);
      }
      if (req.desiredState !== undefined) refuseTemplate(req.desiredState);
      return { kind: 'replace', name, body, desiredState: req.desiredState };
    }
    if (loaded.hash !== existing.hash) {
      throw new ApiError(
        409,
        `unit ${name} already exists with different options; destroy it first to change its file, send only desiredState, or PUT with ?replace=true`,
      );
    }
  }
  if (req.desiredState === undefined) {
    throw new ApiError(409, `must provide desiredState to update existing unit ${name}`);
  }
  refuseTemplate(req.desiredState);
  return { kind: 'set-state', name, desiredState: req.desiredState };
}

// ------------------------------------------------------------------ machines PATCH

/** One change asked by PATCH /machines. */
export type MachineChange =
  | { machineId: string; kind: 'set-metadata'; key: string; value: string }
  | { machineId: string; kind: 'remove-metadata'; key: string }
  | { machineId: string; kind: 'draining'; draining: boolean };

const METADATA_PATH = /^\/([^/]+)\/metadata\/([A-Za-z0-9_.-]+)$/;
const DRAINING_PATH = /^\/([^/]+)\/draining$/;

/**
 * fleet's PATCH body: `[{"op":"add"|"remove"|"replace","path":"/<machine>/metadata/<key>","value":"v"}]`,
 * every op checked before anything is written. Beyond fleet: `"path":"/<machine>/draining"` with
 * value "true" or "false".
 */
export function parseMachinePatch(raw: string): MachineChange[] {
  const j = parseJsonBody(raw);
  if (!Array.isArray(j))
    throw new ApiError(400, 'unable to decode body: expected a JSON array of operations');
  return j.map((op, i): MachineChange => {
    if (!isObject(op)) throw new ApiError(400, `operation ${i + 1} is not an object`);
    const kind = field(op, 'op');
    if (kind !== 'add' && kind !== 'remove' && kind !== 'replace') {
      throw new ApiError(
        400,
        `invalid op ${JSON.stringify(kind)} in operation ${i + 1}: expect add, remove, or replace`,
      );
    }
    const path = field(op, 'path');
    let value = field(op, 'value');
    if (isObject(value)) value = field(value, 'value'); // fleet's functional tests nest it
    if (typeof path !== 'string') throw new ApiError(400, `operation ${i + 1} has no "path"`);
    const needValue = () => {
      if (typeof value !== 'string' || value === '') {
        throw new ApiError(
          400,
          `invalid value in operation ${i + 1}: add and replace require a string value`,
        );
      }
      return value;
    };
    const d = DRAINING_PATH.exec(path);
    if (d) {
      if (kind === 'remove') return { machineId: d[1]!, kind: 'draining', draining: false };
      const v = needValue();
      if (v !== 'true' && v !== 'false') {
        throw new ApiError(
          400,
          `operation ${i + 1}: draining is "true" or "false", not ${JSON.stringify(v)}`,
        );
      }
      return { machineId: d[1]!, kind: 'draining', draining: v === 'true' };
    }
    const m = METADATA_PATH.exec(path);
    if (!m) {
      throw new ApiError(
        400,
        `machine metadata path invalid in operation ${i + 1}: ${JSON.stringify(path)} (expected /<machine-id>/metadata/<key>)`,
      );
    }
    const [, machineId, key] = m as unknown as [string, string, string];
    const keyProblem = validateMetadataKey(key);
    if (keyProblem)
      throw new ApiError(400, `operation ${i + 1}: metadata key ${JSON.stringify(key)}: ${keyProblem}`);
    if (kind === 'remove') return { machineId, kind: 'remove-metadata', key };
    const v = needValue();
    const valueProblem = validateMetadataValue(v);
    if (valueProblem)
      throw new ApiError(400, `operation ${i + 1}: metadata value ${JSON.stringify(v)}: ${valueProblem}`);
    return { machineId, kind: 'set-metadata', key, value: v };
  });
}

/** Applies one machine's changes to its record, in order. Pure. */
export function applyMachineChanges(rec: MachineRecord, changes: readonly MachineChange[]): MachineRecord {
  const metadata = { ...rec.metadata };
  let draining = rec.draining;
  for (const c of changes) {
    if (c.kind === 'set-metadata') metadata[c.key] = c.value;
    else if (c.kind === 'remove-metadata') delete metadata[c.key];
    else draining = c.draining;
  }
  return { ...rec, metadata, draining };
}
