/**
 * The agent's systemd client over D-Bus (dbus-next), and its unit files. The only place in agent/
 * that talks to systemd. It
 *
 * - calls org.freedesktop.systemd1.Manager directly with raw messages (no introspection round
 *   trips): LinkUnitFiles, EnableUnitFiles, DisableUnitFiles, Reload, StartUnit, StopUnit,
 *   ResetFailedUnit, ListUnitsByNames, Subscribe;
 * - follows systemd's signals for the units it is told to watch: PropertiesChanged of their unit
 *   objects (ActiveState/SubState/LoadState carry their values), UnitNew/UnitRemoved and
 *   JobRemoved (after which it asks ListUnitsByNames for just those units, batched). No polling;
 *   `refresh()` is the caller's slow resync;
 * - converts every D-Bus failure into an AgentError naming the unit and what to do, puts a
 *   deadline on every call, and reconnects (and subscribes again) when the bus goes away.
 *
 * Address: the machine's system bus by default; `busAddress` points it elsewhere, e.g. from the
 * host into a fleet-lab machine: unix:path=/proc/<PID1>/root/run/dbus/system_bus_socket.
 */
import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import dbus from 'dbus-next';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { unitObjectPath, unitOfObjectPath } from './bus-path.js';
import { CallGate } from './call-gate.js';
import { JobWaiters, type JobResult } from './job-waiters.js';

export type { JobResult } from './job-waiters.js';
import { isTemplateName, type SystemdUnitState } from './diff.js';
import { AgentError, systemdError } from './errors.js';

export const DEFAULT_SYSTEM_BUS = 'unix:path=/run/dbus/system_bus_socket';
const DEST = 'org.freedesktop.systemd1';
const PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';

export interface SystemdClientOptions {
  /** D-Bus address (default: the system bus, unix:path=/run/dbus/system_bus_socket). */
  busAddress?: string;
  /** Where the agent writes unit files (units_directory, default /run/fleet/units). */
  unitsDirectory: string;
  /**
   * The machine's root directory as this process sees it (default "/"): the bench and tests drive
   * a fleet-lab machine's systemd from the host, writing its files under /proc/<PID1>/root.
   */
  filesRoot?: string;
  /** Deadline of each D-Bus call (default 25 s, D-Bus's own default). */
  callTimeoutMs?: number;
  /**
   * Calls in flight at once on the connection (default 64); more wait their turn. The system bus
   * refuses more pending replies than its max_replies_per_connection (128 on Debian).
   */
  maxCallsInFlight?: number;
  /** Signals about watched units are gathered this long before one ListUnitsByNames (default 5 ms). */
  settleMs?: number;
  log?: Logger;
}

export interface SystemdEvents {
  /** Watched units whose state changed (undefined: systemd does not know the unit any more). */
  changed: [Map<string, SystemdUnitState | undefined>];
  /** The bus went away; calls fail until 'reconnected'. */
  disconnected: [AgentError];
  /** Connected (and subscribed) again: the caller should resync. */
  reconnected: [];
  /** A failure the client handled itself (logged by the caller). */
  warning: [AgentError];
}

type Bus = dbus.MessageBus;

function sameState(a: SystemdUnitState | undefined, b: SystemdUnitState | undefined): boolean {
  if (!a || !b) return a === b;
  return a.loadState === b.loadState && a.activeState === b.activeState && a.subState === b.subState;
}

export class SystemdClient extends EventEmitter<SystemdEvents> {
  /** D-Bus calls made, by method (the bench reports them per unit). */
  readonly calls = new Map<string, number>();
  private bus: Bus | undefined;
  private readonly watched = new Set<string>();
  private readonly states = new Map<string, SystemdUnitState | undefined>();
  private readonly dirty = new Set<string>();
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly jobs = new JobWaiters();
  private closed = false;
  private reconnecting = false;
  private readonly timeoutMs: number;
  private readonly settleMs: number;
  private readonly gate: CallGate;
  readonly address: string;

  private constructor(private readonly opts: SystemdClientOptions) {
    super();
    this.address = opts.busAddress ?? DEFAULT_SYSTEM_BUS;
    this.timeoutMs = opts.callTimeoutMs ?? 25000;
    this.settleMs = opts.settleMs ?? 5;
    this.gate = new CallGate(opts.maxCallsInFlight ?? 64);
  }

  /** Connects, subscribes to systemd's signals, and returns the client. Throws AgentError. */
  static async connect(opts: SystemdClientOptions): Promise<SystemdClient> {
    const c = new SystemdClient(opts);
    await c.open();
    return c;
  }

  get unitsDirectory(): string {
    return this.opts.unitsDirectory;
  }

  get connected(): boolean {
    return this.bus !== undefined;
  }

  /** Total D-Bus calls so far. */
  get callCount(): number {
    let n = 0;
    for (const v of this.calls.values()) n += v;
    return n;
  }

  private async open(): Promise<void> {
    let bus: Bus;
    try {
      bus = dbus.sessionBus({ busAddress: this.address });
    } catch (e) {
      throw this.unavailable(e);
    }
    // dbus-next reports a failed handshake both as 'error' and as a rejection it does not handle;
    // wait for one of 'connect' / 'error' ourselves.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(this.unavailable(new Error(`no answer within ${this.timeoutMs} ms`)));
      }, this.timeoutMs);
      bus.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      bus.once('error', (e: unknown) => {
        clearTimeout(timer);
        reject(this.unavailable(e));
      });
    }).catch((e: unknown) => {
      try {
        bus.disconnect();
      } catch {
        // already gone
      }
      throw e;
    });
    bus.on('error', (e: unknown) => this.lost(bus, e));
    const conn = (bus as unknown as { _connection?: EventEmitter })._connection;
    conn?.on('end', () => this.lost(bus, new Error('the bus closed the connection')));
    bus.on('message', (msg: dbus.Message) => this.onMessage(msg));
    this.bus = bus;
    try {
      await this.rawCall(
        bus,
        'org.freedesktop.DBus',
        '/org/freedesktop/DBus',
        'org.freedesktop.DBus',
        'AddMatch',
        's',
        [`type='signal',sender='${DEST}',interface='${MANAGER}'`],
      );
      await this.rawCall(
        bus,
        'org.freedesktop.DBus',
        '/org/freedesktop/DBus',
        'org.freedesktop.DBus',
        'AddMatch',
        's',
        [
          `type='signal',sender='${DEST}',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path_namespace='/org/freedesktop/systemd1/unit'`,
        ],
      );
      await this.manager('Subscribe', '', []);
    } catch (e) {
      this.bus = undefined;
      bus.disconnect();
      throw systemdError(e, 'subscribing to systemd signals');
    }
  }

  private unavailable(e: unknown): AgentError {
    return new AgentError(
      'DBUS_UNAVAILABLE',
      `cannot reach systemd over D-Bus at ${this.address}: ${errorMessage(e)}; check that dbus is running on this machine (systemctl status dbus.socket) and that the agent runs as root`,
      { cause: e, retryable: true },
    );
  }

  private lost(bus: Bus, e: unknown): void {
    if (bus !== this.bus) return;
    this.bus = undefined;
    try {
      bus.disconnect();
    } catch {
      // already gone
    }
    if (this.closed) return;
    this.emit('disconnected', this.unavailable(e));
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; !this.closed && !this.bus; attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
        if (this.closed) return;
        try {
          await this.open();
          this.emit('reconnected');
        } catch (e) {
          this.emit('warning', e instanceof AgentError ? e : this.unavailable(e));
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    const bus = this.bus;
    this.bus = undefined;
    if (bus) {
      try {
        bus.disconnect();
      } catch {
        // already gone
      }
    }
  }

  // ------------------------------------------------------------------ calls

  private rawCall(
    bus: Bus,
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<dbus.Message | null> {
    this.calls.set(member, (this.calls.get(member) ?? 0) + 1);
    const msg = new dbus.Message({ destination, path, interface: iface, member, signature, body });
    // The deadline counts from the moment the call is sent, not from when it joined the queue.
    return this.gate.run(() => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const e = new Error(`no answer within ${this.timeoutMs} ms`);
          (e as { type?: string }).type = 'org.freedesktop.DBus.Error.Timeout';
          reject(e);
        }, this.timeoutMs);
      });
      return Promise.race([bus.call(msg), deadline]).finally(() => clearTimeout(timer));
    });
  }

  private manager(member: string, signature: string, body: unknown[]): Promise<dbus.Message | null> {
    const bus = this.bus;
    if (!bus) {
      return Promise.reject(
        new AgentError(
          'DBUS_UNAVAILABLE',
          `cannot call systemd's ${member}: not connected to D-Bus at ${this.address} (reconnecting); the agent retries at its next reconcile`,
          { retryable: true },
        ),
      );
    }
    return this.rawCall(bus, DEST, PATH, MANAGER, member, signature, body);
  }

  private async managerFor(
    what: string,
    unit: string | undefined,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<dbus.Message | null> {
    try {
      return await this.manager(member, signature, body);
    } catch (e) {
      throw systemdError(e, what, unit);
    }
  }

  /** LinkUnitFiles(paths, runtime=true, force=true). */
  async link(units: readonly string[]): Promise<void> {
    if (units.length === 0) return;
    await this.managerFor('link (LinkUnitFiles)', units.join(', '), 'LinkUnitFiles', 'asbb', [
      units.map((u) => this.filePath(u)),
      true,
      true,
    ]);
  }

  /** EnableUnitFiles(paths, runtime=true, force=true): the unit's [Install] section, in /run. */
  async enable(units: readonly string[]): Promise<void> {
    if (units.length === 0) return;
    await this.managerFor('enable (EnableUnitFiles)', units.join(', '), 'EnableUnitFiles', 'asbb', [
      units.map((u) => this.filePath(u)),
      true,
      true,
    ]);
  }

  /** DisableUnitFiles(names, runtime=true): removes the runtime links (the link and any [Install] ones). */
  async disable(units: readonly string[]): Promise<void> {
    if (units.length === 0) return;
    await this.managerFor(
      'disable and unlink (DisableUnitFiles)',
      units.join(', '),
      'DisableUnitFiles',
      'asb',
      [[...units], true],
    );
  }

  /** daemon-reload. */
  async reload(): Promise<void> {
    await this.managerFor('daemon reload (Reload)', undefined, 'Reload', '', []);
  }

  /** StartUnit(name, 'replace'); resolves with the job's object path once queued. */
  async start(unit: string): Promise<string> {
    const r = await this.managerFor('start (StartUnit)', unit, 'StartUnit', 'ss', [unit, 'replace']);
    return String(r?.body[0] ?? '');
  }

  /** StopUnit(name, 'replace'); resolves with the job's object path once queued. */
  async stop(unit: string): Promise<string> {
    const r = await this.managerFor('stop (StopUnit)', unit, 'StopUnit', 'ss', [unit, 'replace']);
    return String(r?.body[0] ?? '');
  }

  /** Waits for a job (from start/stop) to finish (JobRemoved); undefined after timeoutMs. */
  waitJob(jobPath: string, timeoutMs: number): Promise<JobResult | undefined> {
    return this.jobs.wait(jobPath, timeoutMs);
  }

  /** ResetFailedUnit(name); a unit systemd does not know is not an error. */
  async resetFailed(unit: string): Promise<void> {
    try {
      await this.manager('ResetFailedUnit', 's', [unit]);
    } catch (e) {
      if ((e as { type?: string }).type === 'org.freedesktop.systemd1.NoSuchUnit') return;
      throw systemdError(e, 'reset-failed (ResetFailedUnit)', unit);
    }
  }

  /** ListUnitsByNames: systemd's state of each unit (not-found/inactive when it does not know it). */
  async list(units: readonly string[]): Promise<Map<string, SystemdUnitState>> {
    const out = new Map<string, SystemdUnitState>();
    if (units.length === 0) return out;
    const r = await this.managerFor(
      'read unit states (ListUnitsByNames)',
      undefined,
      'ListUnitsByNames',
      'as',
      [[...units]],
    );
    for (const row of (r?.body[0] ?? []) as unknown[][]) {
      const [name, , loadState, activeState, subState] = row as string[];
      if (name) out.set(name, { loadState: loadState!, activeState: activeState!, subState: subState! });
    }
    return out;
  }

  /**
   * Every unit systemd has loaded in memory (ListUnits): cheap, and it loads nothing. Asking
   * ListUnitsByNames about names systemd does not know makes it look for each one's file (and
   * collect it again afterwards): polling a thousand such names keeps systemd so busy that its job
   * queue, which runs only when systemd is otherwise idle, stalls.
   */
  async listLoaded(): Promise<Map<string, SystemdUnitState>> {
    const out = new Map<string, SystemdUnitState>();
    const r = await this.managerFor('list loaded units (ListUnits)', undefined, 'ListUnits', '', []);
    for (const row of (r?.body[0] ?? []) as unknown[][]) {
      const [name, , loadState, activeState, subState] = row as string[];
      if (name) out.set(name, { loadState: loadState!, activeState: activeState!, subState: subState! });
    }
    return out;
  }

  /** A unit property, e.g. ActiveEnterTimestamp or MainPID (org.freedesktop.DBus.Properties.Get). */
  async property(unit: string, iface: string, name: string): Promise<unknown> {
    const bus = this.bus;
    if (!bus) throw this.unavailable(new Error('not connected'));
    try {
      const r = await this.rawCall(
        bus,
        DEST,
        unitObjectPath(unit),
        'org.freedesktop.DBus.Properties',
        'Get',
        'ss',
        [iface, name],
      );
      return (r?.body[0] as dbus.Variant | undefined)?.value;
    } catch (e) {
      throw systemdError(e, `read ${name}`, unit);
    }
  }

  /**
   * The type of the job systemd has queued for the unit a process belongs to ("stop", "restart",
   * "try-restart", ...), or undefined when it has none or the process is in no unit: how a daemon
   * tells `systemctl restart` from `systemctl stop` when its SIGTERM arrives (GetUnitByPID, the
   * unit's Job property, the job's JobType).
   */
  async pendingJobOf(pid: number): Promise<string | undefined> {
    const bus = this.bus;
    if (!bus) throw this.unavailable(new Error('not connected'));
    const get = async (path: string, iface: string, name: string): Promise<unknown> => {
      const r = await this.rawCall(bus, DEST, path, 'org.freedesktop.DBus.Properties', 'Get', 'ss', [
        iface,
        name,
      ]);
      return (r?.body[0] as dbus.Variant | undefined)?.value;
    };
    let unitPath: string;
    try {
      const r = await this.manager('GetUnitByPID', 'u', [pid]);
      unitPath = String(r?.body[0]);
    } catch (e) {
      if (/NoUnitForPID|NoSuchUnit/.test(errorMessage(e))) return undefined;
      throw systemdError(e, `find the unit of process ${pid} (GetUnitByPID)`);
    }
    try {
      const job = (await get(unitPath, UNIT_IFACE, 'Job')) as [number, string] | undefined;
      if (!job || !job[0]) return undefined;
      return String(await get(job[1], 'org.freedesktop.systemd1.Job', 'JobType'));
    } catch (e) {
      // The job may finish between the two reads: then there is none.
      if (/UnknownObject|NoSuchJob|UnknownMethod/.test(errorMessage(e))) return undefined;
      throw systemdError(e, `read the pending job of ${unitPath}`);
    }
  }

  // ------------------------------------------------------------------ watched state

  /**
   * Units whose state this client follows (and reports in 'changed'). Templates (foo@.service)
   * are skipped: systemd has no state for them (ListUnitsByNames refuses their names).
   */
  watch(units: Iterable<string>): void {
    for (const u of units) {
      if (this.watched.has(u) || isTemplateName(u)) continue;
      this.watched.add(u);
      this.markDirty(u);
    }
  }

  unwatch(units: Iterable<string>): void {
    for (const u of units) {
      this.watched.delete(u);
      this.states.delete(u);
      this.dirty.delete(u);
    }
  }

  /** The last known state of a watched unit. */
  state(unit: string): SystemdUnitState | undefined {
    return this.states.get(unit);
  }

  /** Reads every watched unit's state now (the slow resync; also after a reconnect). */
  async refresh(units: Iterable<string> = this.watched): Promise<void> {
    const names = [...units].filter((u) => this.watched.has(u));
    if (names.length === 0) return;
    const got = await this.list(names);
    const changed = new Map<string, SystemdUnitState | undefined>();
    for (const u of names) {
      if (!this.watched.has(u)) continue;
      const s = got.get(u);
      if (!sameState(this.states.get(u), s) || !this.states.has(u)) changed.set(u, s);
      this.states.set(u, s);
    }
    if (changed.size > 0) this.emit('changed', changed);
  }

  private markDirty(unit: string): void {
    this.dirty.add(unit);
    if (this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      const units = [...this.dirty];
      this.dirty.clear();
      this.refresh(units).catch((e: unknown) => {
        // Try again with the next signal or resync; keep them dirty meanwhile.
        for (const u of units) if (this.watched.has(u)) this.dirty.add(u);
        this.emit('warning', systemdError(e, 'read unit states after a signal'));
      });
    }, this.settleMs);
  }

  private onMessage(msg: dbus.Message): void {
    try {
      if (msg.type !== dbus.MessageType.SIGNAL) return;
      if (msg.interface === MANAGER) {
        if (msg.member === 'JobRemoved') {
          const [, job, unit, result] = msg.body as [number, string, string, string];
          this.jobs.finish(job, { unit, result });
          // PropertiesChanged carries the new state of a unit we know; ask only about the others.
          if (this.watched.has(unit) && !this.states.get(unit)) this.markDirty(unit);
        } else if (msg.member === 'UnitRemoved') {
          // systemd drops only an inactive unit nothing refers to: it is inactive now. Asking
          // (ListUnitsByNames) would load it again just to say so, and once collected it would
          // be removed again, round and round: with many such units PID 1 is kept too busy to
          // run its job queue (stop jobs waited ~90 s after a restart, test/functional/scale).
          const unit = msg.body[0] as string;
          if (!this.watched.has(unit)) return;
          this.dirty.delete(unit);
          const cur = this.states.get(unit);
          this.stateFromSignal(unit, cur, {
            loadState: cur?.loadState ?? 'not-found',
            activeState: 'inactive',
            subState: 'dead',
          });
        } else if (msg.member === 'UnitNew') {
          const unit = msg.body[0] as string;
          if (this.watched.has(unit) && !this.states.get(unit)) this.markDirty(unit);
        }
        return;
      }
      if (msg.interface === 'org.freedesktop.DBus.Properties' && msg.member === 'PropertiesChanged') {
        const unit = unitOfObjectPath(msg.path);
        if (unit === undefined || !this.watched.has(unit)) return;
        const [iface, changed] = msg.body as [string, Record<string, dbus.Variant>];
        if (iface !== UNIT_IFACE) return;
        const cur = this.states.get(unit);
        if (!cur) {
          this.markDirty(unit);
          return;
        }
        this.stateFromSignal(unit, cur, {
          loadState: String(changed.LoadState?.value ?? cur.loadState),
          activeState: String(changed.ActiveState?.value ?? cur.activeState),
          subState: String(changed.SubState?.value ?? cur.subState),
        });
      }
    } catch (e) {
      this.emit('warning', systemdError(e, 'read a systemd signal'));
    }
  }

  /** A unit's state as a signal told it: kept, and announced if it changed. */
  private stateFromSignal(unit: string, cur: SystemdUnitState | undefined, next: SystemdUnitState): void {
    if (cur && sameState(cur, next)) return;
    this.states.set(unit, next);
    this.emit('changed', new Map([[unit, next]]));
  }

  // ------------------------------------------------------------------ unit files

  filePath(unit: string): string {
    return join(this.opts.unitsDirectory, unit);
  }

  /** Where this process reads and writes units_directory. */
  private get localDir(): string {
    return join(this.opts.filesRoot ?? '/', this.opts.unitsDirectory);
  }

  /** Writes the unit file (mode 0644), creating units_directory if needed. */
  async writeUnitFile(unit: string, body: string): Promise<void> {
    const path = join(this.localDir, unit);
    try {
      await mkdir(this.localDir, { recursive: true, mode: 0o755 });
      await writeFile(path, body, { mode: 0o644 });
      await chmod(path, 0o644);
    } catch (e) {
      throw new AgentError(
        'UNIT_FILE',
        `cannot write unit file ${path} of unit ${unit}: ${errorMessage(e)}; check units_directory (${this.opts.unitsDirectory}) is writable by the agent`,
        { cause: e },
      );
    }
  }

  async removeUnitFile(unit: string): Promise<void> {
    const path = join(this.localDir, unit);
    try {
      await rm(path, { force: true });
    } catch (e) {
      throw new AgentError(
        'UNIT_FILE',
        `cannot remove unit file ${path} of unit ${unit}: ${errorMessage(e)}; remove it by hand`,
        { cause: e },
      );
    }
  }

  /** The unit files of ours on disk: name -> text. */
  async readUnitFiles(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let names: string[];
    try {
      names = await readdir(this.localDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw new AgentError(
        'UNIT_FILE',
        `cannot read units_directory ${this.opts.unitsDirectory}: ${errorMessage(e)}; check its permissions`,
        { cause: e },
      );
    }
    for (const n of names) {
      if (n.startsWith('.')) continue;
      try {
        out.set(n, await readFile(join(this.localDir, n), 'utf8'));
      } catch {
        // vanished meanwhile, or not a file: not ours to manage
      }
    }
    return out;
  }
}
