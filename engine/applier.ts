/**
 * The applier: the only part of the engine that writes. It turns a plan's decisions into schedule
 * changes and writes them through the registry in fenced transactions (each carries the leader's
 * fence, so a deposed leader writes nothing). Removals are written before placements, so a unit
 * that moves is never assigned to two machines at once. Transactions are filled to etcd's op limit
 * and several are kept in flight.
 */
import { FleetError } from '../lib/errors.js';
import {
  StaleFenceError,
  type Fence,
  type PlacementReasonsRecord,
  type ReasonsChange,
  type Registry,
  type ScheduleChange,
} from '../lib/registry/index.js';
import type { ClusterView } from './model.js';
import type { Decision } from './planner.js';

export interface ApplierOptions {
  /** Transactions in flight at once (default 16). */
  concurrency?: number;
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

export class Applier {
  private readonly concurrency: number;
  /** The highest revision this applier ever wrote (also after a failed apply). */
  highestRevision = 0n;

  constructor(
    private readonly registry: Registry,
    opts: ApplierOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 16);
  }

  /**
   * Writes the decisions. Throws StaleFenceError (stop: no longer the leader), ApplyAbortedError,
   * or the registry's typed etcd errors. What was written before a failure stays written.
   */
  async apply(
    fence: Fence,
    decisions: readonly Decision[],
    view: ClusterView,
    signal?: AbortSignal,
  ): Promise<ApplyResult> {
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
    const result: ApplyResult = { revision: 0n, transactions: 0, written: 0 };
    await this.writeAll(fence, removals, result, signal);
    await this.writeAll(fence, puts, result, signal);
    return result;
  }

  /** The placement reasons recorded now (read when elected). */
  async readReasons(): Promise<Map<string, PlacementReasonsRecord>> {
    const l = await this.registry.listReasons();
    return new Map(l.items.map((i) => [i.record.unit, i.record]));
  }

  /** Writes placement reasons, fenced (StaleFenceError when no longer the leader). */
  async writeReasons(fence: Fence, changes: readonly ReasonsChange[]): Promise<void> {
    if (changes.length === 0) return;
    const r = await this.registry.applyReasons(fence, changes);
    const rev = BigInt(r.revision);
    if (rev > this.highestRevision) this.highestRevision = rev;
  }

  private async writeAll(
    fence: Fence,
    changes: ScheduleChange[],
    result: ApplyResult,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    // One slice per transaction: the fence takes one compare of etcd's limit.
    const size = Math.max(1, this.registry.maxTxnOps - 1);
    const slices: ScheduleChange[][] = [];
    for (let i = 0; i < changes.length; i += size) slices.push(changes.slice(i, i + size));
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < slices.length) {
        if (signal?.aborted) {
          failure ??= new ApplyAbortedError();
          return;
        }
        const slice = slices[next++]!;
        try {
          const r = await this.registry.applySchedule(fence, slice);
          const rev = BigInt(r.revision);
          if (rev > result.revision) result.revision = rev;
          if (rev > this.highestRevision) this.highestRevision = rev;
          result.transactions += r.transactions;
          result.written += slice.length;
        } catch (e) {
          // A stale fence outranks anything else: the caller must stop.
          if (failure === undefined || e instanceof StaleFenceError) failure = e;
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, slices.length) }, worker));
    if (failure !== undefined) throw failure;
  }
}

export function isStaleFence(e: unknown): e is StaleFenceError {
  return e instanceof StaleFenceError;
}
