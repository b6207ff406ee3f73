/**
 * A listing served from a watch-fed cache (a RegistryStream) that is never older than etcd at the
 * time of the request: before answering, it asks etcd for the prefix's watermark (key count and
 * highest mod revision: two small requests) and waits until the stream has caught up with it. If
 * the stream does not catch up in time, or the cache cannot match (e.g. an invalid value under the
 * prefix, which the stream skips), the listing is read from etcd directly. Listing 10,000 units
 * then costs a sort of the cache instead of reading and decoding 10,000 values.
 */
import type { Listing, RegistryStream, Stored } from '../../lib/registry/stream.js';

export interface Watermark {
  count: number;
  maxModRevision: string;
}

export interface FreshViewSource<T> {
  stream: () => RegistryStream<T>;
  watermark: () => Promise<Watermark>;
  direct: () => Promise<Listing<T>>;
  /** How long to wait for the stream to catch up (default 1000 ms). */
  waitMs?: number;
}

export class FreshView<T> {
  private stream: RegistryStream<T> | undefined;
  private starting: Promise<boolean> | undefined;
  private sorted: Stored<T>[] | undefined;
  private closed = false;
  /** How listings were answered (for tests and metrics). */
  readonly served = { cache: 0, direct: 0 };

  constructor(private readonly src: FreshViewSource<T>) {}

  /** The records, sorted by key, as of now or later. */
  async items(): Promise<Stored<T>[]> {
    if (!this.closed && (await this.ensureStarted())) {
      const w = await this.src.watermark();
      if (await this.caughtUp(w)) {
        this.served.cache++;
        return this.sortedSnapshot();
      }
    }
    this.served.direct++;
    return (await this.src.direct()).items;
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.stream;
    this.stream = undefined;
    this.starting = undefined;
    if (s) await s.stop();
  }

  private ensureStarted(): Promise<boolean> {
    this.starting ??= (async () => {
      const s = this.src.stream();
      const invalidate = () => (this.sorted = undefined);
      s.on('put', invalidate);
      s.on('delete', invalidate);
      s.on('synced', invalidate);
      try {
        await s.start();
        this.stream = s;
        return true;
      } catch {
        await s.stop();
        this.starting = undefined; // try again at the next request
        return false;
      }
    })();
    return this.starting;
  }

  /** Caught up with etcd (true), or cannot be (false: a skipped invalid value keeps it short). */
  private settled(w: Watermark): boolean | undefined {
    const s = this.stream;
    if (!s) return false;
    if (BigInt(s.revision) < BigInt(w.maxModRevision)) return undefined; // puts on the way
    const n = this.sortedSnapshot().length;
    if (n === w.count) return true;
    return n > w.count ? undefined : false; // more: deletes on the way; fewer: invalid values
  }

  private async caughtUp(w: Watermark): Promise<boolean> {
    const now = this.settled(w);
    if (now !== undefined) return now;
    const s = this.stream;
    if (!s) return false;
    return new Promise<boolean>((resolve) => {
      const check = () => {
        const v = this.settled(w);
        if (v !== undefined) finish(v);
      };
      const timer = setTimeout(() => finish(false), this.src.waitMs ?? 1000);
      const finish = (v: boolean) => {
        clearTimeout(timer);
        s.off('batch', check);
        s.off('synced', check);
        resolve(v);
      };
      s.on('batch', check);
      s.on('synced', check);
    });
  }

  private sortedSnapshot(): Stored<T>[] {
    this.sorted ??= this.stream!.snapshot().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return this.sorted;
  }
}
