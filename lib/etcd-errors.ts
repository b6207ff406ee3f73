/**
 * Turning what the etcd3 client throws into typed FleetErrors, at the edge: no raw etcd or gRPC
 * error reaches a user. Pure apart from a WeakMap that remembers which endpoint an error came
 * from (filled in by the per-endpoint policy in etcd-policy.ts).
 */
import { isBrokenCircuitError } from 'cockatiel';
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
  isRecoverableError,
} from 'etcd3';
import { FleetError, errorMessage } from './errors.js';

export type EtcdErrorCode =
  /** No endpoint answered (refused, unreachable, all circuits open). Retryable. */
  | 'ETCD_UNAVAILABLE'
  /** The request did not complete within etcd_request_timeout. Retryable; it may have been applied. */
  | 'ETCD_DEADLINE'
  /** TLS handshake failed (wrong CA, wrong client certificate, http vs https). */
  | 'ETCD_TLS'
  /** A configured CA/cert/key file cannot be read or is not PEM. */
  | 'ETCD_TLS_FILE'
  /** etcd refused the username/password. */
  | 'ETCD_AUTH_FAILED'
  /** etcd has auth enabled and no username/password was configured. */
  | 'ETCD_AUTH_REQUIRED'
  /** The user lacks a role allowing this request. */
  | 'ETCD_PERMISSION_DENIED'
  /** The client was closed (shutdown in progress). */
  | 'ETCD_CLOSED'
  /** Anything else etcd answered with. Retryable when etcd3 considers it recoverable. */
  | 'ETCD_REQUEST_FAILED';

export class EtcdClientError extends FleetError<EtcdErrorCode> {
  /** The endpoint the failing request went to, when known (else undefined). */
  readonly endpoint: string | undefined;

  constructor(
    code: EtcdErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; endpoint?: string } = {},
  ) {
    super(code, message, options);
    this.endpoint = options.endpoint;
  }
}

const endpointTags = new WeakMap<object, string>();

/** Remembers that `err` came from `endpoint` (first tag wins: the innermost knows best). */
export function tagEndpoint(err: unknown, endpoint: string): void {
  if (typeof err === 'object' && err !== null && !endpointTags.has(err)) endpointTags.set(err, endpoint);
}

export function endpointOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? endpointTags.get(err) : undefined;
}

export interface EtcdErrorContext {
  /** All configured endpoints, named when the failing one is not known. */
  endpoints: readonly string[];
  /** What was being done, e.g. "read /fleet/units/" (optional). */
  operation?: string;
  /** etcd_request_timeout in ms, to say how long we waited. */
  requestTimeoutMs?: number;
  username?: string;
}

const TLS_HINT = /certificate|ssl|tls|handshake|self[- ]signed|unable to verify|wrong version number/i;

/**
 * Classifies anything the etcd3 client threw. An EtcdClientError passes through unchanged;
 * other FleetErrors too.
 */
export function etcdErrorFrom(err: unknown, ctx: EtcdErrorContext): FleetError {
  if (err instanceof FleetError) return err;
  const tagged = endpointOf(err);
  const where = tagged ?? (ctx.endpoints.length === 1 ? ctx.endpoints[0]! : ctx.endpoints.join(', '));
  const at = tagged || ctx.endpoints.length === 1 ? `etcd at ${where}` : `etcd (endpoints ${where})`;
  const op = ctx.operation ? ` during ${ctx.operation}` : '';
  const detail = errorMessage(err);
  const make = (code: EtcdErrorCode, message: string, retryable: boolean) =>
    new EtcdClientError(code, message, { cause: err, retryable, ...(tagged ? { endpoint: tagged } : {}) });

  if (err instanceof ClientClosedError) {
    return make(
      'ETCD_CLOSED',
      `the etcd client was already closed${op}; this is a shutdown in progress`,
      false,
    );
  }
  if (err instanceof EtcdAuthenticationFailedError) {
    const who = ctx.username ? `user '${ctx.username}'` : 'the configured user';
    return make(
      'ETCD_AUTH_FAILED',
      `${at} rejected ${who}: wrong etcd_username or etcd_password${op}; fix them in fleet.conf, FLEET_ETCD_USERNAME/FLEET_ETCD_PASSWORD or the flags`,
      false,
    );
  }
  if (/user name is empty|user name not found/i.test(detail) || err instanceof GRPCUnauthenticatedError) {
    return make(
      'ETCD_AUTH_REQUIRED',
      `${at} requires authentication${op} (${oneLine(detail)}); set etcd_username and etcd_password`,
      false,
    );
  }
  if (err instanceof EtcdPermissionDeniedError || err instanceof EtcdInvalidAuthTokenError) {
    return make(
      'ETCD_PERMISSION_DENIED',
      `${at} denied the request${op} (${oneLine(detail)}); grant the etcd user a role with read/write access to fleet's key prefix`,
      false,
    );
  }
  if (err instanceof GRPCDeadlineExceededError) {
    const within = ctx.requestTimeoutMs !== undefined ? ` within ${ctx.requestTimeoutMs} ms` : '';
    return make(
      'ETCD_DEADLINE',
      `${at} did not answer${op}${within} (etcd_request_timeout); it may be overloaded or unreachable, and a write may or may not have been applied`,
      true,
    );
  }
  if (TLS_HINT.test(detail)) {
    return make(
      'ETCD_TLS',
      `TLS with ${at} failed${op}: ${oneLine(detail)}; check etcd_cafile (the CA that signed etcd's certificate), etcd_certfile/etcd_keyfile, and that etcd_servers use https://`,
      false,
    );
  }
  if (err instanceof GRPCUnavailableError || isBrokenCircuitError(err)) {
    // Calls are retried on every endpoint before failing: name them all, and the last one tried.
    const target =
      ctx.endpoints.length > 1
        ? `etcd (endpoints ${ctx.endpoints.join(', ')}${tagged ? `; last tried ${tagged}` : ''})`
        : at;
    return make(
      'ETCD_UNAVAILABLE',
      `cannot reach ${target}${op}: ${oneLine(detail)}; check that etcd is running and etcd_servers is right`,
      true,
    );
  }
  if (err instanceof GRPCResourceExhastedError) {
    return make('ETCD_REQUEST_FAILED', `${at} is overloaded${op}: ${oneLine(detail)}; retry later`, true);
  }
  const recoverable = err instanceof Error && isRecoverableError(err);
  return make('ETCD_REQUEST_FAILED', `${at} failed the request${op}: ${oneLine(detail)}`, recoverable);
}

/** gRPC's message on one line, without its empty "Resolution note:" tail. */
function oneLine(s: string): string {
  return s
    .replace(/\s+/g, ' ')
    .replace(/\s*Resolution note:\s*$/, '')
    .replace(/\.$/, '')
    .trim();
}
