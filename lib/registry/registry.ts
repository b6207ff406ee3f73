/**
 * The registry: typed reads, writes, transactions and list-then-watch streams over the key layout
 * of keys.ts. The only I/O in lib/registry; what it decides (records, chunks, diffs) lives in the
 * pure modules next to it.
 */
import { EventEmitter } from 'node:events';
import type { Election, Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { systemClock, type Clock } from '../clock.js';
import type { FleetConfig } from '../config.js';
import { etcdErrorFrom, type EtcdErrorContext } from '../etcd-errors.js';
import type { FleetError } from '../errors.js';
import {
  ConflictError,
  InvalidInputError,
  MachineNotFoundError,
  NotLeaderError,
  SchemaVersionError,
  StaleFenceError,
  UnitExistsError,
  UnitNotFoundError,
  type Fence,
} from './errors.js';
import {
  DEFAULT_PREFIX,
  ENGINE_ELECTION,
  Keys,
  SCHEMA_VERSION,
  machineIdProblem,
  machineUnitId,
  prefixEnd,
  prefixProblem,
  unitNameProblem,
} from './keys.js';
import {
  DESIRED_STATES,
  decodeAssignment,
  decodeMachine,
  decodeReasons,
  decodeSchema,
  decodeUnit,
  decodeUnitState,
  encodeAssignment,
  encodeMachine,
  encodeReasons,
  encodeSchema,
  encodeUnit,
  encodeUnitState,
  validateAssignment,
  validateUnit,
  type AssignmentRecord,
  type DesiredState,
  type MachineRecord,
  type PlacementReasonsRecord,
  type UnitBodyCheck,
  type UnitRecord,
  type UnitStateRecord,
} from './records.js';
import { CoalescedRead } from './coalesce.js';
import { rangePrefix } from './range.js';
import {
  RegistryStream,
  storedFrom,
  type KvDecoded,
  type KvDecoder,
  type Listing,
  type Stored,
  type StreamOptions,
} from './stream.js';
import {
  DEFAULT_MAX_TXN_BYTES,
  DEFAULT_MAX_TXN_OPS,
  chunkItems,
  createRevisionIs,
  deleteOp,
  duplicateKeys,
  modRevisionIs,
  putOp,
  rangeOp,
  type TxnItem,
} from './txn.js';
import { defaultUnitBodyCheck } from './unit-check.js';

export interface RegistryOptions {
  /** etcd_key_prefix (default "/fleet/"). */
  prefix?: string;
  /** Validates a unit body and hashes it (default: units/parse + units/canonical). */
  checkUnitBody?: UnitBodyCheck;
  /** etcd's --max-txn-ops (default 128). */
  maxTxnOps?: number;
  /** Key and value bytes per transaction (default 1 MiB, under etcd's 1.5 MiB --max-request-bytes). */
  maxTxnBytes?: number;
  /** The clock for createdAt/updatedAt (default the system clock). */
  clock?: Pick<Clock, 'now'>;
  /** Named in error messages (etcd_servers, etcd_request_timeout). */
  errorContext?: EtcdErrorContext;
  /** Also receives every invalid-value report (they are 'invalid' events too). */
  onInvalid?: (report: InvalidValue) => void;
}

/** A value under the prefix that failed validation; reported once per key and revision, then skipped. */
export interface InvalidValue {
  key: string;
  modRevision: string;
  reason: string;
  /** A one-line message for logs and users: the key, what is wrong, what to do. */
  message: string;
}

export interface UnitInput {
  name: string;
  body: string;
  /** Default "inactive" for a new unit; a replace keeps the current one when absent. */
  desiredState?: DesiredState;
  source?: string;
}

/**
 * One change to the schedule, as the engine's applier writes it. A put carries no guard on the unit
 * key (docs/etcd-schema.md, "assignments of destroyed units"): the engine removes an assignment
 * whose unit is gone, and an agent loads or starts an assignment only once it has read its unit
 * with the same hash.
 */
export type ScheduleChange =
  { type: 'put'; record: AssignmentRecord } | { type: 'delete'; machineId: string; unit: string };

/** One change to the placement reasons, as the engine writes them. */
export type ReasonsChange =
  { type: 'put'; record: PlacementReasonsRecord } | { type: 'delete'; unit: string };

export interface BatchResult {
  /** The revision of the last transaction (the write is visible to reads at or after it). */
  revision: string;
  transactions: number;
}

export interface SubmitBatchResult extends BatchResult {
  created: string[];
  /** Units that already existed: left as they are. */
  existing: string[];
}

export interface RegistryEvents {
  invalid: [InvalidValue];
}

const CAS_ATTEMPTS = 8;

export class Registry extends EventEmitter<RegistryEvents> {
  readonly keys: Keys;
  readonly maxTxnOps: number;
  readonly maxTxnBytes: number;
  private readonly check: UnitBodyCheck;
  private readonly now: () => Date;
  private readonly errorContext: EtcdErrorContext;
  /** key -> modRevision last reported invalid. */
  private readonly reported = new Map<string, string>();

  constructor(
    readonly client: Etcd3,
    private readonly opts: RegistryOptions = {},
  ) {
    super();
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    const p = prefixProblem(prefix);
    if (p) throw new InvalidInputError(`bad etcd key prefix "${prefix}": ${p}; fix etcd_key_prefix`);
    this.keys = new Keys(prefix);
    this.maxTxnOps = opts.maxTxnOps ?? DEFAULT_MAX_TXN_OPS;
    this.maxTxnBytes = opts.maxTxnBytes ?? DEFAULT_MAX_TXN_BYTES;
    this.check = memoizeCheck(opts.checkUnitBody ?? defaultUnitBodyCheck);
    const clock = opts.clock ?? systemClock;
    this.now = () => new Date(clock.now());
    this.errorContext = opts.errorContext ?? { endpoints: [] };
  }

  // ---------------------------------------------------------------- schema

  /**
   * Checks the schema-version key; writes it when absent and `create` (default true). Throws
   * SchemaVersionError when the prefix holds another or an unreadable version.
   */
  async checkSchema(opts: { create?: boolean } = {}): Promise<number> {
    const key = this.keys.schema();
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const kv = await this.getKv(key, 'read the schema version');
      if (kv) {
        const d = decodeSchema(kv.value.toString());
        if (!d.ok) {
          throw new SchemaVersionError(
            `${key} holds an unreadable schema version (${d.reason}); it should be ${encodeSchema(SCHEMA_VERSION)}: ` +
              `check that etcd_key_prefix ${this.keys.prefix} belongs to fleet, then fix the key with etcdctl`,
            key,
          );
        }
        if (d.record.version !== SCHEMA_VERSION) {
          throw new SchemaVersionError(
            d.record.version > SCHEMA_VERSION
              ? `${key} says schema version ${d.record.version}, written by a newer fleet-ts; this one understands version ${SCHEMA_VERSION}: upgrade fleet-ts on this machine (or use another etcd_key_prefix)`
              : `${key} says schema version ${d.record.version}, which this fleet-ts (version ${SCHEMA_VERSION}) cannot read; migrate the data or use another etcd_key_prefix`,
            key,
          );
        }
        return d.record.version;
      }
      if (opts.create === false) return SCHEMA_VERSION;
      const res = await this.txn(
        [createRevisionIs(key, 0)],
        [putOp(key, encodeSchema(SCHEMA_VERSION))],
        [],
        'write the schema version',
      );
      if (res.succeeded) return SCHEMA_VERSION;
    }
    throw new ConflictError('the schema version', key);
  }

  // ---------------------------------------------------------------- units

  /** Create-only: throws UnitExistsError if a unit of that name exists. */
  async submitUnit(input: UnitInput): Promise<Stored<UnitRecord>> {
    const { record: rec, value } = this.newUnitRecord(input);
    const key = this.keys.unit(rec.name);
    const res = await this.txn(
      [createRevisionIs(key, 0)],
      [putOp(key, value)],
      [],
      `submit unit ${rec.name}`,
    );
    if (!res.succeeded) throw new UnitExistsError(rec.name, key);
    const rev = res.header.revision;
    return { id: rec.name, key, record: rec, createRevision: rev, modRevision: rev, lease: '0' };
  }

  /**
   * Create-only for many units, chunked into transactions of at most maxTxnOps-1 units; existing
   * ones are reported, untouched. Each chunk is first written as one transaction that needs every
   * unit of it absent (callers submit units they did not find, so this is the usual case, and it
   * costs etcd and this client ~15% less than the alternative); if any exists, the chunk is
   * written again as a nested transaction per unit (created if absent), which says which existed.
   * If a transaction fails, the earlier ones stay applied: submitting the same batch again reports
   * those units as existing. `transactions` counts the transactions that wrote.
   */
  async submitUnits(inputs: readonly UnitInput[]): Promise<SubmitBatchResult> {
    // Each unit: absent (its compare), then put. One time for the whole batch.
    const at = this.now().toISOString();
    const items = inputs.map((input) => {
      const { record, value } = this.newUnitRecord(input, at);
      const key = this.keys.unit(record.name);
      return { name: record.name, key, compares: [createRevisionIs(key, 0)], ops: [putOp(key, value)] };
    });
    this.refuseDuplicates(items.map((it) => it.key));
    const created: string[] = [];
    const existing: string[] = [];
    let revision = '0';
    // etcd 3.4 refuses maxTxnOps nested transactions in one (measured: 127 pass, 128 do not).
    const chunks = chunkItems(items, this.maxTxnOps - 1, 0, this.maxTxnBytes);
    for (const chunk of chunks) {
      const what = `submit ${chunk.length} units`;
      const flat = await this.txn(
        chunk.flatMap((c) => c.compares),
        chunk.flatMap((c) => c.ops),
        [],
        what,
      );
      revision = flat.header.revision;
      if (flat.succeeded) {
        for (const c of chunk) created.push(c.name);
        continue;
      }
      const nested: IRequestOp[] = chunk.map((c) => ({
        request_txn: { compare: c.compares, success: c.ops, failure: [] },
      }));
      const res = await this.txn([], nested, [], what);
      revision = res.header.revision;
      res.responses.forEach((r, j) => (r.response_txn?.succeeded ? created : existing).push(chunk[j]!.name));
    }
    return { created, existing, revision, transactions: chunks.length };
  }

  /** Replaces the file (and optionally desired state/source) of an existing unit. */
  async replaceUnit(input: UnitInput): Promise<Stored<UnitRecord>> {
    const fresh = this.newUnitRecord(input).record;
    return this.updateUnit(fresh.name, `replace unit ${fresh.name}`, (cur) => ({
      ...cur,
      body: fresh.body,
      hash: fresh.hash,
      desiredState: input.desiredState ?? cur.desiredState,
      ...(input.source !== undefined ? { source: input.source } : {}),
      updatedAt: fresh.updatedAt!,
    }));
  }

  async setDesiredState(name: string, state: DesiredState): Promise<Stored<UnitRecord>> {
    if (!(DESIRED_STATES as readonly string[]).includes(state)) {
      throw new InvalidInputError(
        `desired state "${state}" of unit ${name} must be one of ${DESIRED_STATES.join(', ')}`,
      );
    }
    return this.updateUnit(name, `set unit ${name} to ${state}`, (cur) => ({
      ...cur,
      desiredState: state,
      updatedAt: this.now().toISOString(),
    }));
  }

  /**
   * Removes the unit and its assignments, in one transaction when they fit (else the unit and the
   * first assignments, then the rest; none can be added meanwhile, as the engine's writes are
   * guarded by the unit's create revision). Concurrent destroys share their listings of the
   * schedule (see assignmentKeysOf). Throws UnitNotFoundError if absent.
   */
  async destroyUnit(name: string): Promise<{ revision: string; assignmentsRemoved: number }> {
    this.refuseUnitName(name);
    const key = this.keys.unit(name);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const read = await this.getKvAt(key, `read unit ${name}`);
      const kv = read.kv;
      if (!kv) throw new UnitNotFoundError(name, key);
      const assigned = await this.assignmentKeysOf(name, read.revision);
      const first = assigned.slice(0, this.maxTxnOps - 1);
      const rest = assigned.slice(first.length);
      const res = await this.txn(
        [modRevisionIs(key, kv.mod_revision)],
        [deleteOp(key), ...first.map(deleteOp)],
        [],
        `destroy unit ${name}`,
      );
      if (!res.succeeded) continue;
      let revision = res.header.revision;
      // Anything the engine placed between our read and the delete, and any overflow.
      const after = await this.assignmentKeysOf(name, BigInt(res.header.revision));
      const leftovers = [...rest, ...after.filter((k) => !first.includes(k))];
      const unique = [...new Set(leftovers)];
      for (const chunk of chunkItems(
        unique.map((k) => ({ compares: [], ops: [deleteOp(k)] })),
        this.maxTxnOps,
        1,
      )) {
        const r = await this.txn(
          [createRevisionIs(key, 0)],
          chunk.flatMap((c) => c.ops),
          [],
          `remove assignments of destroyed unit ${name}`,
        );
        if (!r.succeeded) break; // submitted again meanwhile: the new unit's schedule is the engine's
        revision = r.header.revision;
      }
      return { revision, assignmentsRemoved: first.length + unique.length };
    }
    throw new ConflictError(`unit ${name}`, key);
  }

  async getUnit(name: string): Promise<Stored<UnitRecord> | undefined> {
    this.refuseUnitName(name);
    const key = this.keys.unit(name);
    const kv = await this.getKv(key, `read unit ${name}`);
    return kv ? this.decodeOrReport(kv, this.decodeUnitKv) : undefined;
  }

  /**
   * The named units that exist (name -> unit), read in transactions of up to maxTxnOps gets each:
   * one round trip per maxTxnOps names, not one per name. Invalid values are reported and skipped.
   */
  async getUnits(names: readonly string[]): Promise<Map<string, Stored<UnitRecord>>> {
    const { kvs } = await this.getKvs(
      names.map((n) => {
        this.refuseUnitName(n);
        return this.keys.unit(n);
      }),
      `read ${names.length} units`,
    );
    const out = new Map<string, Stored<UnitRecord>>();
    for (const kv of kvs.values()) {
      const s = this.decodeOrReport(kv, this.decodeUnitKv);
      if (s) out.set(s.id, s);
    }
    return out;
  }

  /**
   * Sets the desired state of many units: one read and one write per maxTxnOps units, each unit
   * compared on its mod revision (a chunk that lost a race is read and written again). Units not in
   * the cluster are returned in `missing`, untouched; a unit holding an invalid value is refused
   * (InvalidInputError) before anything is written.
   */
  async setDesiredStates(
    changes: readonly { name: string; state: DesiredState }[],
  ): Promise<{ missing: string[]; revision: string }> {
    for (const c of changes) {
      this.refuseUnitName(c.name);
      if (!(DESIRED_STATES as readonly string[]).includes(c.state)) {
        throw new InvalidInputError(
          `desired state "${c.state}" of unit ${c.name} must be one of ${DESIRED_STATES.join(', ')}`,
        );
      }
    }
    this.refuseDuplicates(changes.map((c) => this.keys.unit(c.name)));
    const missing: string[] = [];
    let revision = '0';
    let pending = [...changes];
    for (let attempt = 0; attempt < CAS_ATTEMPTS && pending.length > 0; attempt++) {
      const { kvs } = await this.getKvs(
        pending.map((c) => this.keys.unit(c.name)),
        `read ${pending.length} units`,
      );
      const items = new Map<TxnItem, (typeof changes)[number]>();
      for (const c of pending) {
        const key = this.keys.unit(c.name);
        const kv = kvs.get(key);
        if (!kv) {
          missing.push(c.name);
          continue;
        }
        const d = decodeUnit(c.name, kv.value.toString(), this.check);
        if (!d.ok) {
          this.reportInvalid(key, kv.mod_revision, d.reason);
          throw new InvalidInputError(
            `unit ${c.name} holds an invalid value (${d.reason}); submit it again after destroying it, or fix ${key}`,
            key,
          );
        }
        const next = { ...d.record, desiredState: c.state, updatedAt: this.now().toISOString() };
        items.set(
          { compares: [modRevisionIs(key, kv.mod_revision)], ops: [putOp(key, encodeUnit(next))] },
          c,
        );
      }
      pending = [];
      for (const chunk of chunkItems([...items.keys()], this.maxTxnOps, 0, this.maxTxnBytes)) {
        const res = await this.txn(
          chunk.flatMap((c) => c.compares),
          chunk.flatMap((c) => c.ops),
          [],
          `set ${chunk.length} units' desired state`,
        );
        if (res.succeeded) revision = res.header.revision;
        else pending.push(...chunk.map((c) => items.get(c)!));
      }
    }
    if (pending.length > 0)
      throw new ConflictError(
        `units ${pending.map((c) => c.name).join(', ')}`,
        this.keys.unit(pending[0]!.name),
      );
    return { missing, revision };
  }

  /**
   * Destroys many units and their assignments: one read of the units, one keys-only listing of the
   * schedule, and transactions of up to maxTxnOps deletes, each unit compared on its mod revision.
   * A unit with more assignments than fit in one transaction goes through destroyUnit. Units not in
   * the cluster are returned in `missing`.
   */
  async destroyUnits(names: readonly string[]): Promise<{ destroyed: string[]; missing: string[] }> {
    for (const n of names) this.refuseUnitName(n);
    this.refuseDuplicates(names.map((n) => this.keys.unit(n)));
    const destroyed: string[] = [];
    const missing: string[] = [];
    const alone: string[] = [];
    let revision = 0n;
    let pending = [...names];
    for (let attempt = 0; attempt < CAS_ATTEMPTS && pending.length > 0; attempt++) {
      const read = await this.getKvs(
        pending.map((n) => this.keys.unit(n)),
        `read ${pending.length} units`,
      );
      const schedule = await this.scheduleKeysAt(read.revision);
      const items = new Map<TxnItem, string>();
      for (const name of pending) {
        const key = this.keys.unit(name);
        const kv = read.kvs.get(key);
        if (!kv) {
          missing.push(name);
          continue;
        }
        const assigned = schedule.get(name) ?? [];
        if (assigned.length >= this.maxTxnOps) {
          alone.push(name);
          continue;
        }
        items.set(
          {
            compares: [modRevisionIs(key, kv.mod_revision)],
            ops: [deleteOp(key), ...assigned.map(deleteOp)],
          },
          name,
        );
      }
      pending = [];
      for (const chunk of chunkItems([...items.keys()], this.maxTxnOps, 0, this.maxTxnBytes)) {
        const res = await this.txn(
          chunk.flatMap((c) => c.compares),
          chunk.flatMap((c) => c.ops),
          [],
          `destroy ${chunk.length} units`,
        );
        const names = chunk.map((c) => items.get(c)!);
        if (!res.succeeded) {
          pending.push(...names);
          continue;
        }
        destroyed.push(...names);
        if (BigInt(res.header.revision) > revision) revision = BigInt(res.header.revision);
      }
    }
    if (pending.length > 0)
      throw new ConflictError(`units ${pending.join(', ')}`, this.keys.unit(pending[0]!));
    if (destroyed.length > 0) await this.removeLateAssignments(destroyed, revision);
    for (const name of alone) {
      try {
        await this.destroyUnit(name);
        destroyed.push(name);
      } catch (e) {
        if (!(e instanceof UnitNotFoundError)) throw e;
        missing.push(name);
      }
    }
    return { destroyed, missing };
  }

  /**
   * Assignments the engine wrote between a batch destroy's read and its delete: removed unless the
   * unit was submitted again meanwhile (then its schedule is the engine's).
   */
  private async removeLateAssignments(units: readonly string[], atLeast: bigint): Promise<void> {
    const schedule = await this.scheduleKeysAt(atLeast);
    const items = units.flatMap((u) => {
      const keys = schedule.get(u) ?? [];
      const unitKey = this.keys.unit(u);
      // Per unit, in pieces that fit one transaction with the unit's compare.
      const out: TxnItem[] = [];
      for (let i = 0; i < keys.length; i += this.maxTxnOps - 1) {
        out.push({
          compares: [createRevisionIs(unitKey, 0)],
          ops: keys.slice(i, i + this.maxTxnOps - 1).map(deleteOp),
        });
      }
      return out;
    });
    for (const chunk of chunkItems(items, this.maxTxnOps, 0, this.maxTxnBytes)) {
      const res = await this.txn(
        chunk.flatMap((c) => c.compares),
        chunk.flatMap((c) => c.ops),
        [],
        `remove assignments of ${chunk.length} destroyed units`,
      );
      if (res.succeeded || chunk.length === 1) continue;
      // One of them was submitted again: the others one by one.
      for (const item of chunk) {
        await this.txn(item.compares, item.ops, [], 'remove assignments of a destroyed unit');
      }
    }
  }

  listUnits(): Promise<Listing<UnitRecord>> {
    return this.list(this.keys.unitsPrefix(), 'units', this.decodeUnitKv);
  }

  watchUnits(opts: StreamOptions = {}): RegistryStream<UnitRecord> {
    return this.stream('units', this.keys.unitsPrefix(), this.decodeUnitKv, opts);
  }

  // ---------------------------------------------------------------- schedule (engine only)

  /** etcd3's election for the engine leader, under `<prefix>election/engine/`. */
  engineElection(ttlSeconds: number): Election {
    return this.client.namespace(this.keys.electionNamespace()).election(ENGINE_ELECTION, ttlSeconds);
  }

  /**
   * The leases of a candidate's keys in the engine election (etcd3's campaign value is the
   * candidate's name): revoking them ends its candidacy, and if it leads, the next candidate leads
   * at once. For `fleetd fence`, after this machine's fleetd died without resigning.
   */
  async engineCandidacies(candidate: string): Promise<{ key: string; lease: string }[]> {
    const prefix = this.keys.electionPrefix();
    let kvs: IKeyValue[];
    try {
      ({ kvs } = await rangePrefix(this.client, prefix));
    } catch (e) {
      throw this.wrapError(e, `read the engine election (${prefix})`);
    }
    return kvs
      .filter((kv) => kv.value.toString() === candidate && kv.lease !== '0')
      .map((kv) => ({ key: kv.key.toString(), lease: kv.lease }));
  }

  /**
   * The fence of an elected engine: its campaign key (Campaign.getCampaignKey()) and that key's
   * create revision. Throws NotLeaderError if the key is gone or is not the leader's.
   */
  async fenceFor(campaignKey: string): Promise<Fence> {
    const prefix = this.keys.electionPrefix();
    if (!campaignKey.startsWith(prefix)) {
      throw new InvalidInputError(
        `${campaignKey} is not an engine election key (under ${prefix})`,
        campaignKey,
      );
    }
    try {
      const res = await this.client.kv.range({
        key: Buffer.from(prefix),
        range_end: prefixEnd(prefix),
        sort_target: 'Create',
        sort_order: 'Ascend',
        limit: 1,
        keys_only: true,
      });
      const own = await this.getKv(campaignKey, 'read the engine election key');
      const leader = res.kvs[0];
      if (!own) throw new NotLeaderError(campaignKey, undefined);
      if (!leader || leader.key.toString() !== campaignKey) {
        throw new NotLeaderError(campaignKey, leader?.key.toString());
      }
      return { key: campaignKey, createRevision: own.create_revision };
    } catch (e) {
      throw this.wrapError(e, 'read the engine election');
    }
  }

  /**
   * Writes schedule changes, each transaction fenced by the engine's leadership: if the fence's
   * key is gone or was re-created, nothing of that transaction is written and StaleFenceError is
   * thrown. Changes are chunked under maxTxnOps; transactions before a refused one stay applied.
   */
  async applySchedule(fence: Fence, changes: readonly ScheduleChange[]): Promise<BatchResult> {
    const items: TxnItem[] = [];
    for (const c of changes) {
      if (c.type === 'put') {
        const r = c.record;
        this.refuseMachineId(r.machineId);
        this.refuseUnitName(r.unit);
        items.push(assignmentPut(this.keys, r));
      } else {
        this.refuseMachineId(c.machineId);
        this.refuseUnitName(c.unit);
        items.push({ compares: [], ops: [deleteOp(this.keys.assignment(c.machineId, c.unit))] });
      }
    }
    return this.writeFenced(fence, items, 'write the schedule');
  }

  /**
   * Writes items in chunked transactions, each also comparing the fence: StaleFenceError if it is
   * no longer current (nothing of that transaction is written; earlier ones stay applied).
   */
  private async writeFenced(fence: Fence, items: TxnItem[], what: string): Promise<BatchResult> {
    this.refuseDuplicateItems(items);
    const fenceCmp = createRevisionIs(fence.key, fence.createRevision);
    let revision = '0';
    const chunks = chunkItems(items, this.maxTxnOps, 1, this.maxTxnBytes);
    for (const chunk of chunks) {
      const res = await this.txn(
        [fenceCmp],
        chunk.flatMap((c) => c.ops),
        [],
        what,
      );
      if (!res.succeeded) throw new StaleFenceError(fence);
      revision = res.header.revision;
    }
    return { revision, transactions: chunks.length };
  }

  /** All assignments, or one machine's. */
  listSchedule(machineId?: string): Promise<Listing<AssignmentRecord>> {
    if (machineId !== undefined) this.refuseMachineId(machineId);
    return this.list(
      this.keys.schedulePrefix(machineId),
      this.scheduleWhat(machineId),
      this.decodeAssignmentKv,
    );
  }

  /** The schedule, or one machine's part of it (an agent watches only its own). */
  watchSchedule(machineId: string | undefined, opts: StreamOptions = {}): RegistryStream<AssignmentRecord> {
    if (machineId !== undefined) this.refuseMachineId(machineId);
    return this.stream(
      this.scheduleWhat(machineId),
      this.keys.schedulePrefix(machineId),
      this.decodeAssignmentKv,
      opts,
    );
  }

  // ---------------------------------------------------------------- placement reasons (engine only)

  /**
   * Writes why units are not placed (and removes the reasons of units that are), fenced like the
   * schedule: StaleFenceError if the fence is no longer current (nothing of that transaction is
   * written). Chunked; transactions before a refused one stay applied.
   */
  async applyReasons(fence: Fence, changes: readonly ReasonsChange[]): Promise<BatchResult> {
    const items: TxnItem[] = changes.map((c) => {
      if (c.type === 'delete') {
        this.refuseUnitName(c.unit);
        return { compares: [], ops: [deleteOp(this.keys.reasons(c.unit))] };
      }
      this.refuseUnitName(c.record.unit);
      const key = this.keys.reasons(c.record.unit);
      const value = encodeReasons(c.record);
      const d = decodeReasons(c.record.unit, value);
      if (!d.ok) throw new InvalidInputError(`reasons of ${c.record.unit} are invalid: ${d.reason}`, key);
      return { compares: [], ops: [putOp(key, value)] };
    });
    return this.writeFenced(fence, items, 'write placement reasons');
  }

  /** Why each unit the engine could not place is not placed. */
  listReasons(): Promise<Listing<PlacementReasonsRecord>> {
    return this.list(this.keys.reasonsPrefix(), 'placement reasons', this.decodeReasonsKv);
  }

  /** Why `unit` is not placed, or undefined when the engine has nothing to say (placed, or not wanted). */
  async getReasons(unit: string): Promise<Stored<PlacementReasonsRecord> | undefined> {
    this.refuseUnitName(unit);
    const kv = await this.getKv(this.keys.reasons(unit), `read the placement reasons of ${unit}`);
    return kv ? this.decodeOrReport(kv, this.decodeReasonsKv) : undefined;
  }

  // ---------------------------------------------------------------- machines (their agents)

  /** Writes this machine's record attached to its agent's lease (etcd3 Lease.grant()'s ID). */
  async putMachine(record: MachineRecord, leaseId: string): Promise<string> {
    this.refuseMachineId(record.id);
    const key = this.keys.machine(record.id);
    const value = encodeMachine(record);
    const d = decodeMachine(record.id, value);
    if (!d.ok) throw new InvalidInputError(`machine record of ${record.id} is invalid: ${d.reason}`, key);
    const res = await this.txn([], [putOp(key, value, leaseId)], [], `publish machine ${record.id}`);
    return res.header.revision;
  }

  async removeMachine(machineId: string): Promise<void> {
    this.refuseMachineId(machineId);
    await this.txn([], [deleteOp(this.keys.machine(machineId))], [], `remove machine ${machineId}`);
  }

  /**
   * Changes a machine's record in place (compare-and-swap on its revision, retried), keeping it
   * attached to its agent's lease: the API's metadata and draining edits. The agent owns the
   * record; it must carry such edits over when it publishes its record again. Throws
   * MachineNotFoundError when there is no record.
   */
  async updateMachine(
    machineId: string,
    what: string,
    change: (cur: MachineRecord) => MachineRecord | Promise<MachineRecord>,
  ): Promise<Stored<MachineRecord>> {
    this.refuseMachineId(machineId);
    const key = this.keys.machine(machineId);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const kv = await this.getKv(key, `read machine ${machineId}`);
      if (!kv) throw new MachineNotFoundError(machineId, key);
      const d = decodeMachine(machineId, kv.value.toString());
      if (!d.ok) {
        this.reportInvalid(key, kv.mod_revision, d.reason);
        throw new InvalidInputError(
          `machine ${machineId} holds an invalid record (${d.reason}); fix ${key}`,
          key,
        );
      }
      const next = { ...(await change(d.record)), id: machineId };
      const value = encodeMachine(next);
      const check = decodeMachine(machineId, value);
      if (!check.ok) throw new InvalidInputError(`cannot ${what}: ${check.reason}`, key);
      const res = await this.txn(
        [modRevisionIs(key, kv.mod_revision)],
        [putOp(key, value, kv.lease === '0' ? undefined : kv.lease)],
        [],
        what,
      );
      if (res.succeeded) {
        return {
          id: machineId,
          key,
          record: next,
          createRevision: kv.create_revision,
          modRevision: res.header.revision,
          lease: kv.lease,
        };
      }
    }
    throw new ConflictError(`machine ${machineId}`, key);
  }

  listMachines(): Promise<Listing<MachineRecord>> {
    return this.list(this.keys.machinesPrefix(), 'machines', this.decodeMachineKv);
  }

  watchMachines(opts: StreamOptions = {}): RegistryStream<MachineRecord> {
    return this.stream('machines', this.keys.machinesPrefix(), this.decodeMachineKv, opts);
  }

  // ---------------------------------------------------------------- unit states (their agents)

  /** Publishes unit states of one machine, attached to its agent's lease; chunked. */
  async putUnitStates(records: readonly UnitStateRecord[], leaseId: string): Promise<BatchResult> {
    const items = records.map((r) => {
      this.refuseMachineId(r.machineId);
      this.refuseUnitName(r.unit);
      const key = this.keys.state(r.machineId, r.unit);
      const value = encodeUnitState(r);
      const d = decodeUnitState(r.machineId, r.unit, value);
      if (!d.ok)
        throw new InvalidInputError(`state of ${r.unit} on ${r.machineId} is invalid: ${d.reason}`, key);
      return { compares: [], ops: [putOp(key, value, leaseId)] };
    });
    return this.writeChunks(items, 'publish unit states');
  }

  async deleteUnitStates(machineId: string, units: readonly string[]): Promise<BatchResult> {
    this.refuseMachineId(machineId);
    const items = units.map((u) => {
      this.refuseUnitName(u);
      return { compares: [], ops: [deleteOp(this.keys.state(machineId, u))] };
    });
    return this.writeChunks(items, `remove unit states of ${machineId}`);
  }

  listUnitStates(machineId?: string): Promise<Listing<UnitStateRecord>> {
    if (machineId !== undefined) this.refuseMachineId(machineId);
    return this.list(this.keys.statesPrefix(machineId), this.statesWhat(machineId), this.decodeStateKv);
  }

  watchUnitStates(machineId: string | undefined, opts: StreamOptions = {}): RegistryStream<UnitStateRecord> {
    if (machineId !== undefined) this.refuseMachineId(machineId);
    return this.stream(
      this.statesWhat(machineId),
      this.keys.statesPrefix(machineId),
      this.decodeStateKv,
      opts,
    );
  }

  // ---------------------------------------------------------------- freshness of caches

  /**
   * How many keys are under a prefix and the highest revision at which one of them was written.
   * A cache fed by a stream of that prefix reflects etcd now when its stream's revision is at least
   * `maxModRevision` and it holds `count` records (a delete lowers the count; a put raises the
   * revision). Two small range requests, however many keys there are.
   */
  async prefixWatermark(
    kind: 'units' | 'schedule' | 'machines' | 'states',
  ): Promise<{ count: number; maxModRevision: string; revision: string }> {
    const prefix = {
      units: this.keys.unitsPrefix(),
      schedule: this.keys.schedulePrefix(),
      machines: this.keys.machinesPrefix(),
      states: this.keys.statesPrefix(),
    }[kind];
    const range = { key: Buffer.from(prefix), range_end: prefixEnd(prefix) };
    try {
      const [c, top] = await Promise.all([
        this.client.kv.range({ ...range, count_only: true }),
        this.client.kv.range({
          ...range,
          sort_target: 'Mod',
          sort_order: 'Descend',
          limit: 1,
          keys_only: true,
        }),
      ]);
      return {
        count: Number(c.count),
        maxModRevision: top.kvs[0]?.mod_revision ?? '0',
        revision: c.header.revision,
      };
    } catch (e) {
      throw this.wrapError(e, `count ${kind} (${prefix})`);
    }
  }

  // ---------------------------------------------------------------- invalid values

  /** Reports an invalid value once per key and revision. */
  reportInvalid(key: string, modRevision: string, reason: string): void {
    if (this.reported.get(key) === modRevision) return;
    this.reported.set(key, modRevision);
    const report: InvalidValue = {
      key,
      modRevision,
      reason,
      message: `skipping ${key} (revision ${modRevision}): ${reason}; fix or delete the key (see docs/etcd-schema.md)`,
    };
    this.opts.onInvalid?.(report);
    this.emit('invalid', report);
  }

  private forgetInvalid(key: string): void {
    this.reported.delete(key);
  }

  // ---------------------------------------------------------------- decoding

  private readonly decodeUnitKv = (kv: IKeyValue, key = kv.key.toString()): KvDecoded<UnitRecord> => {
    const p = this.keys.parse(key);
    if (p.kind !== 'unit')
      return { ok: false, reason: `not a unit key: ${p.kind === 'unknown' ? p.reason : p.kind}` };
    const d = decodeUnit(p.unit, kv.value.toString(), this.check);
    return d.ok ? { ok: true, id: p.unit, record: d.record } : d;
  };

  private readonly decodeAssignmentKv = (
    kv: IKeyValue,
    key = kv.key.toString(),
  ): KvDecoded<AssignmentRecord> => {
    const p = this.keys.parse(key);
    if (p.kind !== 'assignment') {
      return { ok: false, reason: `not an assignment key: ${p.kind === 'unknown' ? p.reason : p.kind}` };
    }
    const d = decodeAssignment(p.machineId, p.unit, kv.value.toString(), this.check);
    return d.ok ? { ok: true, id: machineUnitId(p.machineId, p.unit), record: d.record } : d;
  };

  private readonly decodeMachineKv = (kv: IKeyValue, key = kv.key.toString()): KvDecoded<MachineRecord> => {
    const p = this.keys.parse(key);
    if (p.kind !== 'machine') {
      return { ok: false, reason: `not a machine key: ${p.kind === 'unknown' ? p.reason : p.kind}` };
    }
    const d = decodeMachine(p.machineId, kv.value.toString());
    return d.ok ? { ok: true, id: p.machineId, record: d.record } : d;
  };

  private readonly decodeReasonsKv = (
    kv: IKeyValue,
    key = kv.key.toString(),
  ): KvDecoded<PlacementReasonsRecord> => {
    const p = this.keys.parse(key);
    if (p.kind !== 'reasons') {
      return { ok: false, reason: `not a reasons key: ${p.kind === 'unknown' ? p.reason : p.kind}` };
    }
    const d = decodeReasons(p.unit, kv.value.toString());
    return d.ok ? { ok: true, id: p.unit, record: d.record } : d;
  };

  private readonly decodeStateKv = (kv: IKeyValue, key = kv.key.toString()): KvDecoded<UnitStateRecord> => {
    const p = this.keys.parse(key);
    if (p.kind !== 'state') {
      return { ok: false, reason: `not a unit state key: ${p.kind === 'unknown' ? p.reason : p.kind}` };
    }
    const d = decodeUnitState(p.machineId, p.unit, kv.value.toString());
    return d.ok ? { ok: true, id: machineUnitId(p.machineId, p.unit), record: d.record } : d;
  };

  private decodeOrReport<T>(kv: IKeyValue, decode: KvDecoder<T>): Stored<T> | undefined {
    const key = kv.key.toString();
    const d = decode(kv, key);
    if (!d.ok) {
      this.reportInvalid(key, kv.mod_revision, d.reason);
      return undefined;
    }
    return storedFrom(kv, d);
  }

  // ---------------------------------------------------------------- plumbing

  private scheduleWhat(machineId: string | undefined): string {
    return machineId === undefined ? 'schedule' : `schedule of machine ${machineId}`;
  }

  private statesWhat(machineId: string | undefined): string {
    return machineId === undefined ? 'unit states' : `unit states of machine ${machineId}`;
  }

  private stream<T>(
    what: string,
    prefix: string,
    decode: KvDecoder<T>,
    opts: StreamOptions,
  ): RegistryStream<T> {
    return new RegistryStream<T>(
      {
        client: this.client,
        what,
        prefix,
        decode,
        invalid: (k, r, why) => this.reportInvalid(k, r, why),
        forgetInvalid: (k) => this.forgetInvalid(k),
        wrapError: (e, op) => this.wrapError(e, op),
      },
      opts,
    );
  }

  private async list<T>(prefix: string, what: string, decode: KvDecoder<T>): Promise<Listing<T>> {
    let res;
    try {
      res = await rangePrefix(this.client, prefix);
    } catch (e) {
      throw this.wrapError(e, `list ${what} (${prefix})`);
    }
    const items: Stored<T>[] = [];
    for (const kv of res.kvs) {
      const s = this.decodeOrReport(kv, decode);
      if (s) items.push(s);
    }
    return { items, revision: res.revision };
  }

  private async updateUnit(
    name: string,
    what: string,
    change: (cur: UnitRecord) => UnitRecord,
  ): Promise<Stored<UnitRecord>> {
    this.refuseUnitName(name);
    const key = this.keys.unit(name);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const kv = await this.getKv(key, `read unit ${name}`);
      if (!kv) throw new UnitNotFoundError(name, key);
      const d = decodeUnit(name, kv.value.toString(), this.check);
      if (!d.ok) {
        this.reportInvalid(key, kv.mod_revision, d.reason);
        throw new InvalidInputError(
          `unit ${name} holds an invalid value (${d.reason}); submit it again after destroying it, or fix ${key}`,
          key,
        );
      }
      const next = change(d.record);
      const res = await this.txn(
        [modRevisionIs(key, kv.mod_revision)],
        [putOp(key, encodeUnit(next))],
        [],
        what,
      );
      if (res.succeeded) {
        const rev = res.header.revision;
        return {
          id: name,
          key,
          record: next,
          createRevision: kv.create_revision,
          modRevision: rev,
          lease: '0',
        };
      }
    }
    throw new ConflictError(`unit ${name}`, key);
  }

  /**
   * A unit record to store, created and updated `at` (default now), and its value: checked as
   * decodeUnit would check it once stored.
   */
  private newUnitRecord(
    input: UnitInput,
    at = this.now().toISOString(),
  ): { record: UnitRecord; value: string } {
    this.refuseUnitName(input.name);
    const key = this.keys.unit(input.name);
    if (typeof input.body !== 'string' || input.body.length === 0) {
      throw new InvalidInputError(`unit ${input.name} has an empty file`, key);
    }
    const state = input.desiredState ?? 'inactive';
    if (!(DESIRED_STATES as readonly string[]).includes(state)) {
      throw new InvalidInputError(
        `desired state "${state}" of unit ${input.name} must be one of ${DESIRED_STATES.join(', ')}`,
        key,
      );
    }
    const rec: UnitRecord = {
      name: input.name,
      body: input.body,
      hash: '',
      desiredState: state,
      createdAt: at,
      updatedAt: at,
    };
    if (input.source !== undefined) rec.source = input.source;
    const d = validateUnit(rec, this.check);
    if (!d.ok) throw new InvalidInputError(`unit ${input.name} cannot be submitted: ${d.reason}`, key);
    return d;
  }

  /**
   * The unit's assignment keys in a keys-only listing of the schedule at `minRevision` or later.
   * Concurrent destroys share listings (see CoalescedRead): a burst of N destroys costs a few
   * listings of the schedule, not N (each a few round trips: pages grow, see rangePrefix).
   */
  private async assignmentKeysOf(unit: string, minRevision: bigint): Promise<string[]> {
    const prefix = this.keys.schedulePrefix();
    let snap;
    try {
      snap = await this.scheduleKeys.get(minRevision);
    } catch (e) {
      throw this.wrapError(e, `list the schedule (${prefix})`);
    }
    return [...(snap.value.get(unit) ?? [])];
  }

  /** unit -> its assignment keys, from one keys-only listing of the schedule. */
  private readonly scheduleKeys = new CoalescedRead<Map<string, string[]>>(async () => {
    const res = await rangePrefix(this.client, this.keys.schedulePrefix(), { keysOnly: true });
    const byUnit = new Map<string, string[]>();
    for (const kv of res.kvs) {
      const k = kv.key.toString();
      const p = this.keys.parse(k);
      if (p.kind !== 'assignment') continue;
      const list = byUnit.get(p.unit);
      if (list) list.push(k);
      else byUnit.set(p.unit, [k]);
    }
    return { revision: BigInt(res.revision), value: byUnit };
  });

  private async writeChunks(items: TxnItem[], what: string): Promise<BatchResult> {
    this.refuseDuplicateItems(items);
    let revision = '0';
    const chunks = chunkItems(items, this.maxTxnOps, 0, this.maxTxnBytes);
    for (const chunk of chunks) {
      const res = await this.txn(
        chunk.flatMap((c) => c.compares),
        chunk.flatMap((c) => c.ops),
        [],
        what,
      );
      revision = res.header.revision;
    }
    return { revision, transactions: chunks.length };
  }

  /** unit -> its assignment keys, from a keys-only listing of the schedule at `minRevision` or later. */
  private async scheduleKeysAt(minRevision: bigint): Promise<Map<string, string[]>> {
    try {
      return (await this.scheduleKeys.get(minRevision)).value;
    } catch (e) {
      throw this.wrapError(e, `list the schedule (${this.keys.schedulePrefix()})`);
    }
  }

  /**
   * Many keys in transactions of up to maxTxnOps gets (one round trip per maxTxnOps keys): the
   * key-values found (by key) and the highest revision read at. A response stays within the
   * client's receive limit: 128 values of MAX_VALUE_BYTES (192 KiB) are 24 MiB, under 64 MiB.
   */
  private async getKvs(
    keys: readonly string[],
    what: string,
  ): Promise<{ kvs: Map<string, IKeyValue>; revision: bigint }> {
    const kvs = new Map<string, IKeyValue>();
    let revision = 0n;
    for (let i = 0; i < keys.length; i += this.maxTxnOps) {
      const res = await this.txn([], keys.slice(i, i + this.maxTxnOps).map(rangeOp), [], what);
      for (const r of res.responses)
        for (const kv of r.response_range?.kvs ?? []) kvs.set(kv.key.toString(), kv);
      if (BigInt(res.header.revision) > revision) revision = BigInt(res.header.revision);
    }
    return { kvs, revision };
  }

  /** The key (or undefined) and the revision it was read at. */
  private async getKvAt(key: string, what: string): Promise<{ kv: IKeyValue | undefined; revision: bigint }> {
    try {
      const res = await this.client.kv.range({ key: Buffer.from(key) });
      return { kv: res.kvs[0], revision: BigInt(res.header.revision) };
    } catch (e) {
      throw this.wrapError(e, what);
    }
  }

  private async getKv(key: string, what: string): Promise<IKeyValue | undefined> {
    try {
      const res = await this.client.kv.range({ key: Buffer.from(key) });
      return res.kvs[0];
    } catch (e) {
      throw this.wrapError(e, what);
    }
  }

  private async txn(
    compare: ICompare[],
    success: IRequestOp[],
    failure: IRequestOp[],
    what: string,
  ): Promise<ITxnResponse> {
    try {
      return await this.client.kv.txn({ compare, success, failure });
    } catch (e) {
      throw this.wrapError(e, what);
    }
  }

  wrapError(err: unknown, operation: string): FleetError {
    return etcdErrorFrom(err, { ...this.errorContext, operation });
  }

  private refuseUnitName(name: string): void {
    const p = unitNameProblem(name);
    if (p) throw new InvalidInputError(`bad unit name "${name}": ${p}`);
  }

  /** Throws InvalidInputError naming a machine ID that cannot be a key segment. */
  refuseMachineId(id: string): void {
    const p = machineIdProblem(id);
    if (p) throw new InvalidInputError(`bad machine ID "${id}": ${p}`);
  }

  private refuseDuplicates(keys: string[]): void {
    const seen = new Set<string>();
    for (const k of keys) {
      if (seen.has(k)) throw new InvalidInputError(`${k} appears twice in one batch; write it once`, k);
      seen.add(k);
    }
  }

  private refuseDuplicateItems(items: TxnItem[]): void {
    const dups = duplicateKeys(items);
    if (dups.length > 0) {
      throw new InvalidInputError(
        `${dups.join(', ')} appear(s) twice in one batch; write each key once`,
        dups[0],
      );
    }
  }
}

/**
 * Remembers the last results of a body check: the same file is checked again and again (every
 * assignment of a global unit carries it; every re-list decodes it). Bounded; pure. Two
 * generations: when the young one is full it becomes the old one (the previous old one is
 * dropped), and a hit in the old one moves back to the young one; so what is used stays, and each
 * check costs O(1). (Evicting the oldest entry one at a time is quadratic in V8: a Map keeps
 * deleted slots until it rehashes, and keys().next() walks over them.)
 */
export function memoizeCheck(check: UnitBodyCheck, max = 2048): UnitBodyCheck {
  // A check that remembers its answers itself (the engine's ParseCache) needs no second memo.
  if (isMemoized(check)) return check;
  const half = Math.max(1, Math.ceil(max / 2));
  let young = new Map<string, ReturnType<UnitBodyCheck>>();
  let old = new Map<string, ReturnType<UnitBodyCheck>>();
  const remember = (body: string, r: ReturnType<UnitBodyCheck>) => {
    if (young.size >= half) {
      old = young;
      young = new Map();
    }
    young.set(body, r);
  };
  return markMemoized((body) => {
    const hit = young.get(body);
    if (hit) return hit;
    const aged = old.get(body);
    if (aged) {
      remember(body, aged);
      return aged;
    }
    const r = check(body);
    remember(body, r);
    return r;
  });
}

const MEMOIZED = new WeakSet<UnitBodyCheck>();

/** Marks a check as remembering its own answers: memoizeCheck then leaves it as it is. */
export function markMemoized(check: UnitBodyCheck): UnitBodyCheck {
  MEMOIZED.add(check);
  return check;
}

export function isMemoized(check: UnitBodyCheck): boolean {
  return MEMOIZED.has(check);
}

/**
 * The put of one assignment as the engine writes it (no I/O): its value, checked, under its key;
 * InvalidInputError if the record is not valid. The body is the engine's copy of a unit body the
 * registry checked when it read the unit (and the agent checks it again): the fields, names and
 * size are checked here, the body is not parsed a second time (100,000 parses per 100,000
 * placements).
 */
export function assignmentPut(keys: Keys, r: AssignmentRecord): TxnItem {
  const key = keys.assignment(r.machineId, r.unit);
  const value = encodeAssignment(r);
  const d = validateAssignment(r, () => ({ ok: true, hash: r.hash }), value);
  if (!d.ok)
    throw new InvalidInputError(`assignment of ${r.unit} to ${r.machineId} is invalid: ${d.reason}`, key);
  return { compares: [], ops: [putOp(key, value)] };
}

/** The registry options a FleetConfig implies: its key prefix, and its etcd settings for messages. */
export function registryOptionsFrom(
  cfg: Pick<FleetConfig, 'etcdKeyPrefix' | 'etcdServers' | 'etcdRequestTimeoutMs' | 'etcdUsername'>,
): RegistryOptions {
  return {
    prefix: cfg.etcdKeyPrefix,
    errorContext: {
      endpoints: cfg.etcdServers,
      requestTimeoutMs: cfg.etcdRequestTimeoutMs,
      ...(cfg.etcdUsername ? { username: cfg.etcdUsername } : {}),
    },
  };
}
