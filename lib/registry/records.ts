/**
 * The typed records stored as JSON values, and their validation. Pure: no I/O.
 *
 * Every value read from etcd goes through a decoder here: anything can be written to etcd by hand,
 * so a decoder never throws; it returns the record or a reason a person can act on.
 */

export const DESIRED_STATES = ['inactive', 'loaded', 'launched'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

/** What the engine can ask a machine to do with a unit (an inactive unit is not scheduled). */
export type AssignedState = Exclude<DesiredState, 'inactive'>;

/** A unit as submitted: its file, what should happen to it, and where it came from. */
export interface UnitRecord {
  name: string;
  /** The unit file text. */
  body: string;
  /** units/canonical's hash of the body; always recomputed and checked on read. */
  hash: string;
  desiredState: DesiredState;
  /** Who submitted it: "fleetctl", "api", "etcdctl", a units directory path... */
  source?: string;
  /** ISO-8601 times. */
  createdAt?: string;
  updatedAt?: string;
}

/** The engine's decision: this unit runs on this machine. Carries what the agent needs. */
export interface AssignmentRecord {
  unit: string;
  machineId: string;
  body: string;
  hash: string;
  desiredState: AssignedState;
}

export interface MachineRecord {
  id: string;
  publicIp: string;
  metadata: Record<string, string>;
  /** fleet-ts version the agent runs. */
  version: string;
  /** A draining machine gets no new units. */
  draining: boolean;
  startedAt?: string;
  /**
   * Where this machine's fleetd serves its API over TCP ("https://10.0.0.2:49153"), when it has a
   * TCP listener: fleetctl status/journal reach the unit's machine there (lib/api-endpoint.ts).
   */
  apiEndpoint?: string;
}

/** What systemd says about a unit on one machine. */
export interface UnitStateRecord {
  unit: string;
  machineId: string;
  loadState: string;
  activeState: string;
  subState: string;
  /** The hash of the unit file the agent loaded. */
  hash: string;
  updatedAt?: string;
}

/**
 * Why the engine could not place a unit, per rule ("no machine has region=eu-west"), for
 * `fleetctl` to show. Written by the engine leader only, fenced; removed once the unit is placed,
 * inactive or destroyed.
 */
export interface PlacementReasonsRecord {
  unit: string;
  reasons: string[];
  /** ISO-8601: when the engine first gave these reasons. */
  since?: string;
  /**
   * Set when the unit's key holds a value fleet cannot use (not JSON, an invalid body, an unknown
   * desired state, a key that is not a unit name): why. The unit is then skipped by every reader.
   */
  invalid?: string;
}

/** Checks a unit body (units/parse) and returns its hash (units/canonical), or why not. */
export type UnitBodyCheck = (body: string) => { ok: true; hash: string } | { ok: false; reason: string };

export type Decoded<T> = { ok: true; record: T } | { ok: false; reason: string };

/** A unit body is at most this many bytes (systemd's own unit files are a few KiB). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * A stored value is at most this many bytes. Bounding values bounds a page of a listing, which must
 * fit in one gRPC message (4 MiB in etcd3's client). A body of MAX_BODY_BYTES fits with room for
 * JSON escapes.
 */
export const MAX_VALUE_BYTES = 192 * 1024;

type Obj = Record<string, unknown>;

function parseJson(raw: string): { ok: true; value: Obj } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    return { ok: false, reason: `not JSON (${(e as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  return { ok: true, value: value as Obj };
}

class Problem extends Error {}

function str(
  o: Obj,
  field: string,
  opts: { optional?: boolean; nonEmpty?: boolean } = {},
): string | undefined {
  const v = o[field];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== 'string') throw new Problem(`"${field}" must be a string`);
  if (opts.nonEmpty && v.length === 0) throw new Problem(`"${field}" cannot be empty`);
  return v;
}

function req(o: Obj, field: string, nonEmpty = false): string {
  return str(o, field, { nonEmpty }) as string;
}

/**
 * The last time found valid: records written together share their times (createdAt = updatedAt),
 * which are then neither parsed again nor kept as one more string each.
 */
let lastValidTime = '';

function time(o: Obj, field: string): string | undefined {
  const v = str(o, field, { optional: true });
  if (v === undefined) return v;
  if (v === lastValidTime) return lastValidTime;
  if (Number.isNaN(Date.parse(v))) throw new Problem(`"${field}" must be an ISO-8601 time`);
  lastValidTime = v;
  return v;
}

/** The allowed value `o[field]` equals (that string itself, shared by every record). */
function oneOf<T extends string>(o: Obj, field: string, allowed: readonly T[]): T {
  const i = (allowed as readonly unknown[]).indexOf(o[field]);
  if (i < 0) throw new Problem(`"${field}" must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  return allowed[i]!;
}

function same(o: Obj, field: string, expected: string, where: string, optional = false): void {
  const v = o[field];
  if (v === undefined && optional) return;
  if (v !== expected) throw new Problem(`"${field}" must be "${expected}" (the ${where} in the key)`);
}

function checkBody(body: string, check: UnitBodyCheck, statedHash: string | undefined): string {
  if (Buffer.byteLength(body) > MAX_BODY_BYTES)
    throw new Problem(`"body" is larger than ${MAX_BODY_BYTES} bytes`);
  const r = check(body);
  if (!r.ok) throw new Problem(`"body" is not a valid unit file: ${r.reason}`);
  if (statedHash !== undefined && statedHash !== r.hash) {
    throw new Problem(`"hash" is ${statedHash} but the body hashes to ${r.hash}; omit "hash" or fix it`);
  }
  return r.hash;
}

function guard<T>(raw: string, build: (o: Obj) => T): Decoded<T> {
  if (raw.length > MAX_VALUE_BYTES) {
    return { ok: false, reason: `the value is larger than ${MAX_VALUE_BYTES} bytes` };
  }
  const j = parseJson(raw);
  if (!j.ok) return j;
  try {
    return { ok: true, record: build(j.value) };
  } catch (e) {
    if (e instanceof Problem) return { ok: false, reason: e.message };
    return { ok: false, reason: `unreadable (${(e as Error).message})` };
  }
}

/** A unit value; `name` and `hash` may be omitted by writers (the key names it, the body hashes). */
export function decodeUnit(name: string, raw: string, check: UnitBodyCheck): Decoded<UnitRecord> {
  return guard(raw, (o) => unitFrom(o, name, check));
}

/**
 * What decodeUnit(r.name, encodeUnit(r), check) says, without the JSON round trip (a writer
 * validates every unit it is about to write; an empty `hash` is filled in from the body), with the
 * value to store when it is valid. Pure.
 */
export function validateUnit(
  r: UnitRecord,
  check: UnitBodyCheck,
): { ok: true; record: UnitRecord; value: string } | { ok: false; reason: string } {
  const refused = { ok: false, reason: `the value is larger than ${MAX_VALUE_BYTES} bytes` } as const;
  try {
    // In decodeUnit's order: the size first (once the hash is known), then the fields.
    let value = r.hash !== '' ? encodeUnit(r) : '';
    if (value.length > MAX_VALUE_BYTES) return refused;
    const o = (r.hash === '' ? { ...r, hash: undefined } : r) as unknown as Obj;
    const record = unitFrom(o, r.name, check);
    if (r.hash === '') value = encodeUnit(record);
    if (value.length > MAX_VALUE_BYTES) return refused;
    return { ok: true, record, value };
  } catch (e) {
    if (e instanceof Problem) return { ok: false, reason: e.message };
    return { ok: false, reason: `unreadable (${(e as Error).message})` };
  }
}

function unitFrom(o: Obj, name: string, check: UnitBodyCheck): UnitRecord {
  same(o, 'name', name, 'unit name', true);
  const body = req(o, 'body', true);
  const hash = checkBody(body, check, str(o, 'hash', { optional: true }));
  const rec: UnitRecord = { name, body, hash, desiredState: oneOf(o, 'desiredState', DESIRED_STATES) };
  const source = str(o, 'source', { optional: true });
  const createdAt = time(o, 'createdAt');
  const updatedAt = time(o, 'updatedAt');
  if (source !== undefined) rec.source = source;
  if (createdAt !== undefined) rec.createdAt = createdAt;
  // Equal times are kept as one string (a unit never changed since it was made: 100,000 kept units).
  if (updatedAt !== undefined) rec.updatedAt = updatedAt === createdAt ? createdAt : updatedAt;
  return rec;
}

export function decodeAssignment(
  machineId: string,
  unit: string,
  raw: string,
  check: UnitBodyCheck,
): Decoded<AssignmentRecord> {
  return guard(raw, (o) => assignmentFrom(o, machineId, unit, check));
}

/**
 * What decodeAssignment(machineId, unit, encodeAssignment(r), check) says, without the JSON round
 * trip (the engine validates every assignment it writes; its values are its own encodings). Pure.
 */
export function validateAssignment(
  r: AssignmentRecord,
  check: UnitBodyCheck,
  encoded: string = encodeAssignment(r),
): Decoded<AssignmentRecord> {
  if (encoded.length > MAX_VALUE_BYTES) {
    return { ok: false, reason: `the value is larger than ${MAX_VALUE_BYTES} bytes` };
  }
  try {
    return { ok: true, record: assignmentFrom(r as unknown as Obj, r.machineId, r.unit, check) };
  } catch (e) {
    if (e instanceof Problem) return { ok: false, reason: e.message };
    return { ok: false, reason: `unreadable (${(e as Error).message})` };
  }
}

function assignmentFrom(o: Obj, machineId: string, unit: string, check: UnitBodyCheck): AssignmentRecord {
  same(o, 'unit', unit, 'unit name');
  same(o, 'machineId', machineId, 'machine ID');
  const body = req(o, 'body', true);
  const hash = checkBody(body, check, req(o, 'hash', true));
  return {
    unit,
    machineId,
    body,
    hash,
    desiredState: oneOf(o, 'desiredState', ['loaded', 'launched'] as const),
  };
}

export function decodeMachine(machineId: string, raw: string): Decoded<MachineRecord> {
  return guard(raw, (o) => {
    same(o, 'id', machineId, 'machine ID');
    const md = o.metadata ?? {};
    if (typeof md !== 'object' || md === null || Array.isArray(md)) {
      throw new Problem('"metadata" must be an object of strings');
    }
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(md as Obj)) {
      if (typeof v !== 'string') throw new Problem(`"metadata.${k}" must be a string`);
      metadata[k] = v;
    }
    const draining = o.draining ?? false;
    if (typeof draining !== 'boolean') throw new Problem('"draining" must be true or false');
    const rec: MachineRecord = {
      id: machineId,
      publicIp: str(o, 'publicIp', { optional: true }) ?? '',
      metadata,
      version: str(o, 'version', { optional: true }) ?? '',
      draining,
    };
    const startedAt = time(o, 'startedAt');
    if (startedAt !== undefined) rec.startedAt = startedAt;
    const apiEndpoint = str(o, 'apiEndpoint', { optional: true });
    if (apiEndpoint) rec.apiEndpoint = apiEndpoint;
    return rec;
  });
}

export function decodeUnitState(machineId: string, unit: string, raw: string): Decoded<UnitStateRecord> {
  return guard(raw, (o) => {
    same(o, 'unit', unit, 'unit name');
    same(o, 'machineId', machineId, 'machine ID');
    const rec: UnitStateRecord = {
      unit,
      machineId,
      loadState: req(o, 'loadState', true),
      activeState: req(o, 'activeState', true),
      subState: req(o, 'subState', true),
      hash: req(o, 'hash'),
    };
    const updatedAt = time(o, 'updatedAt');
    if (updatedAt !== undefined) rec.updatedAt = updatedAt;
    return rec;
  });
}

export function decodeReasons(unit: string, raw: string): Decoded<PlacementReasonsRecord> {
  return guard(raw, (o) => {
    same(o, 'unit', unit, 'unit name');
    const reasons = o.reasons;
    if (!Array.isArray(reasons) || reasons.some((r) => typeof r !== 'string')) {
      throw new Problem('"reasons" must be an array of strings');
    }
    const rec: PlacementReasonsRecord = { unit, reasons: reasons as string[] };
    const since = time(o, 'since');
    if (since !== undefined) rec.since = since;
    const invalid = str(o, 'invalid', { optional: true });
    if (invalid !== undefined) rec.invalid = invalid;
    return rec;
  });
}

export function encodeReasons(r: PlacementReasonsRecord): string {
  return JSON.stringify({ unit: r.unit, reasons: r.reasons, since: r.since, invalid: r.invalid });
}

/** The schema-version value. */
export function decodeSchema(raw: string): Decoded<{ version: number }> {
  return guard(raw, (o) => {
    const v = o.version;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new Problem('"version" must be a positive integer');
    }
    return { version: v };
  });
}

/** JSON with a fixed field order, so equal records are equal bytes. */
export function encodeUnit(r: UnitRecord): string {
  return JSON.stringify({
    name: r.name,
    body: r.body,
    hash: r.hash,
    desiredState: r.desiredState,
    source: r.source,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  });
}

export function encodeAssignment(r: AssignmentRecord): string {
  return JSON.stringify({
    unit: r.unit,
    machineId: r.machineId,
    body: r.body,
    hash: r.hash,
    desiredState: r.desiredState,
  });
}

export function encodeMachine(r: MachineRecord): string {
  return JSON.stringify({
    id: r.id,
    publicIp: r.publicIp,
    metadata: r.metadata,
    version: r.version,
    draining: r.draining,
    startedAt: r.startedAt,
    apiEndpoint: r.apiEndpoint,
  });
}

export function encodeUnitState(r: UnitStateRecord): string {
  return JSON.stringify({
    unit: r.unit,
    machineId: r.machineId,
    loadState: r.loadState,
    activeState: r.activeState,
    subState: r.subState,
    hash: r.hash,
    updatedAt: r.updatedAt,
  });
}

export function encodeSchema(version: number): string {
  return JSON.stringify({ version });
}
