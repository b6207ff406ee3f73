/**
 * How the etcd client retries, fails over and backs off (etcd3's `faultHandling`, built on
 * cockatiel policies).
 *
 * - Per endpoint: a circuit breaker. After 3 consecutive recoverable failures the endpoint is
 *   skipped for `halfOpenAfterMs` (then one trial call). Errors are tagged with their endpoint
 *   so messages can name it.
 * - Per call: a retry that moves to another endpoint (etcd3 picks a new host on each attempt),
 *   with a short exponential backoff. Which failures are retried is `shouldRetry`: "too many
 *   requests" and an endpoint we could not connect to (the request was never sent) always; a
 *   dropped connection or a missed deadline only for read-only calls, because such a write may
 *   have been applied and sending it again is the caller's decision (it knows whether the write
 *   is idempotent; the error it gets says `retryable`).
 * - Watch streams: reconnect with an exponential backoff capped at `watchMaxDelayMs`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  retry,
  type IBackoff,
  type IDefaultPolicyContext,
  type IPolicy,
} from 'cockatiel';
import {
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  isRecoverableError,
  type CallContext,
  type IOptions,
} from 'etcd3';
import { tagEndpoint } from './etcd-errors.js';

export interface EtcdPolicyOptions {
  /** How many times a failed call is retried (on another endpoint when there is one). */
  retries: number;
  /** First retry delay; doubles (with jitter) up to maxRetryDelayMs. */
  initialRetryDelayMs: number;
  maxRetryDelayMs: number;
  /** How long a failing endpoint is skipped before one trial call. */
  halfOpenAfterMs: number;
  /** Consecutive failures that open an endpoint's circuit. */
  failuresToOpen: number;
  /** Watch stream reconnect backoff. */
  watchInitialDelayMs: number;
  watchMaxDelayMs: number;
}

/** Defaults scaled to the number of endpoints: enough retries to try each one. */
export function defaultPolicyOptions(endpointCount: number): EtcdPolicyOptions {
  return {
    retries: Math.max(2, endpointCount),
    initialRetryDelayMs: 50,
    maxRetryDelayMs: 1000,
    halfOpenAfterMs: 1000,
    failuresToOpen: 3,
    watchInitialDelayMs: 100,
    watchMaxDelayMs: 2000,
  };
}

/** gRPC methods that only read: safe to send again after a missed deadline. */
const READ_ONLY_CALLS = new Set([
  'KV.range',
  'Lease.leaseTimeToLive',
  'Lease.leaseLeases',
  'Maintenance.status',
  'Maintenance.alarm',
  'Cluster.memberList',
  'Auth.userGet',
  'Auth.userList',
  'Auth.roleGet',
  'Auth.roleList',
]);

export interface CallInfo {
  service?: string;
  method?: string;
}

/** The retry decision, pure: the error and (when known) which call failed. */
export function shouldRetry(err: Error, call: CallInfo | undefined): boolean {
  // etcd refused the request before doing anything ("too many requests"): always safe.
  if (err instanceof GRPCResourceExhastedError) return true;
  const readOnly = call?.service !== undefined && READ_ONLY_CALLS.has(`${call.service}.${call.method}`);
  if (err instanceof GRPCUnavailableError) return readOnly || NOT_SENT.test(err.message);
  if (err instanceof GRPCDeadlineExceededError) return readOnly;
  return false;
}

/** gRPC's words for "no connection, so the request was never sent". */
const NOT_SENT =
  /no connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|name resolution failed|failed to connect/i;

/*
 * etcd3 decides retries in its global policy without telling it which call failed. The call's
 * name is known in `defaultCallOptions` (called for each attempt, inside the policy's async
 * context), so it is recorded there in an AsyncLocalStorage slot opened by the global policy.
 */
const currentCall = new AsyncLocalStorage<CallInfo>();

/** To be called from defaultCallOptions with etcd3's call context. */
export function noteCall(ctx: CallContext): void {
  const slot = currentCall.getStore();
  if (slot && !ctx.isStream) {
    slot.service = ctx.service;
    slot.method = ctx.method;
  }
}

class CallScopedPolicy implements IPolicy<IDefaultPolicyContext> {
  declare readonly _altReturn: never;
  readonly onSuccess;
  readonly onFailure;
  constructor(private readonly inner: IPolicy<IDefaultPolicyContext>) {
    this.onSuccess = inner.onSuccess;
    this.onFailure = inner.onFailure;
  }
  execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return currentCall.run({}, () => this.inner.execute(fn, signal));
  }
}

class EndpointPolicy implements IPolicy<IDefaultPolicyContext> {
  declare readonly _altReturn: never;
  readonly onSuccess;
  readonly onFailure;
  constructor(
    private readonly endpoint: string,
    private readonly inner: IPolicy<IDefaultPolicyContext>,
  ) {
    this.onSuccess = inner.onSuccess;
    this.onFailure = inner.onFailure;
  }
  async execute<T>(
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    try {
      return await this.inner.execute(fn, signal);
    } catch (e) {
      tagEndpoint(e, this.endpoint);
      throw e;
    }
  }
}

/** etcd3's `faultHandling` option. */
export function faultHandling(opts: EtcdPolicyOptions): NonNullable<IOptions['faultHandling']> {
  const global = retry(
    handleWhen((err) => shouldRetry(err, currentCall.getStore())),
    {
      maxAttempts: opts.retries,
      backoff: new ExponentialBackoff({
        initialDelay: opts.initialRetryDelayMs,
        maxDelay: opts.maxRetryDelayMs,
      }),
    },
  );
  return {
    global: new CallScopedPolicy(global as unknown as IPolicy<IDefaultPolicyContext>),
    host: (endpoint: string) =>
      new EndpointPolicy(
        endpoint,
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: opts.halfOpenAfterMs,
          breaker: new ConsecutiveBreaker(opts.failuresToOpen),
        }) as unknown as IPolicy<IDefaultPolicyContext>,
      ),
    // etcd3 calls `.next()` on this to start each reconnect sequence: it wants the factory.
    watchBackoff: new ExponentialBackoff({
      initialDelay: opts.watchInitialDelayMs,
      maxDelay: opts.watchMaxDelayMs,
    }) as unknown as IBackoff<unknown>,
  };
}
