/**
 * List-then-watch with revision continuity (an "informer"): read a prefix at revision R, watch from
 * R+1, and keep a typed cache of the valid records under it.
 *
 * - Every event is emitted exactly once: events at or below the stream's position are dropped.
 * - On a disconnect (etcd restarted, network) the watch resumes from position+1, so the events
 *   written meanwhile arrive, each once. etcd3's own resume is not used: it resumes from the
 *   revision in the last response header, which can be past events not yet delivered.
 * - When history is gone (compaction past the position) or the watch is cancelled for any other
 *   reason, or the server's revision went backwards, the stream re-lists and emits the
 *   difference between its cache and the new list: puts for changed/new keys, deletes for
 *   missing ones. Nothing is missed and nothing is emitted twice.
 * - A value that fails validation is reported (once per key and revision) and skipped; the last
 *   good record of that key, if any, stays in the cache.
 *
 * Events: 'put', 'delete', 'synced' (after the first list and after each re-list), 'batch' (after
 * the events of one watch response), 'disconnected', 'reconnected', 'warning' (a retried failure).
 */
import { EventEmitter } from 'node:events';
import {
  FilterType,
  type Etcd3,
  type IKeyValue,
  type IWatchCreateRequest,
  type IWatchResponse,
  type Watcher,
} from 'etcd3';
import type { FleetError } from '../errors.js';
import { prefixEnd } from './keys.js';
import { forEachPage, rangePrefix } from './range.js';

/** A valid record as read from etcd, with where and when it was written. */
export interface Stored<T> {
  /** The record's natural ID: a unit name, a machine ID, or "<machine>/<unit>". */
  id: string;
  key: string;
  record: T;
  createRevision: string;
  modRevision: string;
  /** The lease the key is attached to ("0": none). */
  lease: string;
}

/** The valid records under a prefix at one revision. */
export interface Listing<T> {
  items: Stored<T>[];
  revision: string;
}

export type KvDecoded<T> = { ok: true; id: string; record: T } | { ok: false; reason: string };

/** Decodes a key-value (`key`: the key as a string, when the caller has it already). */
export type KvDecoder<T> = (kv: IKeyValue, key?: string) => KvDecoded<T>;

/**
 * A decoded record with its key's revisions and lease (`key`: the key as a string, if made already;
 * `modRevision`: kv.mod_revision, or an equal string to share). A key created at that revision
 * keeps one string for both.
 */
export function storedFrom<T>(
  kv: IKeyValue,
  d: { id: string; record: T },
  key = kv.key.toString(),
  modRevision = kv.mod_revision,
): Stored<T> {
  return {
    id: d.id,
    key,
    record: d.record,
    createRevision: kv.create_revision === modRevision ? modRevision : kv.create_revision,
    modRevision,
    lease: kv.lease,
  };
}

export interface PutEvent<T> {
  type: 'put';
  item: Stored<T>;
  /** The previous record of the key, if the stream had one. */
  prev: Stored<T> | undefined;
}

export interface DeleteEvent<T> {
  type: 'delete';
  /** The last record the stream had for the key. */
  prev: Stored<T>;
  /** The revision of the delete (or of the re-list that found it gone). */
  revision: string;
}

export type StreamEvent<T> = PutEvent<T> | DeleteEvent<T>;

export type SyncReason = 'initial' | 'compacted' | 'canceled' | 'revision-went-back' | 'resync';

export interface SyncedInfo {
  revision: string;
  reason: SyncReason;
}

export interface StreamEvents<T> {
  put: [PutEvent<T>];
  delete: [DeleteEvent<T>];
  synced: [SyncedInfo];
  batch: [{ revision: string }];
  disconnected: [FleetError];
  reconnected: [{ revision: string }];
  warning: [FleetError];
  /** A key under the prefix holds a value that fails validation (skipped; see 'cleared'). */
  invalid: [InvalidKeyEvent];
  /** A key reported invalid was deleted or now holds a valid value. */
  cleared: [{ key: string }];
}

export interface InvalidKeyEvent {
  key: string;
  modRevision: string;
  reason: string;
}

/** Waits before retry number `attempt` (0-based). Resolves early (or rejects) when signal aborts. */
export type BackoffDelay = (attempt: number, signal: AbortSignal) => Promise<void>;

export const defaultBackoff: BackoffDelay = (attempt, signal) => {
  const base = Math.min(100 * 2 ** attempt, 5000);
  const ms = base / 2 + Math.random() * (base / 2);
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
};

export const DEFAULT_RESYNC_MS = 10 * 60 * 1000;

export interface StreamOptions {
  /** Stops the stream when aborted (same as stop()). */
  signal?: AbortSignal;
  /** Delay between retries after a failure (tests inject their own to control time). */
  backoff?: BackoffDelay;
  /** A full re-list every this many ms as a safety net (default 10 minutes; 0: never). */
  resyncIntervalMs?: number;
  /**
   * Whether the caller has a put of this key in flight, which it will hand over with putOwn() once
   * committed: a delete of the key seen meanwhile is then remembered, so that an older put is not
   * taken in after it. Only needed with putOwn().
   */
  ownPutInFlight?: (key: string) => boolean;
  /**
   * Emit the first listing page by page while etcd reads the next page, instead of all at once
   * after the last. Only for a caller that acts on nothing before start() resolves (the engine
   * campaigns after): events then arrive across several turns of the event loop, and a handler
   * that reacts at once would see a half-listed prefix (an agent would stop what it did not see yet).
   */
  takeInPages?: boolean;
}

/** What a stream needs from the registry: how to read, decode and wrap errors. */
export interface StreamSource<T> {
  client: Etcd3;
  /** Human name for messages, e.g. "units" or "schedule of machine m1". */
  what: string;
  prefix: string;
  decode: KvDecoder<T>;
  /** Reports a value that failed validation (the registry de-duplicates). */
  invalid(key: string, modRevision: string, reason: string): void;
  /** A key that is gone or valid again needs no more reports. */
  forgetInvalid(key: string): void;
  wrapError(err: unknown, operation: string): FleetError;
}

export class RegistryStream<T> extends EventEmitter<StreamEvents<T>> {
  private readonly cache = new Map<string, Stored<T>>();
  /** Keys whose current value is invalid, and why. */
  private readonly invalidKeys = new Map<string, InvalidKeyEvent>();
  private position = -1n;
  /** The highest revision seen in fragments of a response not yet complete. */
  private pendingTop = -1n;
  private watcher: Watcher | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private started = false;
  private stopped = false;
  private disconnected = false;
  private failures = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly backoff: BackoffDelay;
  /** Watching deletes only (see ignorePutsFrom); `noPutsFrom`: switch once the position gets there. */
  private noPuts = false;
  private noPutsFrom: bigint | undefined;
  /** The revision of the last listing: everything written up to it is reflected in the cache. */
  private listedAt = -1n;
  /** The revision of the last putOwn() and its string. */
  private ownRevision: [bigint, string] | undefined;
  /** The revision of the last put taken in from etcd (its string, shared by the puts of one transaction). */
  private lastRevision = '';
  /** Keys deleted while the caller had a put of them in flight (key -> revision of the delete). */
  private readonly tombstones = new Map<string, bigint>();

  constructor(
    private readonly src: StreamSource<T>,
    private readonly opts: StreamOptions = {},
  ) {
    super();
    this.backoff = opts.backoff ?? defaultBackoff;
    if (opts.signal?.aborted) this.stopped = true;
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  /** The revision up to which the cache reflects etcd (-1 before start). */
  get revision(): string {
    return this.position.toString();
  }

  /** The valid records known now, by key. */
  snapshot(): Stored<T>[] {
    return [...this.cache.values()];
  }

  get(key: string): Stored<T> | undefined {
    return this.cache.get(key);
  }

  /**
   * Lists the prefix (emitting a 'put' per record, then 'synced'), and starts watching. Rejects
   * with a typed error if the first list fails; later failures are retried.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error(`the ${this.src.what} stream was already started`);
    this.started = true;
    if (this.stopped) return;
    if (!this.opts.takeInPages) {
      this.applyListing(await this.list(), 'initial');
      this.openWatch();
      this.scheduleResync();
      return;
    }
    let seen = new Set<string>();
    let revision: string;
    try {
      ({ revision } = await forEachPage(this.src.client, this.src.prefix, {}, (kvs, restarted) => {
        if (restarted) seen = new Set();
        this.listingPage(kvs, seen);
      }));
    } catch (e) {
      throw this.src.wrapError(e, `list ${this.src.what} (${this.src.prefix})`);
    }
    this.endListing(seen, BigInt(revision), 'initial');
    this.openWatch();
    this.scheduleResync();
  }

  /**
   * Takes in a put the caller itself committed at `revision` (the engine: an assignment it wrote),
   * as if the watch had brought it, and emits it, unless the stream already reflects the key at
   * that revision or later (the watch brought it, a listing showed it, or a later delete).
   */
  putOwn(id: string, key: string, record: T, revision: bigint): void {
    if (this.stopped) return;
    const deletedAt = this.tombstones.get(key);
    if (deletedAt !== undefined) this.tombstones.delete(key);
    if (revision <= this.listedAt || (deletedAt !== undefined && deletedAt > revision)) return;
    const prev = this.cache.get(key);
    if (prev && BigInt(prev.modRevision) >= revision) return;
    // A transaction's puts come one after another: they share one string of their revision.
    if (this.ownRevision?.[0] !== revision) this.ownRevision = [revision, revision.toString()];
    const rev = this.ownRevision[1];
    const item: Stored<T> = {
      id,
      key,
      record,
      createRevision: prev?.createRevision ?? rev,
      modRevision: rev,
      lease: '0',
    };
    this.forget(key);
    this.cache.set(key, item);
    this.emit('put', { type: 'put', item, prev });
  }

  /**
   * Once the stream has seen everything up to `revision`, watch deletes only: every put after it
   * is the caller's own and comes through putOwn() (the engine leader: no one else writes the
   * schedule, and its term's first write is past every earlier leader's). Puts written by anyone
   * else after that are seen at the next listing only (a re-list, a resync). Saves etcd sending,
   * and the caller decoding, every write back to its writer.
   */
  ignorePutsFrom(revision: bigint): void {
    if (this.stopped || this.noPuts || this.noPutsFrom !== undefined) return;
    this.noPutsFrom = revision;
    void this.enqueue(() => this.switchToDeletesOnly());
  }

  /** Watches puts again (the engine: no longer the leader), from the stream's position. */
  watchPuts(): void {
    this.noPutsFrom = undefined;
    if (!this.noPuts) return;
    this.noPuts = false;
    void this.enqueue(() => this.reopenWatch());
  }

  private switchToDeletesOnly(): void {
    if (this.noPuts || this.noPutsFrom === undefined || this.position < this.noPutsFrom) return;
    this.noPuts = true;
    this.noPutsFrom = undefined;
    this.reopenWatch();
  }

  /** Watches again from the position, with the current filter (events of the old watch are dropped). */
  private reopenWatch(): void {
    const old = this.watcher;
    if (!old || this.stopped) return; // a re-list or reconnect opens one with the current filter
    this.watcher = undefined;
    void cancelQuietly(old);
    this.openWatch();
  }

  /** Stops watching; no event is emitted after this resolves. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    const w = this.watcher;
    this.watcher = undefined;
    await this.chain.catch(() => undefined);
    if (w) await cancelQuietly(w);
  }

  /** Re-lists now and emits the difference (also what the periodic resync does). */
  resync(): Promise<void> {
    return this.enqueue(() => this.relist('resync'));
  }

  private enqueue(task: () => Promise<void> | void): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        await task();
      } catch (e) {
        if (!this.stopped) this.emit('warning', this.src.wrapError(e, `watch ${this.src.what}`));
      }
    };
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  private scheduleResync(): void {
    const every = this.opts.resyncIntervalMs ?? DEFAULT_RESYNC_MS;
    if (every <= 0 || this.stopped) return;
    this.resyncTimer = setTimeout(() => {
      void this.enqueue(() => this.relist('resync')).then(() => this.scheduleResync());
    }, every);
    this.resyncTimer.unref();
  }

  private async list(): Promise<{ kvs: IKeyValue[]; revision: bigint }> {
    try {
      const res = await rangePrefix(this.src.client, this.src.prefix);
      return { kvs: res.kvs, revision: BigInt(res.revision) };
    } catch (e) {
      throw this.src.wrapError(e, `list ${this.src.what} (${this.src.prefix})`);
    }
  }

  /** Lists until it succeeds (or the stream stops), then emits the difference and re-watches. */
  private async relist(reason: SyncReason): Promise<void> {
    const old = this.watcher;
    this.watcher = undefined;
    if (old) void cancelQuietly(old);
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const listing = await this.list();
        if (this.stopped) return;
        this.applyListing(listing, reason);
        this.failures = 0;
        this.openWatch();
        return;
      } catch (e) {
        this.emit('warning', this.src.wrapError(e, `re-list ${this.src.what}`));
        await this.backoff(attempt, this.abort.signal);
      }
    }
  }

  private applyListing(listing: { kvs: IKeyValue[]; revision: bigint }, reason: SyncReason): void {
    const seen = new Set<string>();
    this.listingPage(listing.kvs, seen);
    this.endListing(seen, listing.revision, reason);
  }

  /** Takes in part of a listing: what changed is emitted; the keys are added to `seen`. */
  private listingPage(kvs: readonly IKeyValue[], seen: Set<string>): void {
    for (const kv of kvs) {
      const key = kv.key.toString();
      seen.add(key);
      const cached = this.cache.get(key);
      if (cached && cached.modRevision === kv.mod_revision) continue;
      this.acceptPut(kv, key);
    }
  }

  /** After the last page of a listing at `revision`: whatever it did not show is gone. */
  private endListing(seen: ReadonlySet<string>, revision: bigint, reason: SyncReason): void {
    this.listedAt = revision;
    this.tombstones.clear();
    for (const key of [...this.invalidKeys.keys()]) if (!seen.has(key)) this.forget(key);
    for (const [key, prev] of [...this.cache]) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.forget(key);
      this.emit('delete', { type: 'delete', prev, revision: revision.toString() });
    }
    this.position = revision;
    this.emit('synced', { revision: revision.toString(), reason });
  }

  private acceptPut(kv: IKeyValue, key: string): void {
    // Already taken in at this revision (putOwn, or a replayed fragment): nothing to decode.
    if (this.cache.get(key)?.modRevision === kv.mod_revision) return;
    const d = this.src.decode(kv, key);
    if (!d.ok) {
      this.src.invalid(key, kv.mod_revision, d.reason);
      const ev = { key, modRevision: kv.mod_revision, reason: d.reason };
      this.invalidKeys.set(key, ev);
      this.emit('invalid', ev);
      return;
    }
    this.forget(key);
    // The puts of one transaction share one string of its revision.
    if (kv.mod_revision !== this.lastRevision) this.lastRevision = kv.mod_revision;
    const item = storedFrom(kv, d, key, this.lastRevision);
    const prev = this.cache.get(key);
    this.cache.set(key, item);
    this.emit('put', { type: 'put', item, prev });
  }

  /** The key is gone or valid: no more reports for it ('cleared' if it was invalid). */
  private forget(key: string): void {
    this.src.forgetInvalid(key);
    if (this.invalidKeys.delete(key)) this.emit('cleared', { key });
  }

  /** The keys whose current value is invalid, and why. */
  invalidValues(): InvalidKeyEvent[] {
    return [...this.invalidKeys.values()];
  }

  private openWatch(): void {
    if (this.stopped) return;
    this.pendingTop = -1n;
    const builder = this.src.client
      .watch()
      .prefix(this.src.prefix)
      .startRevision((this.position + 1n).toString());
    // Let etcd split big responses (catching up after a disconnect can exceed gRPC's 4 MiB
    // message, and would then fail forever). etcd3 1.1.2 has no builder method for this field of
    // its request; onData holds the position until the last fragment.
    const request = (builder as unknown as { request: IWatchCreateRequest }).request;
    request.fragment = true;
    if (this.noPuts) request.filters = [FilterType.Noput];
    const w = builder.watcher();
    this.watcher = w;
    // Every handler runs in the stream's queue, in arrival order, and never throws into etcd3.
    w.on('connected', (res: IWatchResponse) => void this.enqueue(() => this.onConnected(w, res)));
    w.on('data', (res: IWatchResponse) => void this.enqueue(() => this.onData(w, res)));
    w.on('disconnected', (err: Error) => {
      if (w !== this.watcher) return;
      // Take over from etcd3 at once, before it re-attaches this watcher: it would resume from
      // the revision of the last header it saw, which can be past events not yet delivered.
      // Events of `w` still queued are dropped; the new watch replays them from our position.
      this.watcher = undefined;
      void cancelQuietly(w);
      void this.enqueue(() => this.reconnect(err));
    });
    w.on('error', (err: Error) => void this.enqueue(() => this.onCanceled(w, err)));
  }

  private onConnected(w: Watcher, res: IWatchResponse): Promise<void> | void {
    if (w !== this.watcher) return;
    if (this.disconnected) {
      this.disconnected = false;
      this.failures = 0;
      this.emit('reconnected', { revision: this.position.toString() });
    }
    // A server whose history is behind ours (restored from a backup, another cluster): the
    // events we would wait for may never come; start over from what it has.
    if (BigInt(res.header.revision) < this.position) return this.relist('revision-went-back');
  }

  private onData(w: Watcher, res: IWatchResponse): void {
    if (w !== this.watcher) return;
    let top = this.pendingTop > this.position ? this.pendingTop : this.position;
    for (const ev of res.events) {
      const rev = BigInt(ev.kv.mod_revision);
      if (rev <= this.position) continue; // already reflected (a re-list or a replay covered it)
      if (rev > top) top = rev;
      const key = ev.kv.key.toString();
      if (ev.type === 'Delete') {
        if (this.opts.ownPutInFlight?.(key)) this.tombstones.set(key, rev);
        this.forget(key);
        const prev = this.cache.get(key);
        if (!prev) continue;
        this.cache.delete(key);
        this.emit('delete', { type: 'delete', prev, revision: ev.kv.mod_revision });
      } else {
        this.acceptPut(ev.kv, key);
      }
    }
    if (res.fragment) {
      // More of the same revision follows: do not move past it yet (a replay after a disconnect
      // resends it whole; acceptPut drops what was already applied).
      this.pendingTop = top;
      return;
    }
    this.pendingTop = -1n;
    if (res.events.length === 0) {
      // A progress notification: etcd has sent everything up to this revision.
      const rev = BigInt(res.header.revision);
      if (rev > top) top = rev;
    }
    if (top > this.position) {
      this.position = top;
      this.emit('batch', { revision: top.toString() });
    }
    if (this.noPutsFrom !== undefined) this.switchToDeletesOnly();
  }

  /** After a disconnect: wait our backoff, then watch again from our own position. */
  private async reconnect(err: Error): Promise<void> {
    if (this.watcher) return; // a re-list opened one meanwhile
    if (!this.disconnected) {
      this.disconnected = true;
      this.emit('disconnected', this.src.wrapError(err, `watch ${this.src.what}`));
    }
    await this.backoff(this.failures++, this.abort.signal);
    if (!this.watcher) this.openWatch();
  }

  private async onCanceled(w: Watcher, err: Error): Promise<void> {
    if (w !== this.watcher) return;
    this.watcher = undefined;
    // etcd cancels a watch whose start revision was compacted away (etcd3 reports it as a bare
    // "Watcher canceled"); any other cancel is handled the same way: list again.
    const compacted = await this.isCompacted();
    if (!compacted) this.emit('warning', this.src.wrapError(err, `watch ${this.src.what}`));
    await this.relist(compacted ? 'compacted' : 'canceled');
  }

  private async isCompacted(): Promise<boolean> {
    try {
      await this.src.client.kv.range({
        key: Buffer.from(this.src.prefix),
        range_end: prefixEnd(this.src.prefix),
        revision: (this.position + 1n).toString(),
        count_only: true,
      });
      return false;
    } catch (e) {
      return /compacted/i.test(String((e as Error).message));
    }
  }
}

async function cancelQuietly(w: Watcher): Promise<void> {
  // A cancelled watcher may still emit 'error' (e.g. a late cancel response): keep it handled.
  w.on('error', () => undefined);
  try {
    await Promise.race([w.cancel(), new Promise((r) => setTimeout(r, 2000).unref())]);
  } catch {
    // the stream is gone already
  }
}
