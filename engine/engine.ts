/**
 * The engine: one per fleetd (unless disable_engine), one leader in the cluster. Every candidate
 * keeps the cluster model warm from the registry's list-then-watch streams; the leader plans on
 * every change (bursts coalesced into one pass with setImmediate, no fixed delay) and writes the
 * decisions through the applier, fenced by its leadership. A periodic full re-list and pass
 * (engine_reconcile_interval) is only a safety net.
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
import { Applier, ApplyAbortedError, isConflict, isStaleFence, type ApplyResult } from './applier.js';
import { ClusterModel } from './model.js';
import { plan, type Plan } from './planner.js';
import { reasonsChanges, withInvalidUnits, type InvalidUnit } from './reasons.js';
import { ParseCache, UnitReader } from './unit-info.js';

export interface EngineOptions {
  registry: Registry;
  /** This candidate's name (its machine ID), shown as the leader. */
  candidate: string;
  /** engine_lease_ttl. */
  leaseTtlSeconds: number;
  /** engine_reconcile_interval: the safety-net full re-list and pass. */
  reconcileIntervalMs: number;
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
}

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
  private scheduled = false;
  private running: Promise<void> | undefined;
  private lastWritten = 0n;
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
    this.applier = new Applier(opts.registry, { concurrency: opts.concurrency ?? 16 });
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
      resyncIntervalMs: this.opts.reconcileIntervalMs,
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
    };
    this.units = reg.watchUnits(streamOpts);
    this.machines = reg.watchMachines(streamOpts);
    this.schedule = reg.watchSchedule(undefined, streamOpts);
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
    }
    await Promise.all([this.units.start(), this.machines.start(), this.schedule.start()]);
    if (this.stopped) return;
    this.campaign.start();
    this.timer = setInterval(() => this.kick(), this.opts.reconcileIntervalMs);
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
    if (this.timer) clearInterval(this.timer);
    this.currentFence = undefined;
    await this.stopFenceWatch?.();
    await this.campaign.stop();
    await this.running;
    await Promise.all([this.units?.stop(), this.machines?.stop(), this.schedule?.stop()]);
  }

  // ------------------------------------------------------------------ model feed

  private onUnit(e: StreamEvent<UnitRecord>): void {
    if (e.type === 'delete') {
      this.model.deleteUnit(e.prev.record.name);
    } else {
      const r = e.item.record;
      this.model.putUnit(
        this.reader.read({
          name: r.name,
          body: r.body,
          hash: r.hash,
          desiredState: r.desiredState,
          createRevision: e.item.createRevision,
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
    this.kick();
  }

  private onAssignment(e: StreamEvent<AssignmentRecord>): void {
    if (e.type === 'delete') this.model.deleteAssignment(e.prev.record.unit, e.prev.record.machineId);
    else {
      const r = e.item.record;
      this.model.putAssignment({
        unit: r.unit,
        machineId: r.machineId,
        hash: r.hash,
        desiredState: r.desiredState,
      });
    }
    this.kick();
  }

  // ------------------------------------------------------------------ leadership

  private onElected(fence: Fence): void {
    if (this.stopped) return;
    this.currentFence = fence;
    this.recordedReasons = undefined;
    this.term = new AbortController();
    this.failures = 0;
    this.stopFenceWatch = watchFence(this.opts.registry, fence, (err) => {
      if (this.currentFence === fence) void this.campaign.restart(err);
    });
    this.opts.log?.info('elected engine leader', { candidate: this.opts.candidate, key: fence.key });
    this.emit('elected', fence);
    this.kick();
  }

  private onDeposed(err: FleetError): void {
    this.currentFence = undefined;
    this.term?.abort(err);
    void this.stopFenceWatch?.();
    this.stopFenceWatch = undefined;
    this.opts.log?.warn('no longer the engine leader', { error: err.message });
    this.emit('deposed', err);
  }

  // ------------------------------------------------------------------ the loop

  /** Something changed: plan again soon (bursts of events coalesce into one pass). */
  private kick(): void {
    this.dirty = true;
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
        // Our own last writes must be in the model first, or we would decide them again.
        await this.waitForSchedule(this.lastWritten, term);
        // Let events that arrived meanwhile land, then plan once for all of them.
        await new Promise<void>((r) => setImmediate(r));
        if (this.currentFence !== fence) return;
        this.dirty = false;
        const t0 = performance.now();
        const p = plan(this.model, this.clock.now());
        this.lastPlan = p;
        this.emit('planned', {
          decisions: p.decisions.length,
          unplaced: p.unplaced,
          ms: performance.now() - t0,
        });
        if (p.decisions.length > 0) {
          const t1 = performance.now();
          const r = await this.applier.apply(fence, p.decisions, this.model, term);
          if (r.revision > this.lastWritten) this.lastWritten = r.revision;
          this.emit('applied', { ...r, decisions: p.decisions.length, ms: performance.now() - t1 });
        }
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
        if (this.applier.highestRevision > this.lastWritten) this.lastWritten = this.applier.highestRevision;
        await this.onFailure(e, fence, term);
      }
    }
  }

  private async onFailure(e: unknown, fence: Fence, term: AbortSignal): Promise<void> {
    this.dirty = true;
    if (e instanceof ApplyAbortedError || e instanceof EngineStoppedError || term.aborted) return;
    if (isStaleFence(e)) {
      this.opts.log?.warn('a schedule write was refused: this engine is no longer the leader', {
        error: e.message,
      });
      this.report(e);
      if (this.currentFence === fence) await this.campaign.restart(e);
      return;
    }
    if (isConflict(e)) {
      // A unit changed under the plan: wait until the units stream has caught up, then re-plan.
      this.opts.log?.debug('schedule write conflicted; re-planning', { error: e.message });
      await this.nextEvent(this.units!, 'batch', 200, term);
      return;
    }
    const err = isFleetError(e)
      ? e
      : new FleetError('ENGINE_FAILED', `the engine failed to plan or apply: ${errorMessage(e)}`, {
          cause: e,
        });
    this.report(err);
    const delay = Math.min(100 * 2 ** this.failures++, 5000);
    await this.clock.sleep(delay, term).catch(() => undefined);
  }

  private async waitForSchedule(revision: bigint, term: AbortSignal): Promise<void> {
    const s = this.schedule!;
    const deadline = Date.now() + 10_000;
    while (BigInt(s.revision) < revision && !term.aborted && Date.now() < deadline) {
      await this.nextEvent(s, 'batch', 1000, term);
    }
  }

  private nextEvent(
    s: RegistryStream<unknown> | RegistryStream<UnitRecord> | RegistryStream<AssignmentRecord>,
    event: 'batch',
    timeoutMs: number,
    term: AbortSignal,
  ): Promise<void> {
    const stream = s as RegistryStream<unknown>;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        stream.off(event, done);
        stream.off('synced', done);
        term.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, timeoutMs);
      stream.on(event, done);
      stream.on('synced', done);
      term.addEventListener('abort', done, { once: true });
    });
  }

  private report(err: FleetError): void {
    this.opts.log?.warn(err.message, { code: err.code });
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
