/**
 * The applier: the only part of the engine that writes. It turns a plan's decisions into schedule
 * changes and writes them through the registry in fenced transactions (each carries the leader's
 * fence, so a deposed leader writes nothing). Transactions are filled to etcd's op limit and
 * several are kept in flight; the engine may hand over the next plan while the last one is still
 * being written (what is written but not yet seen by the model is in `pending`).
 *
 * Order, across plans too: a transaction of removals starts only once every earlier one has
 * finished, and one of placements only once every earlier removal has finished (and no earlier
 * write of the same key is in flight). So a unit that moves is never assigned to two machines,
 * and two writes of one key land in the order they were planned.
 */
import { FleetError, isRetryable } from '../lib/errors.js';
import {
  StaleFenceError,
  machineUnitId,
  type BatchResult,
  type Fence,
  type PlacementReasonsRecord,
  type ReasonsChange,
  type Registry,
  type ScheduleChange,
} from '../lib/registry/index.js';
import type { ClusterView } from './model.js';
import { PendingSchedule, type PendingWrite } from './pending.js';
import type { Decision } from './planner.js';

export interface ApplierOptions {
  /** Transactions in flight at once (default 16). */
  concurrency?: number;
  /** Waits before retry number `attempt` of a write that failed retryably (default 50 ms doubling, up to 2 s). */
  backoff?: (attempt: number) => Promise<void>;
  /** Told of each retryable failure before the write is tried again. */
  onRetry?: (e: FleetError) => void;
  /** Told of each transaction that committed (its writes, still pending, its revision and fence). */
  onCommitted?: (writes: readonly PendingWrite[], revision: bigint, fence: Fence) => void;
}

export interface ApplyResult {
  /** The highest revision written (0 when nothing was written). */
  revision: bigint;
  transactions: number;
  written: number;
}

export class ApplyAbortedError extends FleetError<'APPLY_ABORTED'> {
  constructor() {
    super('APPLY_ABORTED', 'the engine stopped applying its plan (it stopped or lost leadership)');
  }
}

/** One transaction's worth of one plan: all removals or all placements. */
interface Slice {
  removals: boolean;
  fence: Fence;
  changes: ScheduleChange[];
  writes: PendingWrite[];
  keys: string[];
  plan: PlanWrite;
}

/** The writes of one plan and how they went. */
interface PlanWrite {
  left: number;
  result: ApplyResult;
  settled: boolean;
  resolve: (r: ApplyResult) => void;
  reject: (e: unknown) => void;
}

export class Applier {
  private readonly concurrency: number;
  /** Written or being written, perhaps not yet in the model. */
  readonly pending = new PendingSchedule();
  private readonly queue: Slice[] = [];
  private inFlight = 0;
  private removalsInFlight = 0;
  private readonly keysInFlight = new Map<string, number>();
  private waiters: (() => void)[] = [];
  /** Bumped by abort(): writes being retried give up. */
  private generation = 0;
  private readonly backoff: (attempt: number) => Promise<void>;
  private readonly onRetry: ((e: FleetError) => void) | undefined;
  private readonly onCommitted: ApplierOptions['onCommitted'];

  constructor(
    private readonly registry: Registry,
    opts: ApplierOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 16);
    this.backoff = opts.backoff ?? ((n) => new Promise((r) => setTimeout(r, Math.min(50 * 2 ** n, 2000))));
    this.onRetry = opts.onRetry;
    this.onCommitted = opts.onCommitted;
  }

  /**
   * Writes the decisions (after everything handed over before). Resolves once all of them are
   * written; rejects with StaleFenceError (stop: no longer the leader), ApplyAbortedError, or a
   * typed error that retrying cannot fix (a retryable one is retried: see write()). What was
   * written before a failure stays written; after a failure every write still queued is dropped
   * (its plan rejects too).
   */
  apply(fence: Fence, decisions: readonly Decision[], view: ClusterView): Promise<ApplyResult> {
    const removals: ScheduleChange[] = [];
    const puts: ScheduleChange[] = [];
    for (const d of decisions) {
      if (d.type === 'unplace') {
        removals.push({ type: 'delete', machineId: d.machineId, unit: d.unit });
        continue;
      }
      const u = view.units.get(d.unit);
      if (!u || u.desiredState === 'inactive') continue; // the planner never asks this; be safe
      puts.push({
        type: 'put',
        record: {
          unit: u.name,
          machineId: d.machineId,
          body: u.body,
          hash: u.hash,
          desiredState: u.desiredState,
        },
      });
    }
    return new Promise<ApplyResult>((resolve, reject) => {
      const plan: PlanWrite = {
        left: 0,
        result: { revision: 0n, transactions: 0, written: 0 },
        settled: false,
        resolve,
        reject,
      };
      this.enqueue(fence, removals, true, plan);
      this.enqueue(fence, puts, false, plan);
      if (plan.left === 0) {
        plan.settled = true;
        return resolve(plan.result);
      }
      this.pump();
    });
  }

  /** Drops what is queued (the engine stopped or lost leadership): those plans reject. */
  abort(): void {
    this.generation++;
    this.failAll(new ApplyAbortedError());
  }

  /** Resolves when at most one round of transactions is waiting to be sent. */
  async room(): Promise<void> {
    while (this.queue.length > this.concurrency) await this.changed();
  }

  /** Resolves when nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0) await this.changed();
  }

  /** The placement reasons recorded now (read when elected). */
  async readReasons(): Promise<Map<string, PlacementReasonsRecord>> {
    const l = await this.registry.listReasons();
    return new Map(l.items.map((i) => [i.record.unit, i.record]));
  }

  /** Writes placement reasons, fenced (StaleFenceError when no longer the leader). */
  async writeReasons(fence: Fence, changes: readonly ReasonsChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.registry.applyReasons(fence, changes);
  }

  private enqueue(fence: Fence, changes: ScheduleChange[], removals: boolean, plan: PlanWrite): void {
    // One slice per transaction: the fence takes one compare of etcd's limit.
    const size = Math.max(1, this.registry.maxTxnOps - 1);
    for (let i = 0; i < changes.length; i += size) {
      const slice = changes.slice(i, i + size);
      const writes = slice.map((c) => {
        const w: PendingWrite =
          c.type === 'put'
            ? {
                unit: c.record.unit,
                machineId: c.record.machineId,
                id: machineUnitId(c.record.machineId, c.record.unit),
                assignment: c.record,
                record: c.record,
              }
            : {
                unit: c.unit,
                machineId: c.machineId,
                id: machineUnitId(c.machineId, c.unit),
                assignment: undefined,
              };
        this.pending.add(w);
        return w;
      });
      const keys = writes.map((w) => w.id);
      this.queue.push({ removals, fence, changes: slice, writes, keys, plan });
      plan.left++;
    }
  }

  /** Whether the first queued slice may start now (see the order at the top of this file). */
  private mayStart(s: Slice): boolean {
    if (s.removals) return this.inFlight === 0;
    if (this.removalsInFlight > 0) return false;
    return this.keysInFlight.size === 0 || !s.keys.some((k) => this.keysInFlight.has(k));
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.concurrency && this.mayStart(this.queue[0]!)) {
      void this.send(this.queue.shift()!);
    }
  }

  private async send(s: Slice): Promise<void> {
    this.inFlight++;
    if (s.removals) this.removalsInFlight++;
    for (const k of s.keys) this.keysInFlight.set(k, (this.keysInFlight.get(k) ?? 0) + 1);
    try {
      const r = await this.write(s);
      const rev = BigInt(r.revision);
      this.pending.committed(s.writes, rev);
      this.onCommitted?.(s.writes, rev, s.fence);
      const res = s.plan.result;
      if (rev > res.revision) res.revision = rev;
      res.transactions += r.transactions;
      res.written += s.changes.length;
      if (--s.plan.left === 0 && !s.plan.settled) {
        s.plan.settled = true;
        s.plan.resolve(res);
      }
    } catch (e) {
      // A stale fence outranks anything else: the caller must stop.
      this.failAll(e, s.plan);
    } finally {
      this.inFlight--;
      if (s.removals) this.removalsInFlight--;
      for (const k of s.keys) {
        const n = this.keysInFlight.get(k)! - 1;
        if (n === 0) this.keysInFlight.delete(k);
        else this.keysInFlight.set(k, n);
      }
      this.pump();
      this.notify();
    }
  }

  /**
   * Writes one slice; a retryable failure (etcd slow or unreachable: the write may or may not have
   * been applied) is retried with the same changes, which is harmless if it was applied, until it
   * succeeds, fails otherwise, or the applier is aborted. The slice keeps its place meanwhile, so
   * the order of writes holds and what the engine planned on (`pending`) stays true.
   */
  private async write(s: Slice): Promise<BatchResult> {
    const generation = this.generation;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.registry.applySchedule(s.fence, s.changes);
      } catch (e) {
        if (!isRetryable(e) || isStaleFence(e)) throw e;
        this.onRetry?.(e as FleetError);
        await this.backoff(attempt);
        if (generation !== this.generation) throw new ApplyAbortedError();
      }
    }
  }

  /** Drops every queued slice; their plans (and `failed`'s) reject with `e`. */
  private failAll(e: unknown, failed?: PlanWrite): void {
    const plans = new Set<PlanWrite>(failed ? [failed] : []);
    for (const s of this.queue.splice(0)) plans.add(s.plan);
    for (const p of plans) {
      if (p.settled) continue;
      p.settled = true;
      p.reject(e);
    }
    this.notify();
  }

  private changed(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}

export function isStaleFence(e: unknown): e is StaleFenceError {
  return e instanceof StaleFenceError;
}
