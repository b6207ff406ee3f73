/**
 * Lease timing, PURE: how often the agent renews its lease, and the deadline by which it must have
 * stopped its units when it cannot (fencing).
 *
 * etcd starts a lease's TTL afresh when it processes a renewal, which is after the agent sent it.
 * So counting from the moment the last successful renewal was SENT is a safe lower bound of when
 * etcd can let the lease expire: the agent stops its units at
 *
 *   lastRenewalSentAt + ttl - margin
 *
 * where the margin leaves time to stop them (and for clock drift between this machine's monotonic
 * clock and etcd's). Only after that expiry can the engine place the units elsewhere, so a unit
 * never runs on two machines.
 */

export interface LeaseTiming {
  /** The lease's TTL as etcd granted it, in ms. */
  ttlMs: number;
  /** Renew this often while all is well. */
  renewEveryMs: number;
  /** After a failed renewal, try again this soon. */
  retryEveryMs: number;
  /** Each renewal must be answered within this. */
  renewTimeoutMs: number;
  /** Stop the units this long before the lease could expire. */
  marginMs: number;
}

/** The timing for a TTL: renew every TTL/3; the margin is a quarter of the TTL, within [0.5 s, 5 s]. */
export function leaseTiming(ttlMs: number): LeaseTiming {
  const marginMs = Math.min(5000, Math.max(500, Math.round(ttlMs / 4)));
  const renewEveryMs = Math.max(100, Math.round(ttlMs / 3));
  return {
    ttlMs,
    renewEveryMs,
    retryEveryMs: Math.max(50, Math.min(500, Math.round(ttlMs / 12))),
    renewTimeoutMs: Math.max(100, Math.min(Math.round(renewEveryMs / 2), ttlMs - marginMs - renewEveryMs)),
    marginMs,
  };
}

/** When the units must be stopped if no renewal succeeds meanwhile. */
export function fenceDeadline(lastRenewalSentAt: number, timing: LeaseTiming): number {
  return lastRenewalSentAt + timing.ttlMs - timing.marginMs;
}

/** True once the deadline has passed: the agent must stop its units now. */
export function mustFence(now: number, lastRenewalSentAt: number, timing: LeaseTiming): boolean {
  return now >= fenceDeadline(lastRenewalSentAt, timing);
}
