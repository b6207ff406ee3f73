/**
 * THE etcd key layout of fleet-ts. Every other module speaks in records; only lib/registry knows
 * these names. Pure: no I/O.
 *
 *   <prefix>schema                        {"version":1}          fleetctl/fleetd, once
 *   <prefix>units/<unit>                  UnitRecord             fleetctl, automation, the API
 *   <prefix>schedule/<machine>/<unit>     AssignmentRecord       the engine leader only (fenced)
 *   <prefix>machines/<machine>            MachineRecord          that machine's agent (its lease)
 *   <prefix>states/<machine>/<unit>       UnitStateRecord        that machine's agent (its lease)
 *   <prefix>reasons/<unit>                PlacementReasonsRecord the engine leader only (fenced)
 *   <prefix>election/engine/<lease-id>    engine candidates      etcd3's election recipe
 *
 * docs/etcd-schema.md is the public description of the same layout; change both together.
 */

export const DEFAULT_PREFIX = '/fleet/';

/** The schema this code reads and writes. */
export const SCHEMA_VERSION = 1;

/** The etcd3 election name under `<prefix>election/`. */
export const ENGINE_ELECTION = 'engine';

export type KeyKind = 'schema' | 'unit' | 'assignment' | 'machine' | 'state' | 'reasons';

/** What a key under the prefix means, or why it is not one of ours. */
export type ParsedKey =
  | { kind: 'schema' }
  | { kind: 'unit'; unit: string }
  | { kind: 'assignment'; machineId: string; unit: string }
  | { kind: 'machine'; machineId: string }
  | { kind: 'state'; machineId: string; unit: string }
  | { kind: 'reasons'; unit: string }
  | { kind: 'unknown'; reason: string };

const MAX_NAME = 255;

/**
 * Why a unit name cannot be a key segment, or undefined when it can. This only guards the key
 * layout (one segment, printable); units/ owns the full systemd naming rules.
 */
export function unitNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a unit name cannot be empty';
  if (name.length > MAX_NAME) return `a unit name has at most ${MAX_NAME} characters`;
  if (name.includes('/')) return 'a unit name cannot contain "/"';
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(name)) return 'a unit name cannot contain spaces or control characters';
  if (!/\.[A-Za-z]+$/.test(name)) return 'a unit name ends with a unit type, e.g. ".service"';
  return undefined;
}

/**
 * The pieces as one flat string. `a + b` makes a rope (a node per `+`) that V8 flattens into one
 * more string the first time it is hashed: for a key or ID kept in a cache or a Map for every unit,
 * built flat it takes ~1/3 of the memory, and less work for the garbage collector.
 */
function flat(...pieces: string[]): string {
  return pieces.join('');
}

/** The ID of a record keyed by machine and unit (an assignment, a unit state): `<machine>/<unit>`. */
export function machineUnitId(machineId: string, unit: string): string {
  return flat(machineId, '/', unit);
}

/**
 * The name under which the engine records why a key under `<prefix>units/` is unusable: the unit
 * name itself, or, for a key that is not a unit name (`units/bad name`, `units/a/b`), its rest
 * percent-encoded with `.invalid` appended (`bad%20name.invalid`), so it is one key segment.
 */
export function invalidUnitKeyName(rest: string): string {
  if (unitNameProblem(rest) === undefined) return rest;
  const encoded = encodeURIComponent(rest).replace(/\./g, '%2E');
  return `${encoded.slice(0, MAX_NAME - '.invalid'.length)}.invalid`;
}

/** Why a machine ID cannot be a key segment, or undefined when it can. */
export function machineIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'a machine ID cannot be empty';
  if (id.length > MAX_NAME) return `a machine ID has at most ${MAX_NAME} characters`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(id)) {
    return 'a machine ID is letters, digits, ".", "_", ":" and "-", starting with a letter or digit';
  }
  return undefined;
}

/** Why a prefix is not usable, or undefined. */
export function prefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith('/')) return 'the key prefix starts with "/", e.g. "/fleet/"';
  if (!prefix.endsWith('/')) return 'the key prefix ends with "/", e.g. "/fleet/"';
  if (prefix.includes('//')) return 'the key prefix cannot contain "//"';
  return undefined;
}

/** The key names under one prefix. */
export class Keys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}

  schema(): string {
    return `${this.prefix}schema`;
  }

  unitsPrefix(): string {
    return `${this.prefix}units/`;
  }

  unit(name: string): string {
    return `${this.unitsPrefix()}${name}`;
  }

  /** All assignments, or one machine's (an agent reads and watches only its own). */
  schedulePrefix(machineId?: string): string {
    return machineId === undefined ? `${this.prefix}schedule/` : `${this.prefix}schedule/${machineId}/`;
  }

  assignment(machineId: string, unit: string): string {
    return flat(this.prefix, 'schedule/', machineId, '/', unit);
  }

  machinesPrefix(): string {
    return `${this.prefix}machines/`;
  }

  machine(machineId: string): string {
    return `${this.machinesPrefix()}${machineId}`;
  }

  statesPrefix(machineId?: string): string {
    return machineId === undefined ? `${this.prefix}states/` : `${this.prefix}states/${machineId}/`;
  }

  state(machineId: string, unit: string): string {
    return flat(this.prefix, 'states/', machineId, '/', unit);
  }

  /** Why units are not placed (the engine's reasons, for `fleetctl`). */
  reasonsPrefix(): string {
    return `${this.prefix}reasons/`;
  }

  reasons(unit: string): string {
    return `${this.reasonsPrefix()}${unit}`;
  }

  /** The namespace etcd3's election recipe is given; candidates' keys live below it. */
  electionNamespace(): string {
    return this.prefix;
  }

  /** Where the engine candidates' keys live: `<prefix>election/engine/`. */
  electionPrefix(): string {
    return `${this.prefix}election/${ENGINE_ELECTION}/`;
  }

  /** Classifies a full key. Pure; never throws. */
  parse(key: string): ParsedKey {
    if (!key.startsWith(this.prefix)) return { kind: 'unknown', reason: `not under ${this.prefix}` };
    const rest = key.slice(this.prefix.length);
    const parts = rest.split('/');
    const [top, a, b] = parts;
    if (rest === 'schema') return { kind: 'schema' };
    const bad = (reason: string): ParsedKey => ({ kind: 'unknown', reason });
    switch (top) {
      case 'units': {
        if (parts.length !== 2 || a === undefined) return bad('expected units/<unit>');
        const p = unitNameProblem(a);
        return p ? bad(p) : { kind: 'unit', unit: a };
      }
      case 'reasons': {
        if (parts.length !== 2 || a === undefined) return bad('expected reasons/<unit>');
        const p = unitNameProblem(a);
        return p ? bad(p) : { kind: 'reasons', unit: a };
      }
      case 'machines': {
        if (parts.length !== 2 || a === undefined) return bad('expected machines/<machine>');
        const p = machineIdProblem(a);
        return p ? bad(p) : { kind: 'machine', machineId: a };
      }
      case 'schedule':
      case 'states': {
        if (parts.length !== 3 || a === undefined || b === undefined) {
          return bad(`expected ${top}/<machine>/<unit>`);
        }
        const p = machineIdProblem(a) ?? unitNameProblem(b);
        if (p) return bad(p);
        return top === 'schedule'
          ? { kind: 'assignment', machineId: a, unit: b }
          : { kind: 'state', machineId: a, unit: b };
      }
      default:
        return bad(`unknown key kind "${top ?? ''}"`);
    }
  }
}

/** The exclusive end of the range of keys starting with prefix (etcd's prefix range_end). */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i]!;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
