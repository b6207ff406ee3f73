/**
 * Presence: this machine's record in etcd, on a lease of TTL agent_ttl that the agent renews every
 * TTL/3, and the fencing clock (fencing.ts): when no renewal has succeeded by
 * lastRenewalSentAt + TTL - margin, 'fence' tells the agent to stop its units NOW, before etcd can
 * let the lease expire and the engine re-place them. When etcd answers again, the lease is renewed
 * ('restored') or, if it expired meanwhile, a new one is granted and the record written again
 * ('registered').
 *
 * Events:
 *   registered {leaseId, again}  a lease was granted and the machine record written on it
 *   fence      {deadline}        no renewal in time: stop the units
 *   restored   {leaseId}         a renewal succeeded after 'fence' (the old lease is still alive)
 *   lost       AgentError        etcd said the lease is gone (expired or revoked)
 *   warning    FleetError        a failed renewal or registration (retried)
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { systemClock, type Clock } from '../lib/clock.js';
import { errorMessage, type FleetError } from '../lib/errors.js';
import type { MachineRecord, Registry } from '../lib/registry/index.js';
import { AgentError } from './errors.js';
import { fenceDeadline, leaseTiming, type LeaseTiming } from './fencing.js';

export interface PresenceOptions {
  client: Etcd3;
  registry: Registry;
  record: MachineRecord;
  ttlSeconds: number;
  clock?: Pick<Clock, 'now'>;
}

export interface PresenceEvents {
  registered: [{ leaseId: string; again: boolean }];
  fence: [{ deadline: number }];
  restored: [{ leaseId: string }];
  lost: [AgentError];
  warning: [FleetError];
}

export class Presence extends EventEmitter<PresenceEvents> {
  private lease: string | undefined;
  private lastSentAt = 0;
  private fenced = false;
  private fenceTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private registrations = 0;
  private abandon: (() => void) | undefined;
  timing: LeaseTiming;
  private readonly now: () => number;

  constructor(private readonly opts: PresenceOptions) {
    super();
    this.timing = leaseTiming(opts.ttlSeconds * 1000);
    const clock = opts.clock ?? systemClock;
    this.now = () => clock.now();
  }

  /** The current lease (undefined while registering). */
  get leaseId(): string | undefined {
    return this.lease;
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** When the units must be stopped if no renewal succeeds meanwhile (ms since epoch). */
  get deadline(): number {
    return fenceDeadline(this.lastSentAt, this.timing);
  }

  /** Registers (retrying until it succeeds or stop()), then keeps the lease alive in the background. */
  async start(): Promise<string> {
    const first = new Promise<string>((resolve, reject) => {
      this.once('registered', (r) => resolve(r.leaseId));
      this.abandon = () =>
        reject(new AgentError('LEASE', `machine ${this.opts.record.id}: stopped before it could register`));
    });
    this.loop = this.run();
    return first;
  }

  /** Stops renewing; with revoke, gives up the lease (the record and unit states vanish at once). */
  async stop(opts: { revoke?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    if (this.lease === undefined) this.abandon?.();
    this.wake?.();
    await this.loop;
    const lease = this.lease;
    this.lease = undefined;
    if (opts.revoke && lease) {
      try {
        await this.opts.client.leaseClient.leaseRevoke({ ID: lease });
      } catch (e) {
        throw new AgentError(
          'LEASE',
          `cannot revoke lease ${lease} of machine ${this.opts.record.id}: ${errorMessage(e)}; its record and unit states vanish when the lease expires (agent_ttl ${this.opts.ttlSeconds} s)`,
          { cause: e, retryable: true },
        );
      }
    }
  }

  /**
   * New metadata / public IP (a reloaded configuration): kept for later registrations and written
   * into the current record now, leaving what others set there (draining) as it is.
   */
  async setIdentity(fields: { metadata: Record<string, string>; publicIp: string }): Promise<void> {
    this.opts.record = { ...this.opts.record, ...fields };
    if (this.lease === undefined || this.fenced) return;
    await this.opts.registry.updateMachine(this.opts.record.id, 'republish the machine metadata', (cur) => ({
      ...cur,
      ...fields,
    }));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.lease === undefined) {
        const ok = await this.register();
        if (!ok) await this.sleep(this.timing.retryEveryMs);
        continue;
      }
      const sentAt = this.now();
      const r = await this.renew(this.lease);
      if (this.stopped) return;
      if (r === 'renewed') {
        this.lastSentAt = sentAt;
        this.armFence();
        if (this.fenced) {
          this.fenced = false;
          this.emit('restored', { leaseId: this.lease });
        }
        await this.sleep(Math.max(0, sentAt + this.timing.renewEveryMs - this.now()));
      } else if (r === 'expired') {
        const lease = this.lease;
        this.lease = undefined;
        this.fenceNow();
        this.emit(
          'lost',
          new AgentError(
            'LEASE',
            `lease ${lease} of machine ${this.opts.record.id} expired or was revoked in etcd; the units were stopped and the machine registers again`,
          ),
        );
      } else {
        await this.sleep(this.timing.retryEveryMs);
      }
    }
  }

  private async register(): Promise<boolean> {
    const sentAt = this.now();
    let id: string | undefined;
    try {
      const res = await this.opts.client.leaseClient.leaseGrant(
        { TTL: this.opts.ttlSeconds, ID: 0 },
        { deadline: Date.now() + this.timing.renewTimeoutMs * 2 },
      );
      id = res.ID;
      if (Number(res.TTL) * 1000 !== this.timing.ttlMs) this.timing = leaseTiming(Number(res.TTL) * 1000);
      await this.opts.registry.putMachine(
        { ...this.opts.record, startedAt: this.opts.record.startedAt ?? new Date(this.now()).toISOString() },
        id,
      );
    } catch (e) {
      this.emit(
        'warning',
        new AgentError(
          'LEASE',
          `cannot register machine ${this.opts.record.id} (grant a lease of ${this.opts.ttlSeconds} s and write its record): ${errorMessage(e)}; retrying`,
          { cause: e, retryable: true },
        ),
      );
      return false;
    }
    if (this.stopped) {
      await this.opts.client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
      return false;
    }
    this.lease = id;
    this.lastSentAt = sentAt;
    this.armFence();
    this.fenced = false;
    this.emit('registered', { leaseId: id, again: this.registrations++ > 0 });
    return true;
  }

  /** One keep-alive on its own stream, with a deadline. */
  private async renew(lease: string): Promise<'renewed' | 'expired' | 'failed'> {
    try {
      const stream = await this.opts.client.leaseClient.leaseKeepAlive({
        deadline: Date.now() + this.timing.renewTimeoutMs,
      });
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('no answer in time')),
          this.timing.renewTimeoutMs + 50,
        );
        stream.on('data', (d: { TTL: string }) => {
          clearTimeout(timer);
          resolve(d);
        });
        stream.on('error', (e: Error) => {
          clearTimeout(timer);
          reject(e);
        });
        stream.on('end', () => {
          clearTimeout(timer);
          reject(new Error('the keep-alive stream ended without an answer'));
        });
        stream.write({ ID: lease });
      }).finally(() => {
        try {
          stream.end();
        } catch {
          // already closed
        }
      });
      return Number(res.TTL) > 0 ? 'renewed' : 'expired';
    } catch (e) {
      this.emit(
        'warning',
        new AgentError(
          'LEASE',
          `cannot renew lease ${lease} of machine ${this.opts.record.id}: ${errorMessage(e)}; retrying (units are stopped at ${new Date(this.deadline).toISOString()} if etcd stays unreachable)`,
          { cause: e, retryable: true },
        ),
      );
      return 'failed';
    }
  }

  private armFence(): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    const ms = this.deadline - this.now();
    this.fenceTimer = setTimeout(() => this.fenceNow(), Math.max(0, ms));
  }

  private fenceNow(): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.fenceTimer = undefined;
    if (this.fenced || this.stopped) return;
    this.fenced = true;
    this.emit('fence', { deadline: this.deadline });
  }
}
