/**
 * Every configuration option: fleet's names, meanings and defaults (fleetd/fleetd.go and
 * Documentation/deployment-and-configuration.md in coreos/fleet), plus the few fleet-ts adds.
 * Values are parsed by the pure functions of config-values.ts; this table only says which.
 */
import {
  parseAbsolutePath,
  parseBool,
  parseEndpoints,
  parseHostPortOrEmpty,
  parseIntInRange,
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

/** An absolute path, or empty: not set. */
function parseAbsolutePathOrEmpty(text: string): Parsed<string | undefined> {
  if (text.trim() === '') return { ok: true, value: undefined };
  return parseAbsolutePath(text);
}

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
  /**
   * Ours: a directory of unit files this fleetd keeps applied to the cluster (like `fleetctl apply
   * --prune --watch`); undefined: off. Not units_directory, where the agent writes.
   */
  unitSourceDirectory: string | undefined;
  disableEngine: boolean;
  /** Ours: run no agent (an API/engine-only fleetd, e.g. on a control node without units). */
  disableAgent: boolean;
  verbosity: number;
  machineIdFile: string;
  /** fleet's token_limit: units, states or machines per API page. */
  tokenLimit: number;
  /** The API's unix socket when not socket-activated (undefined: none). */
  apiUnixSocket: string | undefined;
  /** The API's TCP listener when not socket-activated (host "" = every address). */
  apiTcpAddress: { host: string; port: number } | undefined;
  /** TLS on the TCP listener: certificate and key (PEM). */
  apiTlsCertFile: string | undefined;
  apiTlsKeyFile: string | undefined;
  /** When set, TCP clients must present a certificate signed by this CA (PEM). */
  apiTlsCaFile: string | undefined;
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
    name: 'unit_source_directory',
    field: 'unitSourceDirectory',
    default: '',
    allowed: 'an absolute directory path (e.g. /etc/fleet/units.d), or empty: off',
    parse: parseAbsolutePathOrEmpty,
  },
  {
    name: 'disable_engine',
    field: 'disableEngine',
    default: 'false',
    allowed: 'true or false (also 1, 0, t, f, TRUE, FALSE, True, False)',
    parse: parseBool,
  },
  {
    name: 'disable_agent',
    field: 'disableAgent',
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
  {
    name: 'token_limit',
    field: 'tokenLimit',
    default: '100',
    allowed: 'a whole number from 1 to 65535 (items per page of the HTTP API)',
    parse: (raw) => parseIntInRange(raw, 1, 65535),
  },
  {
    name: 'api_unix_socket',
    field: 'apiUnixSocket',
    default: '/var/run/fleet.sock',
    allowed: 'an absolute path, or empty for no unix socket',
    parse: (raw) => (raw.trim() === '' ? { ok: true, value: undefined } : parseAbsolutePath(raw)),
  },
  {
    name: 'api_tcp_address',
    field: 'apiTcpAddress',
    default: '',
    allowed: 'host:port (e.g. 127.0.0.1:49153, [::1]:49153, :49153 for every address), or empty',
    parse: parseHostPortOrEmpty,
  },
  {
    name: 'api_tls_certfile',
    field: 'apiTlsCertFile',
    default: '',
    allowed: "the path of the API server's PEM certificate, or empty",
    parse: parsePathOrEmpty,
  },
  {
    name: 'api_tls_keyfile',
    field: 'apiTlsKeyFile',
    default: '',
    allowed: "the path of the API server's PEM key, or empty",
    parse: parsePathOrEmpty,
  },
  {
    name: 'api_tls_cafile',
    field: 'apiTlsCaFile',
    default: '',
    allowed: "the path of a PEM CA certificate that API clients' certificates must be signed by, or empty",
    parse: parsePathOrEmpty,
  },
];

/** fleet options fleet-ts accepts and ignores (with a warning), so old fleet.conf files still load. */
export const IGNORED_FLEET_OPTIONS: Readonly<Record<string, string>> = {
  disable_watches: 'fleet-ts always uses etcd watches',
  verify_units: 'deprecated in fleet already',
  authorized_keys_file: 'deprecated in fleet already',
};

export const OPTION_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.name, o]));
