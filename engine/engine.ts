/**
 * The engine: one per fleetd (unless disable_engine), one leader in the cluster. Every candidate
 * keeps the cluster model warm from the registry's list-then-watch streams; the leader plans on
 * every change (bursts coalesced into one pass with setImmediate, no fixed delay) and writes the
 * decisions through the applier, fenced by its leadership. A periodic pass on the model
 * (engine_reconcile_interval) and a much slower full re-list of etcd (relistIntervalMs, default 10
 * minutes) are only safety nets: re-listing 100,000 units every 2 s would be fleet's polling again.
 *
 * Events: 'elected' (fence), 'deposed' (error: stop at once, campaign again), 'error' (a failure it
 * retries), 'planned' and 'applied' (what each pass decided and wrote).
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../lib/clock.js';
import { FleetError, errorMessage, isFleetError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import {
  EngineCampaign,
  invalidUnitKeyName,
  watchFence,
  type AssignmentRecord,
  type BackoffDelay,
  type Fence,
  type MachineRecord,
  type PlacementReasonsRecord,
  type Registry,
  type RegistryStream,
  type StreamEvent,
  type UnitRecord,
} from '../lib/registry/index.js';
import { Applier, ApplyAbortedError, isStaleFence, type ApplyResult } from './applier.js';
import { ClusterModel, type ClusterView } from './model.js';
import type { PendingWrite } from './pending.js';
import { Planner, type Decision, type Plan } from './planner.js';
import { reasonsChanges, withInvalidUnits, type InvalidUnit } from './reasons.js';
import { ParseCache, UnitReader } from './unit-info.js';

export interface EngineOptions {
  registry: Registry;
  /** This candidate's name (its machine ID), shown as the leader. */
  candidate: string;
  /** engine_lease_ttl. */
  leaseTtlSeconds: number;
  /** engine_reconcile_interval: the safety-net pass over the model (no etcd reads). */
  reconcileIntervalMs: number;
  /** The safety-net full re-list of units, machines and schedule (default: the streams' 10 minutes). */
  relistIntervalMs?: number;
  clock?: Clock;
  log?: Logger;
  signal?: AbortSignal;
  /** Transactions in flight at once while applying (default 16). */
  concurrency?: number;
  /**
   * The parse cache the registry was built with (as its checkUnitBody), so unit files are parsed
   * once; optional.
   */
  parseCache?: ParseCache;
  /** Delay between retries (campaign, streams, failed writes). */
  backoff?: BackoffDelay;
  /**
   * A pass looks at no more than this many changed units, the oldest changes first; the others
   * wait for the next pass, moments later (default DEFAULT_MAX_CHANGED_PER_PASS). A pass that
   * must look at every unit (machines changed, a re-list, the timer) is not cut.
   */
  maxChangedPerPass?: number;
}

/**
 * About one round of the applier's transactions (16 in flight of 127 puts each, halved). 100,000
 * units submitted at once are then planned in short passes, each written while the next is
 * planned, instead of a few passes of tens of thousands of units that keep the event loop (the
 * units watch, the writes) waiting for hundreds of ms while etcd has nothing to do
 * (docs/benchmarks.md).
 */
export const DEFAULT_MAX_CHANGED_PER_PASS = 1024;

export interface PlannedInfo {
  decisions: number;
  unplaced: Plan['unplaced'];
  ms: number;
}

export interface AppliedInfo extends ApplyResult {
  decisions: number;
  ms: number;
}

export interface EngineEvents {
  elected: [Fence];
  deposed: [FleetError];
  error: [FleetError];
  planned: [PlannedInfo];
  applied: [AppliedInfo];
}

export class EngineStoppedError extends FleetError<'ENGINE_STOPPED'> {
  constructor() {
    super('ENGINE_STOPPED', 'the engine was stopped');
  }
}

export class Engine extends EventEmitter<EngineEvents> {
  readonly model = new ClusterModel();
  private readonly planner = new Planner();
  private readonly reader: UnitReader;
  private readonly clock: Clock;
  private readonly applier: Applier;
  private readonly campaign: EngineCampaign;
  private units: RegistryStream<UnitRecord> | undefined;
  private machines: RegistryStream<MachineRecord> | undefined;
  private schedule: RegistryStream<AssignmentRecord> | undefined;
  private currentFence: Fence | undefined;
  private term: AbortController | undefined;
  private stopFenceWatch: (() => Promise<void>) | undefined;
  private dirty = true;
  /**
   * Unit names whose unit or assignments changed since the last pass: the next pass looks only at
   * them (and what they concern, see plan()) unless it must look at everything (`fullPass`).
   */
  private readonly changed = new Set<string>();
  private readonly maxChangedPerPass: number;
  /** True while onCommitted hands our own puts to the model (they are not changes to plan on). */
  private handingOver = false;
  /** The next pass looks at every unit: machines changed, a re-list, a new term, a failure, the timer. */
  private fullPass = true;
  private scheduled = false;
  private running: Promise<void> | undefined;
  /** A write of an earlier plan failed: handled by the loop before it plans again. */
  private writeFailure: unknown;
  /** Wait for the model to show all of etcd's schedule before planning (after a failed write). */
  private catchUpFirst = false;
  /** How long the last pass that decided something took (0: it decided nothing). */
  private lastPassMs = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private readonly stopping = new AbortController();
  private lastPlan: Plan | undefined;
  /** The placement reasons in etcd, as this leader knows them (read when elected). */
  private recordedReasons: Map<string, PlacementReasonsRecord> | undefined;
  private stopDone: Promise<void> | undefined;
  /** Unit keys holding values fleet cannot use (key -> why), recorded as reasons by the leader. */
  private readonly invalidUnits = new Map<string, InvalidUnit>();

  constructor(private readonly opts: EngineOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.reader = new UnitReader(opts.parseCache);
    this.maxChangedPerPass = Math.max(1, opts.maxChangedPerPass ?? DEFAULT_MAX_CHANGED_PER_PASS);
    this.applier = new Applier(opts.registry, {
      concurrency: opts.concurrency ?? 16,
      onRetry: (e) => this.report(e),
      onCommitted: (ws, rev, fence) => this.onCommitted(ws, rev, fence),
    });
    this.campaign = new EngineCampaign(opts.registry, {
      candidate: opts.candidate,
      ttlSeconds: opts.leaseTtlSeconds,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
    });
    this.campaign.on('elected', (f) => this.onElected(f));
    this.campaign.on('deposed', (e) => this.onDeposed(e));
    this.campaign.on('warning', (e) => this.report(e));
    if (opts.signal?.aborted) this.stopped = true;
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  /** The fence while this engine leads. */
  get fence(): Fence | undefined {
    return this.currentFence;
  }

  get isLeader(): boolean {
    return this.currentFence !== undefined;
  }

  /** The last plan made (its unplaced units and their reasons). */
  get lastPlanned(): Plan | undefined {
    return this.lastPlan;
  }

  /** Lists and watches the cluster, then campaigns. Rejects with a typed error if etcd cannot be read. */
  async start(): Promise<void> {
    if (this.started) throw new Error('the engine was already started');
    this.started = true;
    if (this.stopped) return;
    const reg = this.opts.registry;
    const streamOpts = {
      signal: this.stopping.signal,
      // Nothing plans before start() resolves (the campaign begins after), so the first listings
      // may be taken in page by page while etcd reads the next page.
      takeInPages: true,
      ...(this.opts.relistIntervalMs !== undefined ? { resyncIntervalMs: this.opts.relistIntervalMs } : {}),
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
    };
    this.units = reg.watchUnits(streamOpts);
    this.machines = reg.watchMachines(streamOpts);
    this.schedule = reg.watchSchedule(undefined, {
      ...streamOpts,
      ownPutInFlight: (key) => {
        const p = reg.keys.parse(key);
        return p.kind === 'assignment' && this.applier.pending.hasPut(p.unit, p.machineId);
      },
    });
    this.units.on('put', (e) => this.onUnit(e));
    this.units.on('delete', (e) => this.onUnit(e));
    this.units.on('invalid', (e) => {
      const rest = e.key.slice(reg.keys.unitsPrefix().length);
      this.invalidUnits.set(e.key, { unit: invalidUnitKeyName(rest), key: e.key, reason: e.reason });
      this.kick();
    });
    this.units.on('cleared', (e) => {
      if (this.invalidUnits.delete(e.key)) this.kick();
    });
    this.machines.on('put', (e) => this.onMachine(e));
    this.machines.on('delete', (e) => this.onMachine(e));
    this.schedule.on('put', (e) => this.onAssignment(e));
    this.schedule.on('delete', (e) => this.onAssignment(e));
    for (const s of [this.units, this.machines, this.schedule] as RegistryStream<unknown>[]) {
      s.on('warning', (e) => this.report(e));
      s.on('disconnected', (e) => this.report(e));
      s.on('synced', () => this.kick(true));
    }
    await Promise.all([this.units.start(), this.machines.start(), this.schedule.start()]);
    if (this.stopped) return;
    this.campaign.start();
    this.timer = setInterval(() => this.kick(true), this.opts.reconcileIntervalMs);
    this.timer.unref();
  }

  /** Resigns (a successor is elected at once), stops watching; nothing is written after this. */
  stop(): Promise<void> {
    this.stopDone ??= this.doStop();
    return this.stopDone;
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort(new EngineStoppedError());
    this.term?.abort(new EngineStoppedError());
    this.applier.abort();
    if (this.timer) clearInterval(this.timer);
    this.currentFence = undefined;
    await this.stopFenceWatch?.();
    await this.campaign.stop();
    await this.running;
    await this.applier.idle();
    await Promise.all([this.units?.stop(), this.machines?.stop(), this.schedule?.stop()]);
  }

  // ------------------------------------------------------------------ model feed

  private onUnit(e: StreamEvent<UnitRecord>): void {
    if (e.type === 'delete') {
      this.model.deleteUnit(e.prev.record.name);
      this.changed.add(e.prev.record.name);
    } else {
      const r = e.item.record;
      this.changed.add(r.name);
      this.model.putUnit(
        this.reader.read({
          name: r.name,
          body: r.body,
          hash: r.hash,
          desiredState: r.desiredState,
        }),
      );
    }
    this.kick();
  }

  private onMachine(e: StreamEvent<MachineRecord>): void {
    if (e.type === 'delete') this.model.deleteMachine(e.prev.record.id);
    else {
      const r = e.item.record;
      this.model.putMachine({ id: r.id, metadata: r.metadata, draining: r.draining });
    }
    this.kick(true);
  }

  /**
   * A schedule transaction of ours committed: its puts go into the model now (through the schedule
   * stream, which orders them with what the watch brings), not when the watch would bring them
   * back. After the term's first one, the stream stops watching puts at all: every later put is
   * ours (see RegistryStream.ignorePutsFrom), so etcd no longer sends each assignment back to
   * the engine that wrote it. Removals still come from the watch.
   */
  private onCommitted(ws: readonly PendingWrite[], revision: bigint, fence: Fence): void {
    const schedule = this.schedule!;
    const keys = this.opts.registry.keys;
    const puts = ws.filter((w) => w.record !== undefined);
    this.handingOver = true;
    try {
      for (const w of puts) {
        schedule.putOwn(w.id, keys.assignment(w.machineId, w.unit), w.record!, revision);
      }
    } finally {
      this.handingOver = false;
    }
    this.applier.pending.settle(puts);
    // Only a write of this term is past every earlier leader's (a late one of an earlier term of
    // ours may predate another leader's writes).
    if (fence === this.currentFence) schedule.ignorePutsFrom(revision);
  }

  private onAssignment(e: StreamEvent<AssignmentRecord>): void {
    if (e.type === 'delete') {
      this.model.deleteAssignment(e.prev.record.unit, e.prev.record.machineId);
      this.changed.add(e.prev.record.unit);
    } else {
      const r = e.item.record;
      // Our own write: the planner has planned on it since it was sent (pending).
      if (!this.handingOver) this.changed.add(r.unit);
      // The record itself (it has the assignment's fields): one object per assignment, not two.
      this.model.putAssignment(r);
    }
    this.kick();
  }

  // ------------------------------------------------------------------ leadership

  private onElected(fence: Fence): void {
    if (this.stopped) return;
    this.currentFence = fence;
    this.recordedReasons = undefined;
    this.term = new AbortController();
    this.applier.pending.clear();
    this.writeFailure = undefined;
    this.catchUpFirst = false;
    this.failures = 0;
    this.stopFenceWatch = watchFence(this.opts.registry, fence, (err) => {
      if (this.currentFence === fence) void this.campaign.restart(err);
    });
    this.opts.log?.info('elected engine leader', { candidate: this.opts.candidate, key: fence.key });
    this.emit('elected', fence);
    this.kick(true);
  }

  private onDeposed(err: FleetError): void {
    this.currentFence = undefined;
    // Another engine writes the schedule now: watch its puts again.
    this.schedule?.watchPuts();
    this.term?.abort(err);
    this.applier.abort();
    void this.stopFenceWatch?.();
    this.stopFenceWatch = undefined;
    this.opts.log?.warn('no longer the engine leader', { error: err.message });
    this.emit('deposed', err);
  }

  // ------------------------------------------------------------------ the loop

  /** Something changed: plan again soon (bursts of events coalesce into one pass); `full`: look at every unit. */
  private kick(full = false): void {
    this.dirty = true;
    if (full) this.fullPass = true;
    if (!this.currentFence || this.scheduled || this.running || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.running) this.running = this.loop().finally(() => this.afterLoop());
    });
  }

  private afterLoop(): void {
    this.running = undefined;
    if (this.dirty && this.currentFence && !this.stopped) this.kick();
  }

  private async loop(): Promise<void> {
    while (this.dirty && this.currentFence && !this.stopped) {
      const fence = this.currentFence;
      const term = this.term!.signal;
      try {
        const failed = this.writeFailure;
        if (failed !== undefined) {
          this.writeFailure = undefined;
          await this.applier.idle();
          throw failed;
        }
        if (this.catchUpFirst) await this.catchUp(term);
        // The next plan is handed over once the writes of the last one are nearly all sent, and
        // planning takes at most about half of the time while changes keep coming (a pass costs
        // O(units): in a big cluster, more changes per pass instead of a pass per change).
        await this.applier.room();
        if (this.lastPassMs >= 1)
          await this.clock.sleep(Math.min(this.lastPassMs, 500), term).catch(() => undefined);
        // Let events that arrived meanwhile land, then plan once for all of them.
        await new Promise<void>((r) => setImmediate(r));
        if (this.currentFence !== fence || this.writeFailure !== undefined) continue;
        this.dirty = false;
        // Planned on the model with our writes it does not show yet, so none is decided twice.
        this.applier.pending.prune(BigInt(this.schedule!.revision));
        const view = this.applier.pending.view(this.model);
        const changed = this.takeChanged();
        const t0 = performance.now();
        const p = this.planner.plan(view, this.clock.now(), changed);
        this.lastPlan = p;
        const ms = performance.now() - t0;
        this.lastPassMs = p.decisions.length > 0 ? ms : 0;
        this.emit('planned', { decisions: p.decisions.length, unplaced: p.unplaced, ms });
        if (p.decisions.length > 0) this.write(fence, p.decisions, view);
        // Why the units left unplaced are not placed, for fleetctl.
        this.recordedReasons ??= await this.applier.readReasons();
        const unplaced = withInvalidUnits(p.unplaced, [...this.invalidUnits.values()]);
        const changes = reasonsChanges(this.recordedReasons, unplaced, p.at);
        if (changes.length > 0) {
          await this.applier.writeReasons(fence, changes);
          for (const c of changes) {
            if (c.type === 'put') this.recordedReasons.set(c.record.unit, c.record);
            else this.recordedReasons.delete(c.unit);
          }
        }
        this.failures = 0;
      } catch (e) {
        await this.onFailure(e, fence, term);
      }
    }
  }

  /**
   * What the next pass looks at: the units changed since the last one (see Planner), or every unit
   * (undefined) when told to, or when most units changed anyway. At most maxChangedPerPass of
   * them: see EngineOptions.
   */
  private takeChanged(): string[] | undefined {
    if (!this.fullPass && this.changed.size > this.maxChangedPerPass) {
      // The oldest changes first; the rest wait for the next pass (the loop goes on: dirty).
      const some: string[] = [];
      for (const name of this.changed) {
        some.push(name);
        this.changed.delete(name);
        if (some.length === this.maxChangedPerPass) break;
      }
      this.dirty = true;
      return some;
    }
    const full = this.fullPass || this.changed.size * 4 > this.model.units.size;
    const changed = full ? undefined : [...this.changed];
    this.fullPass = false;
    this.changed.clear();
    return changed;
  }

  /** Hands the decisions to the applier; the loop goes on planning while they are written. */
  private write(fence: Fence, decisions: Decision[], view: ClusterView): void {
    const t0 = performance.now();
    this.applier.apply(fence, decisions, view).then(
      (r) => {
        if (this.currentFence === fence) {
          this.emit('applied', { ...r, decisions: decisions.length, ms: performance.now() - t0 });
        }
      },
      (e: unknown) => {
        if (this.currentFence !== fence) return;
        if (this.writeFailure === undefined || isStaleFence(e)) this.writeFailure = e;
        this.kick();
      },
    );
  }

  /**
   * After a failed write (its outcome may be unknown), once nothing is in flight: re-list the
   * schedule, so the model shows whatever was written, then plan on the model alone again.
   */
  private async catchUp(term: AbortSignal): Promise<void> {
    await this.applier.idle();
    await this.schedule!.resync();
    if (term.aborted) return;
    this.applier.pending.clear();
    this.catchUpFirst = false;
  }

  private async onFailure(e: unknown, fence: Fence, term: AbortSignal): Promise<void> {
    this.dirty = true;
    this.fullPass = true;
    if (e instanceof ApplyAbortedError || e instanceof EngineStoppedError || term.aborted) return;
    if (isStaleFence(e)) {
      this.opts.log?.warn('a schedule write was refused: this engine is no longer the leader', {
        error: e.message,
      });
      this.report(e);
      if (this.currentFence === fence) await this.campaign.restart(e);
      return;
    }
    this.catchUpFirst = true;
    const err = isFleetError(e)
      ? e
      : new FleetError('ENGINE_FAILED', `the engine failed to plan or apply: ${errorMessage(e)}`, {
          cause: e,
        });
    this.report(err);
    const delay = Math.min(100 * 2 ** this.failures++, 5000);
    await this.clock.sleep(delay, term).catch(() => undefined);
  }

  private report(err: FleetError): void {
    this.opts.log?.warn(err.message, { code: err.code });
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
