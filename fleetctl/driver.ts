/**
 * The Driver: everything fleetctl asks of a cluster, behind one interface with two implementations
 * (as fleet's client.API): `etcd` talks to etcd through lib/registry, `api` talks to fleetd's
 * fleet-compatible HTTP API v1. Commands only speak in the records below.
 *
 * openDriver() loads the chosen implementation lazily with `await import()`, so the API driver
 * (the default) never loads the etcd client, and `--help` loads neither.
 */
import { FleetError } from '../lib/errors.js';
import type { UnitOutputRequest, UnitOutputResult } from './unit-output.js';

export type DesiredState = 'inactive' | 'loaded' | 'launched';
export const DESIRED_STATES: readonly DesiredState[] = ['inactive', 'loaded', 'launched'];

export interface UnitOptionRecord {
  section: string;
  name: string;
  value: string;
}

/** A unit as fleetctl sees it: its file, what is wanted, and what the engine has done with it. */
export interface UnitInfo {
  name: string;
  /** The unit file text (over the API: rebuilt from the options in canonical form). */
  body: string;
  options: UnitOptionRecord[];
  /** The content hash (units/canonical). */
  hash: string;
  desiredState: DesiredState;
  /**
   * What the engine has placed: "inactive" when not placed, else the state the engine asked the
   * machine for ("loaded"/"launched"). For a global unit, the state on any machine.
   */
  currentState: DesiredState;
  /** The machine it is placed on (undefined when not placed; the first one for a global unit). */
  machineId: string | undefined;
  /** Every machine it is placed on (several for a global unit). */
  machineIds: string[];
  /** [X-Fleet] Global=true: placed on every fitting machine; commands never block on it (as fleet). */
  global: boolean;
  /** Who submitted it ("fleetctl", "api", a directory's source id...); undefined when nobody said. */
  source?: string | undefined;
  /**
   * Set when the unit's key holds a value fleet cannot use (recorded by the engine): why. Such a
   * unit has no file, options or hash; its state shows as "invalid".
   */
  invalid?: string;
}

/** The row of a unit whose key holds an invalid value (as the engine recorded it). */
export function invalidUnitInfo(name: string, reason: string): UnitInfo {
  return {
    name,
    body: '',
    options: [],
    hash: '',
    desiredState: 'inactive',
    currentState: 'inactive',
    machineId: undefined,
    machineIds: [],
    global: false,
    invalid: reason,
  };
}

/** A unit to create with its desired state and source (default: the driver's, "fleetctl" or "api"). */
export interface NewUnitInfo {
  name: string;
  body: string;
  desiredState: DesiredState;
  source?: string;
}

export interface DesiredStateChange {
  name: string;
  state: DesiredState;
}

/** Throws DriverError UNIT_NOT_FOUND naming `missing` (units gone before a batch write reached them). */
export function refuseMissing(missing: readonly string[], what: string): void {
  if (missing.length === 0) return;
  throw new DriverError(
    'UNIT_NOT_FOUND',
    `cannot ${what} unit${missing.length === 1 ? '' : 's'} ${missing.join(', ')}: not in the cluster (destroyed meanwhile?); the other units were changed`,
  );
}

/** What systemd on one machine says about one unit (written by that machine's agent). */
export interface UnitStateInfo {
  name: string;
  machineId: string;
  hash: string;
  loadState: string;
  activeState: string;
  subState: string;
}

export interface MachineInfo {
  id: string;
  primaryIp: string;
  metadata: Record<string, string>;
  version?: string;
  draining?: boolean;
}

/** Where a unit is, or why it is not placed (the engine's reasons when the driver can get them). */
export interface WhyInfo {
  name: string;
  desiredState: DesiredState;
  placed: boolean;
  machineIds: string[];
  reasons: string[];
  /** ISO-8601: since when the engine has given these reasons (when known). */
  since?: string;
}

export interface Driver {
  readonly kind: DriverKind;
  /** The endpoint(s), for messages. */
  readonly endpoint: string;
  listUnits(): Promise<UnitInfo[]>;
  getUnit(name: string): Promise<UnitInfo | undefined>;
  /**
   * The named units that exist, in a number of round trips that does not grow with the names
   * (etcd: batched gets; API: a listing when many, parallel GETs when few). Order not kept.
   */
  getUnits(names: readonly string[]): Promise<UnitInfo[]>;
  /**
   * Create-only for many units at once (batched where the driver can), each already in its desired
   * state: units that exist are returned in `existing`, untouched.
   */
  submitUnits(units: readonly NewUnitInfo[]): Promise<{ created: string[]; existing: string[] }>;
  /**
   * Replaces the file of an existing unit, keeping its desired state (and its source), unless
   * `opts` sets them.
   */
  replaceUnit(
    name: string,
    body: string,
    opts?: { desiredState?: DesiredState; source?: string },
  ): Promise<void>;
  setDesiredState(name: string, state: DesiredState): Promise<void>;
  /**
   * Many desired states at once (etcd: transactions; API: PUTs, several in flight). Throws
   * DriverError UNIT_NOT_FOUND naming the units that are not in the cluster (the others are set).
   */
  setDesiredStates(changes: readonly DesiredStateChange[]): Promise<void>;
  /** Throws DriverError UNIT_NOT_FOUND when absent. */
  destroyUnit(name: string): Promise<void>;
  /** Many at once (etcd: transactions; API: DELETEs, several in flight); absent ones in `missing`. */
  destroyUnits(names: readonly string[]): Promise<{ destroyed: string[]; missing: string[] }>;
  /** Unit states of every unit, or of one unit. */
  listUnitStates(unit?: string): Promise<UnitStateInfo[]>;
  listMachines(): Promise<MachineInfo[]>;
  /**
   * These units (those that exist) and their unit states, read as cheaply as the driver can: what a
   * blocking command polls.
   */
  snapshot(names: readonly string[]): Promise<{ units: UnitInfo[]; states: UnitStateInfo[] }>;
  /** Throws DriverError UNIT_NOT_FOUND when absent. */
  why(name: string): Promise<WhyInfo>;
  /** A draining machine takes no new units. Throws DriverError MACHINE_NOT_FOUND when absent. */
  setDraining(machineId: string, draining: boolean): Promise<void>;
  /**
   * A unit's `systemctl status` or journal, from the fleetd of the machine it runs on, each chunk
   * handed to `sink` as it arrives (unit-output.ts).
   */
  unitOutput(
    name: string,
    request: UnitOutputRequest,
    sink: (chunk: Buffer) => void,
  ): Promise<UnitOutputResult>;
  close(): Promise<void>;
}

export type DriverKind = 'api' | 'etcd';

export interface DriverOptions {
  kind: DriverKind;
  /** Comma-separated endpoints as given (--endpoint). */
  endpoint: string;
  etcdKeyPrefix: string;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** Per request (--request-timeout, seconds in the flag). */
  requestTimeoutMs: number;
  /**
   * etcd's own TLS files (--etcd-cafile...), when they differ from the fleet API's; by default
   * caFile/certFile/keyFile serve both (fleet's flags).
   */
  etcdCaFile?: string | undefined;
  etcdCertFile?: string | undefined;
  etcdKeyFile?: string | undefined;
}

export type DriverErrorCode =
  /** The endpoint did not answer (refused, no socket, DNS, timeout). */
  | 'UNREACHABLE'
  | 'UNIT_EXISTS'
  | 'UNIT_NOT_FOUND'
  | 'MACHINE_NOT_FOUND'
  /** The request was refused as invalid (bad name, bad file, bad state). */
  | 'INVALID'
  /** A flag's value cannot work (a malformed --endpoint, TLS flags without https): exit 2. */
  | 'USAGE'
  /** The configuration cannot be used (an unreadable TLS file). */
  | 'CONFIG'
  /** The server failed or answered something that is not fleet's API. */
  | 'SERVER';

export class DriverError extends FleetError<DriverErrorCode> {
  constructor(
    code: DriverErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(code, message, options);
  }
}

/** Picks the driver like fleet: an explicit --driver wins; else an etcd-looking endpoint means etcd. */
export function chooseDriver(driver: string | undefined, endpoint: string | undefined): DriverKind {
  if (driver !== undefined && driver !== '') return driver.toLowerCase() === 'etcd' ? 'etcd' : 'api';
  if (endpoint) {
    const first = endpoint.split(',')[0]!.trim();
    const m = /^https?:\/\/[^/]*:(\d+)\/?$/.exec(first);
    if (m && (m[1] === '2379' || m[1] === '4001')) return 'etcd';
  }
  return 'api';
}

export const DEFAULT_API_ENDPOINT = 'unix:///var/run/fleet.sock';
export const DEFAULT_ETCD_ENDPOINT = 'http://127.0.0.1:2379';

/** Loads and builds the chosen driver (the other one's modules are never loaded). */
export async function openDriver(opts: DriverOptions): Promise<Driver> {
  if (opts.kind === 'etcd') {
    const { EtcdDriver } = await import('./drivers/etcd.js');
    return EtcdDriver.open(opts);
  }
  const { ApiDriver } = await import('./drivers/api.js');
  return ApiDriver.open(opts);
}
