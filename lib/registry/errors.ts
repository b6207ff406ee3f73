/**
 * The registry's typed errors. Each names the unit/machine/key concerned and what to do. Raw
 * etcd errors are converted at the edge (lib/etcd-errors) and never escape.
 */
import { FleetError } from '../errors.js';

export type RegistryErrorCode =
  /** A create-only submit found the unit already there. */
  | 'UNIT_EXISTS'
  /** The unit is not in the registry. */
  | 'UNIT_NOT_FOUND'
  /** No machine record of that ID (the machine is not up, or its lease expired). */
  | 'MACHINE_NOT_FOUND'
  /** The value changed between read and write (compare-and-swap lost). Retryable. */
  | 'CONFLICT'
  /** An engine write carried a leadership fence that is no longer current. */
  | 'STALE_FENCE'
  /** The engine asked for a fence without being the leader. */
  | 'NOT_LEADER'
  /** The prefix holds a schema this code does not understand. */
  | 'SCHEMA_VERSION'
  /** A record or name handed to the registry is not valid; nothing was written. */
  | 'INVALID_INPUT';

export class RegistryError extends FleetError<RegistryErrorCode> {
  /** The etcd key concerned, when there is one. */
  readonly key: string | undefined;

  constructor(
    code: RegistryErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; key?: string } = {},
  ) {
    super(code, message, options);
    this.key = options.key;
  }
}

export class UnitExistsError extends RegistryError {
  constructor(
    readonly unit: string,
    key: string,
  ) {
    super(
      'UNIT_EXISTS',
      `unit ${unit} already exists (${key}); destroy it first, or replace it to change its file`,
      { key },
    );
  }
}

export class UnitNotFoundError extends RegistryError {
  constructor(
    readonly unit: string,
    key: string,
  ) {
    super('UNIT_NOT_FOUND', `unit ${unit} does not exist (${key}); submit it first`, { key });
  }
}

export class MachineNotFoundError extends RegistryError {
  constructor(
    readonly machineId: string,
    key: string,
  ) {
    super(
      'MACHINE_NOT_FOUND',
      `machine ${machineId} is not in the cluster (${key}); list the machines to find its ID, or wait for its agent to start`,
      { key },
    );
  }
}

export class ConflictError extends RegistryError {
  constructor(what: string, key: string) {
    super('CONFLICT', `${what} changed while it was being written (${key}); read it again and retry`, {
      key,
      retryable: true,
    });
  }
}

/** What the engine shows to prove it still leads: its election key and that key's create revision. */
export interface Fence {
  key: string;
  createRevision: string;
}

export class StaleFenceError extends RegistryError {
  constructor(readonly fence: Fence) {
    super(
      'STALE_FENCE',
      `this engine is no longer the leader: its election key ${fence.key} (created at revision ${fence.createRevision}) is gone or was replaced; nothing was written; stop applying and campaign again`,
      { key: fence.key },
    );
  }
}

export class NotLeaderError extends RegistryError {
  constructor(key: string, leaderKey: string | undefined) {
    super(
      'NOT_LEADER',
      leaderKey === undefined
        ? `election key ${key} does not exist (its lease expired or was revoked); campaign again`
        : `election key ${key} is not the leader (${leaderKey} is); wait to be elected before writing the schedule`,
      { key },
    );
  }
}

export class SchemaVersionError extends RegistryError {
  constructor(message: string, key: string) {
    super('SCHEMA_VERSION', message, { key });
  }
}

export class InvalidInputError extends RegistryError {
  constructor(message: string, key?: string) {
    super('INVALID_INPUT', message, key === undefined ? {} : { key });
  }
}
