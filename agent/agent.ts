/**
 * The agent: one per machine. Composes presence (lease + machine record + fencing), the watch on
 * this machine's assignments, the pure diff, the task runner over systemd, and state reporting.
 *
 *   const agent = new Agent({ client, registry, machineId, ttlSeconds, unitsDirectory, ... });
 *   await agent.start();           // registered, assignments listed, adopted, first reconcile run
 *   ...
 *   await agent.stop({ leave: true });   // SIGTERM: stop this machine's units, revoke the lease
 *
 * Reconciles when its assignments change (watch), when a unit it launched changes state is only
 * REPORTED (within reportDelayMs, batched), and every resyncIntervalMs (re-read systemd's view).
 * While fenced (its lease could expire), it stops every unit of ours and starts nothing; when it
 * is registered again it re-lists its assignments before acting on them.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { systemClock, type Clock } from '../lib/clock.js';
import { errorMessage, isFleetError, type FleetError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/log.js';
import {
  defaultUnitBodyCheck,
  type AssignmentRecord,
  type Registry,
  type RegistryStream,
  type UnitStateRecord,
} from '../lib/registry/index.js';
import {
  adoptLaunched,
  diff,
  isActiveState,
  isTemplateName,
  rememberAfter,
  unitsToHold,
  unitsToVerify,
  type ActualUnit,
  type DesiredUnit,
} from './diff.js';
import { AgentError } from './errors.js';
import { removeLeaseFile, writeLeaseFile } from './lease-file.js';
import { Presence } from './presence.js';
import { SystemdClient } from './systemd.js';
import { runTasks, type TaskOutcome } from './task-runner.js';

export const AGENT_VERSION = '0.1.0';

/** How soon a reconcile runs again when calls failed retryably or units were on hold. */
const RETRY_AFTER_MS = 1000;

/** systemd job types that stop a service and start it again (pure). */
export function isRestartJob(jobType: string | undefined): boolean {
  return (
    jobType === 'restart' ||
    jobType === 'try-restart' ||
    jobType === 'reload-or-restart' ||
    jobType === 'reload-or-try-restart'
  );
}

export interface AgentOptions {
  client: Etcd3;
  registry: Registry;
  machineId: string;
  ttlSeconds: number;
  unitsDirectory: string;
  /**
   * Keep the current lease ID in this file (agent/lease-file.ts) for `fleetd fence` to revoke after
   * a crash. Unset (tests, the bench): no file.
   */
  leaseFile?: string;
  publicIp?: string;
  /** This machine's fleetd API over TCP, advertised in its machine record (lib/api-endpoint.ts). */
  apiEndpoint?: string;
  metadata?: Record<string, string>;
  /** D-Bus address of systemd (default: the system bus). */
  busAddress?: string;
  /** The machine's root as this process sees it (default "/"; see SystemdClientOptions). */
  filesRoot?: string;
  /** Re-read systemd's view and reconcile this often (default 60 s). */
  resyncIntervalMs?: number;
  /** Unit state changes are written to etcd this long after the first one, together (default 20 ms). */
  reportDelayMs?: number;
  log?: Logger;
  clock?: Pick<Clock, 'now'>;
  signal?: AbortSignal;
}

export interface AgentEvents {
  /** One reconcile ran these tasks (with their outcomes). */
  reconciled: [{ outcomes: TaskOutcome[] }];
  /** Presence: registered (again), fenced, restored. */
  registered: [{ leaseId: string; again: boolean }];
  fenced: [{ deadline: number; stopped: string[] }];
  restored: [];
  /** Unit states written to etcd. */
  reported: [{ put: number; deleted: number }];
  warning: [FleetError];
}

export class Agent extends EventEmitter<AgentEvents> {
  private systemd: SystemdClient | undefined;
  private presence: Presence | undefined;
  private stream: RegistryStream<AssignmentRecord> | undefined;
  /** Our unit files: name -> hash. */
  private readonly files = new Map<string, string>();
  private launched = new Set<string>();
  private fenced = false;
  /** False until start() has adopted what systemd runs: no reconcile before that. */
  private adopted = false;
  /** After a re-registration: do nothing until the assignments were listed again. */
  private relisting = false;
  private running: Promise<void> | undefined;
  private again = false;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly toReport = new Set<string>();
  private readonly toForget = new Set<string>();
  private stopped = false;
  private started = false;
  /** Lease-file writes, one after the other. */
  private leaseFileDone: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: AgentOptions) {
    super();
    this.log = opts.log ?? createLogger({ component: 'agent' });
    const clock = opts.clock ?? systemClock;
    this.now = () => clock.now();
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  get machineId(): string {
    return this.opts.machineId;
  }

  /** The systemd client (for tests and the bench: its call counts). */
  get systemdClient(): SystemdClient | undefined {
    return this.systemd;
  }

  get leaseId(): string | undefined {
    return this.presence?.leaseId;
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** Units this agent counts as launched. */
  launchedUnits(): string[] {
    return [...this.launched].sort();
  }

  /**
   * Connects to systemd, registers the machine, lists its assignments, adopts what systemd already
   * runs for them, and runs the first reconcile. Throws a typed error if systemd or etcd cannot be
   * reached at all (nothing is left running).
   */
  async start(): Promise<void> {
    if (this.started) throw new AgentError('LEASE', `agent of machine ${this.machineId} was already started`);
    this.started = true;
    const o = this.opts;
    this.systemd = await SystemdClient.connect({
      unitsDirectory: o.unitsDirectory,
      log: this.log,
      ...(o.busAddress ? { busAddress: o.busAddress } : {}),
      ...(o.filesRoot ? { filesRoot: o.filesRoot } : {}),
    });
    const sd = this.systemd;
    sd.on('changed', (m) => {
      for (const u of m.keys()) this.toReport.add(u);
      this.scheduleReport();
    });
    sd.on('warning', (e) => this.warn(e));
    sd.on('disconnected', (e) => this.warn(e));
    sd.on('reconnected', () => {
      this.log.info('reconnected to systemd');
      void this.resync();
    });
    try {
      for (const [name, body] of await sd.readUnitFiles()) {
        const c = defaultUnitBodyCheck(body);
        // A file we cannot hash is still ours: an impossible hash makes the diff replace or unload it.
        this.files.set(name, c.ok ? c.hash : `unreadable:${name}`);
      }
      this.presence = new Presence({
        client: o.client,
        registry: o.registry,
        ttlSeconds: o.ttlSeconds,
        record: {
          id: o.machineId,
          publicIp: o.publicIp ?? '',
          metadata: o.metadata ?? {},
          version: AGENT_VERSION,
          draining: false,
          ...(o.apiEndpoint ? { apiEndpoint: o.apiEndpoint } : {}),
        },
        ...(o.clock ? { clock: o.clock } : {}),
      });
      this.wirePresence(this.presence);
      await this.presence.start();
      this.stream = o.registry.watchSchedule(o.machineId);
      this.stream.on('put', () => this.requestReconcile());
      this.stream.on('delete', () => this.requestReconcile());
      this.stream.on('warning', (e) => this.warn(e));
      this.stream.on('disconnected', (e) => this.warn(e));
      await this.stream.start();
      // Adopt: what systemd runs for our assignments counts as launched (never restarted).
      const desired = this.desired();
      sd.watch([...desired.keys(), ...this.files.keys()]);
      await sd.refresh();
      this.launched = adoptLaunched({ desired, actual: this.actual(desired) });
      this.adopted = true;
      if (this.launched.size > 0) this.log.info('adopted running units', { units: [...this.launched] });
      // Report every assigned unit on OUR lease: a previous agent's states vanish with its lease.
      for (const u of desired.keys()) this.toReport.add(u);
      this.scheduleReport();
      this.requestReconcile(0);
      await this.idle();
      this.scheduleResync();
    } catch (e) {
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  /** Republishes this machine's metadata and public IP (fleetd's SIGHUP). */
  async setIdentity(fields: { metadata: Record<string, string>; publicIp: string }): Promise<void> {
    await this.presence?.setIdentity(fields);
  }

  /**
   * Whether systemd is restarting the service this process runs in (`systemctl restart`): then a
   * SIGTERM is not leaving, and the units keep running for the next agent to adopt. False when
   * systemd cannot tell (no bus, no unit): stopping is leaving.
   */
  async restartPending(pid = process.pid): Promise<boolean> {
    if (!this.systemd) return false;
    try {
      return isRestartJob(await this.systemd.pendingJobOf(pid));
    } catch (e) {
      this.warn(e as FleetError);
      return false;
    }
  }

  /**
   * Stops the agent. leave (SIGTERM): stop this machine's units first and revoke the lease, so the
   * engine re-places them at once. Without leave (a restart), units keep running and are adopted
   * by the next agent.
   */
  async stop(opts: { leave?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.reconcileTimer, this.resyncTimer, this.reportTimer, this.retryTimer])
      if (t) clearTimeout(t);
    await this.stream?.stop();
    await this.running?.catch(() => undefined);
    let unstopped: string[] = [];
    if (opts.leave && this.systemd) {
      const r = await this.stopAll();
      unstopped = r.failed;
      if (unstopped.length === 0) this.log.info('left the cluster: units stopped', { units: r.units });
    }
    // The lease is revoked (the engine re-places at once) only once every unit is stopped here.
    const revoke = opts.leave === true && unstopped.length === 0;
    try {
      await this.presence?.stop({ revoke });
      if (revoke) this.recordLease(undefined);
    } catch (e) {
      this.warn(e as FleetError);
    }
    await this.leaseFileDone;
    this.systemd?.close();
    if (unstopped.length > 0) {
      throw new AgentError(
        'LEAVE_INCOMPLETE',
        `could not stop ${unstopped.join(', ')} while leaving (systemd unreachable over D-Bus?): the lease was not revoked and the lease file is kept, so fleetd exits with an error and its ExecStopPost (fleetd fence) stops them before revoking the lease`,
      );
    }
  }

  /** Resolves when no reconcile is pending or running. */
  async idle(): Promise<void> {
    while (this.running || this.reconcileTimer) {
      await (this.running ?? new Promise((r) => setTimeout(r, 1)));
    }
  }

  private warn(e: FleetError): void {
    this.log.warn(e.message);
    this.emit('warning', e);
  }

  private wirePresence(p: Presence): void {
    p.on('warning', (e) => this.warn(e));
    p.on('lost', (e) => this.warn(e));
    p.on('fence', ({ deadline }) => {
      this.fenced = true;
      this.log.warn("lease renewal overdue: stopping this machine's units before the lease can expire", {
        deadline: new Date(deadline).toISOString(),
      });
      void this.fence(deadline);
    });
    p.on('restored', () => {
      this.log.info('lease renewed again before it expired: resuming');
      this.fenced = false;
      this.emit('restored');
      this.requestReconcile(0);
    });
    p.on('registered', (r) => {
      this.recordLease(r.leaseId);
      this.emit('registered', r);
      if (!r.again) return;
      this.log.info('registered again after losing the lease: re-reading assignments', { lease: r.leaseId });
      this.relisting = true;
      void (async () => {
        try {
          await this.stream?.resync();
        } finally {
          this.relisting = false;
          this.fenced = false;
          for (const u of this.desired().keys()) this.toReport.add(u);
          this.scheduleReport();
          this.requestReconcile(0);
        }
      })();
    });
  }

  /** Writes (or, with undefined, removes) the lease file, after any earlier write. */
  private recordLease(leaseId: string | undefined): void {
    const path = this.opts.leaseFile;
    if (path === undefined) return;
    const machineId = this.opts.machineId;
    this.leaseFileDone = this.leaseFileDone.then(async () => {
      try {
        if (leaseId === undefined) await removeLeaseFile(path);
        else
          await writeLeaseFile(path, { machineId, leaseId, writtenAt: new Date(this.now()).toISOString() });
      } catch (e) {
        this.warn(e as FleetError);
      }
    });
  }

  /** Stops every unit of ours now (fencing). */
  private async fence(deadline: number): Promise<void> {
    // Stop everything of ours at once (a running reconcile may be stuck on a slow job), then again
    // after that reconcile ends, in case it started something meanwhile.
    const stopped = (await this.stopAll()).units;
    if (this.running) {
      await this.running.catch(() => undefined);
      stopped.push(...(await this.stopAll()).units.filter((u) => !stopped.includes(u)));
    }
    this.emit('fenced', { deadline, stopped });
    this.log.warn('fenced: units stopped', { units: stopped, beforeDeadlineMs: deadline - this.now() });
  }

  /**
   * Stops every unit of ours that systemd runs (and everything launched), waiting for the jobs:
   * the units it tried, and those whose stop failed.
   */
  private async stopAll(): Promise<{ units: string[]; failed: string[] }> {
    const sd = this.systemd;
    if (!sd) return { units: [], failed: [] };
    const units = new Set([...this.launched]);
    for (const u of this.files.keys()) {
      if (isTemplateName(u)) continue;
      if (isActiveState(sd.state(u)?.activeState) || sd.state(u)?.activeState === 'deactivating')
        units.add(u);
    }
    const list = [...units].sort();
    const failed: string[] = [];
    await Promise.all(
      list.map(async (u) => {
        try {
          const job = await sd.stop(u);
          await sd.waitJob(job, 30000);
        } catch (e) {
          failed.push(u);
          this.warn(e as FleetError);
        }
      }),
    );
    this.launched.clear();
    return { units: list, failed: failed.sort() };
  }

  private desired(): Map<string, DesiredUnit> {
    const out = new Map<string, DesiredUnit>();
    for (const s of this.stream?.snapshot() ?? []) {
      const r = s.record;
      out.set(r.unit, { name: r.unit, body: r.body, hash: r.hash, desiredState: r.desiredState });
    }
    return out;
  }

  private actual(desired: ReadonlyMap<string, DesiredUnit>): Map<string, ActualUnit> {
    const out = new Map<string, ActualUnit>();
    for (const name of new Set([...desired.keys(), ...this.files.keys()])) {
      out.set(name, { name, fileHash: this.files.get(name), systemd: this.systemd?.state(name) });
    }
    return out;
  }

  private requestReconcile(delayMs = 2): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.reconcileTimer) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      this.running = this.reconcile().finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.requestReconcile(0);
        }
      });
    }, delayMs);
  }

  private async reconcile(): Promise<void> {
    if (this.stopped || this.fenced || this.relisting || !this.adopted || !this.systemd) return;
    const sd = this.systemd;
    const desired = this.desired();
    sd.watch(desired.keys());
    const actual = this.actual(desired);
    let tasks = diff({ desired, actual, launched: this.launched });
    const hold = await this.unitsOnHold(unitsToVerify(tasks), desired);
    if (this.stopped || this.fenced) return;
    if (hold.size > 0) {
      tasks = diff({ desired, actual, launched: this.launched, hold });
      this.retrySoon();
    }
    if (tasks.length === 0) return;
    for (const t of tasks) this.log.debug(`${t.type} ${t.unit}`, { reason: t.reason });
    const outcomes = await runTasks(tasks, {
      systemd: sd,
      bodyOf: (u) => {
        const d = desired.get(u);
        return d ? { body: d.body, hash: d.hash } : undefined;
      },
    });
    for (const { task, error } of outcomes) {
      if (task.type === 'load' && !error) this.files.set(task.unit, desired.get(task.unit)!.hash);
      if (task.type === 'unload' && !error) {
        this.files.delete(task.unit);
        if (!desired.has(task.unit)) {
          sd.unwatch([task.unit]);
          this.toForget.add(task.unit);
        }
      }
      this.launched = rememberAfter(this.launched, task, error);
      if (task.unit) this.toReport.add(task.unit);
      if (error) this.warn(error);
    }
    // Calls that never reached systemd (refused by the bus, no answer) are tried again shortly.
    if (outcomes.some((o) => o.error?.retryable)) this.retrySoon();
    // Units that were loaded or unloaded: ask systemd once for their state.
    await sd.refresh(desired.keys()).catch((e: unknown) => this.warn(e as FleetError));
    this.scheduleReport();
    this.emit('reconciled', { outcomes });
  }

  /** Reconciles again in RETRY_AFTER_MS (once, however many reconciles asked meanwhile). */
  private retrySoon(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.requestReconcile(0);
    }, RETRY_AFTER_MS);
    this.retryTimer.unref();
  }

  /**
   * The units about to be loaded or started whose unit key is gone or holds another file: an
   * assignment the engine wrote in a race with a destroy (it removes it) or with a new file (it
   * rewrites it). All of them when the units cannot be read (checked again on the next try).
   */
  private async unitsOnHold(
    names: string[],
    desired: ReadonlyMap<string, DesiredUnit>,
  ): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    try {
      const units = await this.opts.registry.getUnits(names);
      const hashes = new Map([...units].map(([n, u]) => [n, u.record.hash]));
      const hold = unitsToHold(names, desired, hashes);
      for (const n of hold) {
        this.log.info(`not loading or starting ${n}: its unit was destroyed or has another file now`, {
          machine: this.machineId,
        });
      }
      return hold;
    } catch (e) {
      // The registry's typed etcd error names the units it could not read; retried soon.
      this.warn(
        isFleetError(e)
          ? e
          : new AgentError('UNIT_FILE', `cannot read units ${names.join(', ')}: ${errorMessage(e)}`, {
              cause: e,
            }),
      );
      return new Set(names);
    }
  }

  private scheduleResync(): void {
    if (this.stopped) return;
    this.resyncTimer = setTimeout(() => {
      void this.resync().finally(() => this.scheduleResync());
    }, this.opts.resyncIntervalMs ?? 60000);
    this.resyncTimer.unref();
  }

  /** Re-reads systemd's view of our units, reports it, and reconciles. */
  private async resync(): Promise<void> {
    try {
      await this.systemd?.refresh();
    } catch (e) {
      this.warn(e as FleetError);
    }
    for (const u of this.desired().keys()) this.toReport.add(u);
    this.scheduleReport();
    this.requestReconcile(0);
  }

  private scheduleReport(): void {
    if (this.reportTimer || this.stopped) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      void this.report();
    }, this.opts.reportDelayMs ?? 20);
  }

  /** Writes the changed unit states (and removes the forgotten ones) on our lease. */
  private async report(): Promise<void> {
    const lease = this.presence?.leaseId;
    if (!lease || this.fenced) return; // reported again once registered
    const desired = this.desired();
    const records: UnitStateRecord[] = [];
    const units = [...this.toReport];
    const forget = [...this.toForget].filter((u) => !desired.has(u));
    this.toReport.clear();
    this.toForget.clear();
    const at = new Date(this.now()).toISOString();
    for (const u of units) {
      if (!desired.has(u)) continue;
      const hash = this.files.get(u);
      // systemd keeps no state for a template; it is "loaded" once its file is linked.
      const s =
        isTemplateName(u) && hash !== undefined
          ? { loadState: 'loaded', activeState: 'inactive', subState: 'dead' }
          : this.systemd?.state(u);
      if (!s || hash === undefined) continue;
      records.push({
        unit: u,
        machineId: this.machineId,
        loadState: s.loadState,
        activeState: s.activeState,
        subState: s.subState,
        hash,
        updatedAt: at,
      });
    }
    try {
      if (records.length > 0) await this.opts.registry.putUnitStates(records, lease);
      if (forget.length > 0) await this.opts.registry.deleteUnitStates(this.machineId, forget);
      if (records.length + forget.length > 0)
        this.emit('reported', { put: records.length, deleted: forget.length });
    } catch (e) {
      for (const u of units) this.toReport.add(u);
      for (const u of forget) this.toForget.add(u);
      this.warn(
        e instanceof AgentError
          ? e
          : new AgentError(
              'LEASE',
              `cannot report unit states of machine ${this.machineId}: ${errorMessage(e)}; retrying`,
              {
                cause: e,
                retryable: true,
              },
            ),
      );
      setTimeout(() => this.scheduleReport(), 200).unref();
    }
  }
}
