/**
 * Integration helpers: simulated agents (machine records on their own leases, no systemd), engine
 * processes started from dist/engine/main.js (stopped by PID), and waiting for the schedule.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Etcd3, Lease } from 'etcd3';
import type { Registry } from '../../lib/registry/index.js';

export function unitBody(n: number | string, xfleet = ''): string {
  return `[Unit]\nDescription=unit ${n}\n\n[Service]\nExecStart=/bin/sleep 1000\n${xfleet ? `\n[X-Fleet]\n${xfleet}\n` : ''}`;
}

/** One simulated machine: its record attached to its own lease, as an agent would publish it. */
export class SimMachine {
  private constructor(
    readonly id: string,
    readonly lease: Lease,
  ) {}

  static async start(
    client: Etcd3,
    reg: Registry,
    id: string,
    opts: { ttl?: number; metadata?: Record<string, string>; draining?: boolean } = {},
  ): Promise<SimMachine> {
    const lease = client.lease(opts.ttl ?? 10);
    lease.on('lost', () => undefined);
    const leaseId = await lease.grant();
    await reg.putMachine(
      {
        id,
        publicIp: '10.0.0.1',
        metadata: opts.metadata ?? {},
        version: 'test',
        draining: opts.draining ?? false,
      },
      leaseId,
    );
    return new SimMachine(id, lease);
  }

  /** The machine is gone (its lease revoked: its record vanishes at once). */
  async die(): Promise<void> {
    await this.lease.revoke().catch(() => undefined);
  }
}

export interface EngineEvent {
  event: string;
  t: number;
  pid: number;
  [k: string]: unknown;
}

/** An engine running as a separate process. */
export class EngineProcess {
  readonly events: EngineEvent[] = [];
  private stderr = '';
  private exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.events.push(JSON.parse(line) as EngineEvent);
        } catch {
          // not ours
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  static start(
    name: string,
    endpoint: string,
    prefix: string,
    env: Record<string, string> = {},
    extraArgs: string[] = [],
  ): EngineProcess {
    const main = fileURLToPath(new URL('../../engine/main.js', import.meta.url));
    const proc = spawn(process.execPath, [main, '--candidate', name, ...extraArgs], {
      env: {
        PATH: process.env.PATH ?? '',
        FLEET_ETCD_SERVERS: endpoint,
        FLEET_ETCD_KEY_PREFIX: prefix,
        FLEET_ENGINE_LEASE_TTL: '2',
        FLEET_ENGINE_RECONCILE_INTERVAL: '60',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new EngineProcess(name, proc);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get log(): string {
    return this.stderr;
  }

  has(event: string, since = 0): boolean {
    return this.events.some((e) => e.event === event && e.t >= since);
  }

  async waitFor(event: string, timeoutMs = 10000, since = 0): Promise<EngineEvent> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.event === event && x.t >= since);
      if (e) return e;
      if (Date.now() > end) {
        throw new Error(
          `engine ${this.name} (pid ${this.pid}) did not report "${event}" within ${timeoutMs} ms; stderr: ${this.stderr}`,
        );
      }
      await sleep(25);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) process.kill(this.pid, sig);
  }

  /** Stops it by PID (SIGTERM, then SIGKILL after 5 s) and waits for the exit. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  async kill9(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** unit -> machines, from the registry's schedule. */
export async function scheduleOf(reg: Registry): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const s of (await reg.listSchedule()).items) {
    const list = out.get(s.record.unit);
    if (list) list.push(s.record.machineId);
    else out.set(s.record.unit, [s.record.machineId]);
  }
  return out;
}

/** Polls until `check` returns true (it may throw meanwhile); rethrows its last error on timeout. */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 15000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`${what}: not reached within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await sleep(50);
  }
}

/**
 * Watches the schedule and records every moment a non-global unit was assigned to two machines
 * at once (after any watch response), which must never happen.
 */
export async function watchDoubles(reg: Registry): Promise<{ doubles: string[]; stop: () => Promise<void> }> {
  const where = new Map<string, Set<string>>();
  const doubles: string[] = [];
  const stream = reg.watchSchedule(undefined, { resyncIntervalMs: 0 });
  const check = () => {
    for (const [u, s] of where) if (s.size > 1) doubles.push(`${u} on ${[...s].join(', ')}`);
  };
  stream.on('put', (e) => {
    const r = e.item.record;
    (where.get(r.unit) ?? where.set(r.unit, new Set()).get(r.unit)!).add(r.machineId);
  });
  stream.on('delete', (e) => where.get(e.prev.record.unit)?.delete(e.prev.record.machineId));
  stream.on('batch', check);
  await stream.start();
  check();
  return { doubles, stop: () => stream.stop() };
}
