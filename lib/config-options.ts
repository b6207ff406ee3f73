/**
 * Every configuration option: fleet's names, meanings and defaults (fleetd/fleetd.go and
 * Documentation/deployment-and-configuration.md in coreos/fleet), plus the few fleet-ts adds.
 * Values are parsed by the pure functions of config-values.ts; this table only says which.
 */
import {
  parseAbsolutePath,
  parseBool,
  parseEndpoints,
  parseIpOrEmpty,
  parseKeyPrefix,
  parseLeaseTtl,
  parseNonNegativeInt,
  parsePathOrEmpty,
  parseSecondsOrDuration,
  parseTextOrEmpty,
  type Parsed,
} from './config-values.js';
import { METADATA_ALLOWED, parseMetadata } from './metadata.js';

/** The configuration fleetd and fleetctl run with. Times carry their unit in the name. */
export interface FleetConfig {
  etcdServers: string[];
  /** Always ends with "/". */
  etcdKeyPrefix: string;
  etcdCaFile: string | undefined;
  etcdCertFile: string | undefined;
  etcdKeyFile: string | undefined;
  etcdUsername: string | undefined;
  etcdPassword: string | undefined;
  etcdRequestTimeoutMs: number;
  publicIp: string | undefined;
  metadata: Record<string, string>;
  /** The agent's lease TTL: its machine and unit states vanish this long after it stops renewing. */
  agentTtlSeconds: number;
  /** The engine's periodic full reconcile (a safety net; it reacts to watches at once). */
  engineReconcileIntervalMs: number;
  /** The engine leader's lease TTL: a dead leader is replaced within it. */
  engineLeaseTtlSeconds: number;
  unitsDirectory: string;
  disableEngine: boolean;
  verbosity: number;
  machineIdFile: string;
}

/** The shortest lease etcd grants with its default timings (3/2 election timeout, rounded up). */
export const MIN_LEASE_TTL_SECONDS = 2;

export interface OptionSpec {
  /** fleet's name, as in fleet.conf; FLEET_<NAME> in the environment; --name-with-dashes as a flag. */
  name: string;
  field: keyof FleetConfig;
  /** The default, as text, parsed like any other value. */
  default: string;
  /** What is accepted, for messages. */
  allowed: string;
  /** Never echo the value in messages. */
  secret?: boolean;
  /** Parses one value; metadata may add warnings. */
  parse(raw: string): Parsed<unknown> & { warnings?: string[] };
}

const SECONDS = 'a number of seconds greater than 0 (e.g. 1.5) or a duration (e.g. 1500ms, 2s, 1m)';
const LEASE = `a whole number of seconds, at least ${MIN_LEASE_TTL_SECONDS}, as a duration (e.g. 30s, 1m) or a number`;

export const OPTIONS: readonly OptionSpec[] = [
  {
    name: 'etcd_servers',
    field: 'etcdServers',
    default: 'http://127.0.0.1:2379',
    allowed:
      'comma-separated http(s)://host:port URLs, all http or all https (e.g. https://10.0.0.1:2379,https://10.0.0.2:2379)',
    parse: parseEndpoints,
  },
  {
    name: 'etcd_key_prefix',
    field: 'etcdKeyPrefix',
    default: '/fleet/',
    allowed: 'an etcd key prefix starting with "/", without spaces (e.g. /fleet/)',
    parse: parseKeyPrefix,
  },
  {
    name: 'etcd_cafile',
    field: 'etcdCaFile',
    default: '',
    allowed: 'the path of a PEM CA certificate file, or empty',
    parse: parsePathOrEmpty,
  },
  {
    name: 'etcd_certfile',
    field: 'etcdCertFile',
    default: '',
    allowed: 'the path of a PEM client certificate file, or empty',
    parse: parsePathOrEmpty,
  },
  {
    name: 'etcd_keyfile',
    field: 'etcdKeyFile',
    default: '',
    allowed: 'the path of a PEM client key file, or empty',
    parse: parsePathOrEmpty,
  },
  {
    name: 'etcd_username',
    field: 'etcdUsername',
    default: '',
    allowed: 'an etcd user name, or empty',
    parse: parseTextOrEmpty,
  },
  {
    name: 'etcd_password',
    field: 'etcdPassword',
    default: '',
    allowed: "the etcd user's password, or empty",
    secret: true,
    parse: parseTextOrEmpty,
  },
  {
    name: 'etcd_request_timeout',
    field: 'etcdRequestTimeoutMs',
    default: '1.0',
    allowed: SECONDS,
    parse: parseSecondsOrDuration,
  },
  {
    name: 'public_ip',
    field: 'publicIp',
    default: '',
    allowed: 'an IPv4 or IPv6 address, or empty (detected)',
    parse: parseIpOrEmpty,
  },
  {
    name: 'metadata',
    field: 'metadata',
    default: '',
    allowed: METADATA_ALLOWED,
    parse: (raw) => {
      const m = parseMetadata(raw);
      if (m.problems.length > 0) return { ok: false, why: m.problems.join('; ') };
      return { ok: true, value: m.metadata, warnings: m.warnings };
    },
  },
  {
    name: 'agent_ttl',
    field: 'agentTtlSeconds',
    default: '30s',
    allowed: LEASE,
    parse: (raw) => parseLeaseTtl(raw, MIN_LEASE_TTL_SECONDS),
  },
  {
    name: 'engine_reconcile_interval',
    field: 'engineReconcileIntervalMs',
    default: '2',
    allowed: SECONDS,
    parse: parseSecondsOrDuration,
  },
  {
    name: 'engine_lease_ttl',
    field: 'engineLeaseTtlSeconds',
    default: '10s',
    allowed: LEASE,
    parse: (raw) => parseLeaseTtl(raw, MIN_LEASE_TTL_SECONDS),
  },
  {
    name: 'units_directory',
    field: 'unitsDirectory',
    default: '/run/fleet/units',
    allowed: 'an absolute directory path',
    parse: parseAbsolutePath,
  },
  {
    name: 'disable_engine',
    field: 'disableEngine',
    default: 'false',
    allowed: 'true or false (also 1, 0, t, f, TRUE, FALSE, True, False)',
    parse: parseBool,
  },
  {
    name: 'verbosity',
    field: 'verbosity',
    default: '0',
    allowed: 'a whole number >= 0 (0: info, 1: debug, 2: trace)',
    parse: parseNonNegativeInt,
  },
  {
    name: 'machine_id_file',
    field: 'machineIdFile',
    default: '/etc/machine-id',
    allowed: 'an absolute file path',
    parse: parseAbsolutePath,
  },
];

/** fleet options fleet-ts accepts and ignores (with a warning), so old fleet.conf files still load. */
export const IGNORED_FLEET_OPTIONS: Readonly<Record<string, string>> = {
  token_limit: 'the fleet HTTP API paging limit; fleet-ts has no such API',
  disable_watches: 'fleet-ts always uses etcd watches',
  verify_units: 'deprecated in fleet already',
  authorized_keys_file: 'deprecated in fleet already',
};

export const OPTION_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.name, o]));
