/**
 * The base typed error of fleet-ts. Every error that crosses a module boundary is a FleetError
 * (or a subclass): it has a stable machine-readable `code`, a message a person can act on (it
 * names the unit/machine/key/option/endpoint and what to do), the underlying `cause`, and says
 * whether trying the same thing again later may succeed (`retryable`).
 */

export interface FleetErrorOptions {
  /** The lower-level error this one explains (kept for logs; never shown raw to a user). */
  cause?: unknown;
  /** True when the same operation may succeed if tried again later (timeouts, unreachable etcd). */
  retryable?: boolean;
}

export class FleetError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly retryable: boolean;

  constructor(code: Code, message: string, options: FleetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export function isFleetError(e: unknown): e is FleetError {
  return e instanceof FleetError;
}

/** True only for a FleetError that says so; anything unknown is not retried blindly. */
export function isRetryable(e: unknown): boolean {
  return e instanceof FleetError && e.retryable;
}

/** A one-line message from anything thrown (for logs and for wrapping unknown errors). */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}
