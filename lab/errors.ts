/**
 * Typed errors of fleet-lab. Every message names the cluster and/or machine and says what to do.
 */
export class LabError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LabError';
  }
}

/** The host cannot run a lab: not root, or a tool or kernel feature is missing. */
export class LabPrerequisiteError extends LabError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LabPrerequisiteError';
  }
}

/** The cluster's state on disk does not allow the operation (exists already, unknown, unreadable). */
export class LabStateError extends LabError {
  constructor(
    readonly cluster: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LabStateError';
  }
}

/** One machine of a cluster failed (boot, command, unknown name). */
export class MachineError extends LabError {
  constructor(
    readonly cluster: string,
    readonly machine: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MachineError';
  }
}
