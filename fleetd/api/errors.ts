/**
 * The API's errors: fleet's error body `{"error":{"code":N,"message":"..."}}` and the mapping from
 * our typed errors to HTTP status codes. Pure. No raw etcd error or stack trace reaches a client:
 * anything that is not a FleetError becomes a 500 with a fixed message (the server logs it).
 */
import { FleetError } from '../../lib/errors.js';
import { EtcdClientError } from '../../lib/etcd-errors.js';
import { RegistryError } from '../../lib/registry/errors.js';

/** A refusal the API decided on itself, with its status code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  error: { code: number; message: string };
}

export function errorBody(status: number, message: string): ErrorBody {
  return { error: { code: status, message } };
}

export interface MappedError {
  status: number;
  message: string;
  headers: Readonly<Record<string, string>>;
  /** The error came from etcd (counted in the metrics). */
  etcd: boolean;
  /** Not a refusal but a fault of ours: the server logs it with its cause. */
  internal: boolean;
}

const REGISTRY_STATUS: Record<string, number> = {
  UNIT_NOT_FOUND: 404,
  MACHINE_NOT_FOUND: 404,
  UNIT_EXISTS: 409,
  CONFLICT: 409,
  INVALID_INPUT: 400,
  SCHEMA_VERSION: 503,
  STALE_FENCE: 409,
  NOT_LEADER: 409,
};

/** The status and message a client gets for anything thrown while serving a request. */
export function mapError(e: unknown): MappedError {
  if (e instanceof ApiError) {
    return { status: e.status, message: e.message, headers: e.headers, etcd: false, internal: false };
  }
  if (e instanceof RegistryError) {
    const status = REGISTRY_STATUS[e.code] ?? 500;
    return { status, message: e.message, headers: {}, etcd: false, internal: status >= 500 };
  }
  if (e instanceof EtcdClientError) {
    // etcd is down, slow, or refuses fleetd: the request may work later (Retry-After), and the
    // message names the endpoints and what to check, never etcd's raw text.
    return {
      status: 503,
      message: `the cluster store is unavailable: ${e.message}`,
      headers: e.retryable ? { 'Retry-After': '1' } : {},
      etcd: true,
      internal: false,
    };
  }
  if (e instanceof FleetError) {
    return { status: 500, message: e.message, headers: {}, etcd: false, internal: true };
  }
  return {
    status: 500,
    message: 'internal error in fleetd; see its log',
    headers: {},
    etcd: false,
    internal: true,
  };
}
