/**
 * Shares one read among concurrent callers that each need a snapshot at least as new as some
 * revision. When a read ends it serves every caller waiting whose revision it reaches; the others
 * share the next read, started at once. So a burst of N callers costs a few reads, not N. A failed
 * read fails the callers waiting on it. No I/O of its own: the read is given.
 */
export interface Snapshot<T> {
  revision: bigint;
  value: T;
}

interface Waiter<T> {
  min: bigint;
  resolve: (s: Snapshot<T>) => void;
  reject: (e: unknown) => void;
}

export class CoalescedRead<T> {
  private inFlight = false;
  private waiting: Waiter<T>[] = [];
  /** The newest snapshot read, kept until a newer one (callers whose revision it reaches reuse it). */
  private last: Snapshot<T> | undefined;

  constructor(private readonly read: () => Promise<Snapshot<T>>) {}

  /** A snapshot at or after `minRevision`. */
  get(minRevision: bigint): Promise<Snapshot<T>> {
    if (this.last && this.last.revision >= minRevision) return Promise.resolve(this.last);
    return new Promise((resolve, reject) => {
      this.waiting.push({ min: minRevision, resolve, reject });
      if (!this.inFlight) void this.next();
    });
  }

  private async next(): Promise<void> {
    this.inFlight = true;
    try {
      const s = await this.read();
      if (!this.last || s.revision > this.last.revision) this.last = s;
      // A snapshot at or after a caller's revision is all it needs, whenever it asked.
      const all = this.waiting;
      this.waiting = [];
      for (const w of all) {
        if (s.revision >= w.min) w.resolve(s);
        else this.waiting.push(w); // asked for a newer one (or etcd answered from behind): read again
      }
    } catch (e) {
      const all = this.waiting;
      this.waiting = [];
      for (const w of all) w.reject(e);
    } finally {
      this.inFlight = false;
      if (this.waiting.length > 0) void this.next();
    }
  }
}
