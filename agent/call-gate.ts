/**
 * A gate that lets at most `max` calls be in flight at once and queues the rest in order. The
 * agent's D-Bus connection goes through one: the system bus refuses a connection more pending
 * replies than its limit (max_replies_per_connection, 128 on Debian's system bus) with
 * LimitsExceeded, and a reconcile of hundreds of units sends that many StartUnit calls at once.
 */
export class CallGate {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`CallGate: max must be a positive integer, not ${max}`);
  }

  /** Calls now in flight. */
  get active(): number {
    return this.inFlight;
  }

  /** Calls waiting for a free slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs fn once a slot is free; the slot is released when its promise settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // the slot passes straight to the next caller (inFlight unchanged), or is freed
      if (next) next();
      else this.inFlight--;
    }
  }
}
