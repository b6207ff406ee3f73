/**
 * The engine's leadership as a fence. Campaigns with etcd3's election recipe under
 * `<prefix>election/engine/` and turns its outcome into the Fence every schedule write carries.
 *
 * - 'elected' (fence): this candidate leads; write with this fence.
 * - 'deposed' (error): it no longer does (lease lost, etcd3 campaign error, or restart() after a
 *   StaleFenceError): stop applying at once. It campaigns again by itself after a backoff.
 * - 'warning' (error): a campaign attempt failed before being elected; retried.
 *
 * Whatever this object believes, the fence is what protects the schedule: a deposed leader that has
 * not noticed yet (etcd3 reports a lost lease late) still cannot write.
 */
import { EventEmitter } from 'node:events';
import type { Campaign } from 'etcd3';
import type { FleetError } from '../errors.js';
import { RegistryError, type Fence } from './errors.js';
import type { Registry } from './registry.js';
import { defaultBackoff, type BackoffDelay } from './stream.js';

export interface EngineCampaignOptions {
  /** What the candidate announces (its machine ID, for `fleetctl` to show the leader). */
  candidate: string;
  /** The lease TTL of the campaign, in seconds. */
  ttlSeconds: number;
  signal?: AbortSignal;
  backoff?: BackoffDelay;
}

export interface EngineCampaignEvents {
  elected: [Fence];
  deposed: [FleetError];
  warning: [FleetError];
}

export class EngineCampaign extends EventEmitter<EngineCampaignEvents> {
  private current: Campaign | undefined;
  private currentFence: Fence | undefined;
  private stopped = false;
  private attempts = 0;
  private readonly abort = new AbortController();
  private readonly backoff: BackoffDelay;

  constructor(
    private readonly registry: Registry,
    private readonly opts: EngineCampaignOptions,
  ) {
    super();
    this.backoff = opts.backoff ?? defaultBackoff;
    if (opts.signal?.aborted) this.stopped = true;
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  /** The fence while elected, else undefined. */
  get fence(): Fence | undefined {
    return this.currentFence;
  }

  /** Starts campaigning; 'elected' follows when this candidate leads. */
  start(): void {
    if (this.stopped || this.current) return;
    this.campaign();
  }

  /** Resigns (a successor is elected at once) and stops campaigning. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    const c = this.current;
    this.current = undefined;
    this.currentFence = undefined;
    if (c) await c.resign().catch(() => undefined);
  }

  /**
   * Gives up leadership and campaigns again: what to do when a write was refused with
   * StaleFenceError (the fence this object holds is no longer current).
   */
  async restart(reason: FleetError): Promise<void> {
    const c = this.current;
    if (c) await this.lose(c, reason);
  }

  private campaign(): void {
    const c = this.registry.engineElection(this.opts.ttlSeconds).campaign(this.opts.candidate);
    this.current = c;
    c.on('elected', () => void this.onElected(c));
    c.on(
      'error',
      (e: Error) => void this.lose(c, this.registry.wrapError(e, 'campaign for engine leadership')),
    );
  }

  private async onElected(c: Campaign): Promise<void> {
    try {
      const fence = await this.registry.fenceFor(await c.getCampaignKey());
      if (c !== this.current || this.stopped) return;
      this.attempts = 0;
      this.currentFence = fence;
      this.emit('elected', fence);
    } catch (e) {
      await this.lose(c, this.registry.wrapError(e, 'read the engine election'));
    }
  }

  private async lose(c: Campaign, err: FleetError): Promise<void> {
    if (c !== this.current || this.stopped) return;
    this.current = undefined;
    const wasLeader = this.currentFence !== undefined;
    this.currentFence = undefined;
    this.emit(wasLeader ? 'deposed' : 'warning', err);
    await c.resign().catch(() => undefined);
    await this.backoff(this.attempts++, this.abort.signal);
    if (!this.stopped) this.campaign();
  }
}

/**
 * Watches an elected engine's election key and calls `onGone` once if it is deleted (its lease
 * expired or was revoked, or someone deleted the key): etcd3's campaign only notices a lost lease
 * at its next keep-alive. Returns a function that stops watching.
 */
export function watchFence(
  registry: Registry,
  fence: Fence,
  onGone: (err: FleetError) => void,
): () => Promise<void> {
  let done = false;
  const watcher = registry.client
    .watch()
    .key(fence.key)
    .startRevision((BigInt(fence.createRevision) + 1n).toString())
    .watcher();
  const fire = (why: string) => {
    if (done) return;
    done = true;
    onGone(
      new RegistryError(
        'NOT_LEADER',
        `the engine election key ${fence.key} ${why}; this engine is no longer the leader and campaigns again`,
        { key: fence.key },
      ),
    );
  };
  watcher.on('delete', () => fire('was deleted (its lease expired or was revoked)'));
  watcher.on('put', (kv) => {
    if (kv.create_revision !== fence.createRevision) fire('was replaced');
  });
  // A broken watch says nothing about leadership; the fence on every write still protects.
  watcher.on('error', () => undefined);
  return async () => {
    done = true;
    try {
      await watcher.cancel();
    } catch {
      // already gone
    }
  };
}
