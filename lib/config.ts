/**
 * fleetd's and fleetctl's configuration, as fleet: fleet.conf (INI) at /etc/fleet/fleet.conf or
 * --config PATH, overridden by FLEET_<OPTION> environment variables, overridden by flags.
 *
 * resolveConfig() is pure (texts and maps in, a typed config or every problem out); loadConfig()
 * adds the file reading. A bad value is reported with the option, where it came from (file:line,
 * environment variable, flag) and what is allowed; all problems are reported together, so the
 * daemon never starts half-configured. Unknown options in the file are warnings naming file:line.
 */
import { readFileSync, statSync } from 'node:fs';
import { scanConfigText } from './config-file.js';
import {
  IGNORED_FLEET_OPTIONS,
  OPTION_BY_NAME,
  OPTIONS,
  type FleetConfig,
  type OptionSpec,
} from './config-options.js';
import { FleetError } from './errors.js';

export { OPTIONS, MIN_LEASE_TTL_SECONDS, type FleetConfig, type OptionSpec } from './config-options.js';

export const DEFAULT_CONFIG_FILE = '/etc/fleet/fleet.conf';
export const ENV_PREFIX = 'FLEET_';

export type ConfigSource =
  | { kind: 'default' }
  | { kind: 'file'; path: string; line: number }
  | { kind: 'env'; name: string }
  | { kind: 'flag'; name: string };

export function describeSource(s: ConfigSource): string {
  switch (s.kind) {
    case 'default':
      return 'the default';
    case 'file':
      return `${s.path}:${s.line}`;
    case 'env':
      return `environment variable ${s.name}`;
    case 'flag':
      return `flag --${s.name}`;
  }
}

export interface ConfigProblem {
  /** The option name (fleet's), or "config" for the file itself. */
  option: string;
  source: ConfigSource;
  /** One line: where, which option, what is wrong, what is allowed. */
  message: string;
}

/**
 * Flag values as a CLI parser hands them over; keys may be snake_case, kebab-case or camelCase,
 * other keys are ignored. Give only flags the user passed: a parser default (yargs `default:`)
 * would override the file and the environment.
 */
export type FlagValues = Readonly<Record<string, unknown>>;

export interface ConfigInputs {
  /** The fleet.conf text and its path (for messages), if there is a file. */
  file?: { path: string; text: string };
  env?: Readonly<Record<string, string | undefined>>;
  flags?: FlagValues;
}

export type ConfigResult =
  | { ok: true; config: FleetConfig; sources: Record<string, ConfigSource>; warnings: string[] }
  | { ok: false; problems: ConfigProblem[]; warnings: string[] };

interface Candidate {
  raw: string;
  source: ConfigSource;
}

/** Pure: every source's values checked, the highest-precedence one of each option kept. */
export function resolveConfig(inputs: ConfigInputs): ConfigResult {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  // Per option, candidates in rising precedence: default < file < env < flag.
  const candidates = new Map<string, Candidate[]>();
  const add = (name: string, c: Candidate) => candidates.set(name, [...(candidates.get(name) ?? []), c]);

  for (const o of OPTIONS) add(o.name, { raw: o.default, source: { kind: 'default' } });
  if (inputs.file) collectFile(inputs.file, add, problems, warnings);
  if (inputs.env) collectEnv(inputs.env, add, warnings);
  if (inputs.flags) collectFlags(inputs.flags, add, problems);

  const config: Partial<Record<keyof FleetConfig, unknown>> = {};
  const sources: Record<string, ConfigSource> = {};
  for (const o of OPTIONS) {
    for (const c of candidates.get(o.name) ?? []) {
      const parsed = o.parse(c.raw);
      if (!parsed.ok) {
        problems.push(badValue(o, c, parsed.why));
        continue;
      }
      for (const w of parsed.warnings ?? []) warnings.push(`${describeSource(c.source)}: ${o.name}: ${w}`);
      config[o.field] = parsed.value;
      sources[o.name] = c.source;
    }
  }
  if (problems.length === 0) problems.push(...crossCheck(config as FleetConfig, sources));
  if (problems.length > 0) return { ok: false, problems: problems.sort(bySource), warnings };
  return { ok: true, config: config as FleetConfig, sources, warnings };
}

/** Problems in reading order: the file by line, then environment, then flags. */
function bySource(a: ConfigProblem, b: ConfigProblem): number {
  const rank = (s: ConfigSource) => ({ file: 0, env: 1, flag: 2, default: 3 })[s.kind];
  const line = (s: ConfigSource) => (s.kind === 'file' ? s.line : 0);
  return rank(a.source) - rank(b.source) || line(a.source) - line(b.source);
}

function badValue(o: OptionSpec, c: Candidate, why: string): ConfigProblem {
  const shown = o.secret ? '(hidden)' : JSON.stringify(c.raw);
  return {
    option: o.name,
    source: c.source,
    message: `${describeSource(c.source)}: ${o.name}=${shown} is not allowed: ${why}; allowed: ${o.allowed}`,
  };
}

function collectFile(
  file: { path: string; text: string },
  add: (name: string, c: Candidate) => void,
  problems: ConfigProblem[],
  warnings: string[],
): void {
  const scan = scanConfigText(file.text);
  for (const p of scan.problems) {
    const source: ConfigSource = { kind: 'file', path: file.path, line: p.line };
    problems.push({ option: 'config', source, message: `${describeSource(source)}: ${p.message}` });
  }
  const seen = new Map<string, number>();
  for (const e of scan.entries) {
    const where = `${file.path}:${e.line}`;
    if (e.section !== undefined) {
      warnings.push(
        `${where}: "${e.key}" is in section [${e.section}] and is ignored; fleet options go at the top of the file, outside any section`,
      );
      continue;
    }
    if (IGNORED_FLEET_OPTIONS[e.key] !== undefined) {
      warnings.push(
        `${where}: fleet option "${e.key}" is ignored by fleet-ts (${IGNORED_FLEET_OPTIONS[e.key]})`,
      );
      continue;
    }
    if (!OPTION_BY_NAME.has(e.key)) {
      warnings.push(`${where}: unknown option "${e.key}" is ignored${suggest(e.key)}`);
      continue;
    }
    const first = seen.get(e.key);
    if (first !== undefined)
      warnings.push(`${where}: "${e.key}" is set again (first at line ${first}); this line wins`);
    else seen.set(e.key, e.line);
    add(e.key, { raw: e.value, source: { kind: 'file', path: file.path, line: e.line } });
  }
}

function collectEnv(
  env: Readonly<Record<string, string | undefined>>,
  add: (name: string, c: Candidate) => void,
  warnings: string[],
): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const option = name.slice(ENV_PREFIX.length).toLowerCase();
    if (OPTION_BY_NAME.has(option)) {
      // As fleet: an empty variable counts as not set (systemd's Environment=FOO= is common).
      if (value !== '') add(option, { raw: value, source: { kind: 'env', name } });
    } else if (IGNORED_FLEET_OPTIONS[option] !== undefined) {
      warnings.push(`environment variable ${name} is ignored by fleet-ts (${IGNORED_FLEET_OPTIONS[option]})`);
    } else {
      warnings.push(`environment variable ${name} is not a fleet option and is ignored${suggest(option)}`);
    }
  }
}

/** snake_case, kebab-case and camelCase flag keys all name the same option. */
function optionOfFlag(key: string): string | undefined {
  const snake = key.replace(/-/g, '_').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return OPTION_BY_NAME.has(snake) ? snake : undefined;
}

function collectFlags(
  flags: FlagValues,
  add: (name: string, c: Candidate) => void,
  problems: ConfigProblem[],
): void {
  const taken = new Map<string, string>();
  for (const [key, value] of Object.entries(flags)) {
    const option = optionOfFlag(key);
    if (option === undefined || value === undefined) continue;
    const source: ConfigSource = { kind: 'flag', name: option.replace(/_/g, '-') };
    let raw: string;
    if (Array.isArray(value)) raw = value.map(String).join(',');
    else if (['string', 'number', 'boolean'].includes(typeof value)) raw = String(value);
    else {
      problems.push({ option, source, message: `${describeSource(source)}: ${option} has no usable value` });
      continue;
    }
    // A CLI parser may hand the same flag under several spellings: count it once.
    if (taken.get(option) === raw) continue;
    taken.set(option, raw);
    add(option, { raw, source });
  }
}

/** Rules across options; only run when every single value is valid. */
function crossCheck(cfg: FleetConfig, sources: Record<string, ConfigSource>): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const at = (o: string) => describeSource(sources[o] ?? { kind: 'default' });
  const problem = (option: string, text: string) =>
    out.push({ option, source: sources[option] ?? { kind: 'default' }, message: `${at(option)}: ${text}` });
  if (cfg.etcdCertFile && !cfg.etcdKeyFile) {
    problem(
      'etcd_certfile',
      'etcd_certfile is set but etcd_keyfile is not; set both (the client key and its certificate) or neither',
    );
  }
  if (cfg.etcdKeyFile && !cfg.etcdCertFile) {
    problem(
      'etcd_keyfile',
      'etcd_keyfile is set but etcd_certfile is not; set both (the client key and its certificate) or neither',
    );
  }
  if (cfg.etcdPassword && !cfg.etcdUsername) {
    problem('etcd_password', 'etcd_password is set but etcd_username is not; set both or neither');
  }
  if (cfg.etcdUsername && !cfg.etcdPassword) {
    problem('etcd_username', 'etcd_username is set but etcd_password is not; set both or neither');
  }
  const tlsSet = ['etcd_cafile', 'etcd_certfile', 'etcd_keyfile'].filter(
    (o) => cfg[OPTION_BY_NAME.get(o)!.field] !== undefined,
  );
  if (tlsSet.length > 0 && cfg.etcdServers.every((u) => u.startsWith('http:'))) {
    problem(
      'etcd_servers',
      `${tlsSet.join(', ')} set (${tlsSet.map(at).join(', ')}) but etcd_servers use http://, which has no TLS; use https:// endpoints or unset the TLS files`,
    );
  }
  if (Boolean(cfg.apiTlsCertFile) !== Boolean(cfg.apiTlsKeyFile)) {
    const [set, unset] = cfg.apiTlsCertFile
      ? ['api_tls_certfile', 'api_tls_keyfile']
      : ['api_tls_keyfile', 'api_tls_certfile'];
    problem(
      set,
      `${set} is set but ${unset} is not; set both (the API's certificate and its key) or neither`,
    );
  }
  if (cfg.apiTlsCaFile && !cfg.apiTlsCertFile) {
    problem(
      'api_tls_cafile',
      'api_tls_cafile (client-certificate checking) needs TLS: set api_tls_certfile and api_tls_keyfile too',
    );
  }
  if (cfg.apiTlsCertFile && !cfg.apiTcpAddress) {
    problem(
      'api_tls_certfile',
      'API TLS is configured but api_tcp_address is not; TLS applies to the TCP listener only, so set api_tcp_address (e.g. :49153)',
    );
  }
  return out;
}

/** " (did you mean x?)" for a near miss of a known option name. */
function suggest(name: string): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const o of OPTIONS) {
    const d = editDistance(name.toLowerCase(), o.name);
    if (d < bestDistance) {
      best = o.name;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

export class ConfigError extends FleetError<'CONFIG_INVALID'> {
  readonly problems: readonly ConfigProblem[];
  /** Warnings found on the way (unknown options...), for the caller to log too. */
  readonly warnings: readonly string[];
  constructor(problems: readonly ConfigProblem[], warnings: readonly string[] = []) {
    const n = problems.length;
    super(
      'CONFIG_INVALID',
      `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
    );
    this.problems = problems;
    this.warnings = warnings;
  }
}

export interface LoadConfigOptions {
  /** --config: a file that must exist. Also read from flags.config when not given here. */
  configPath?: string;
  env?: Readonly<Record<string, string | undefined>>;
  flags?: FlagValues;
  /** Used when no --config is given and only if it exists (default /etc/fleet/fleet.conf). */
  defaultPath?: string;
  readFile?: (path: string) => string;
  isDirectory?: (path: string) => boolean;
}

/**
 * Reads fleet.conf (the --config file, which must exist, or the default one if it exists) and
 * resolves the configuration. Throws ConfigError listing every problem. Warnings are returned for
 * the caller to log.
 */
export function loadConfig(opts: LoadConfigOptions = {}): {
  config: FleetConfig;
  warnings: string[];
  file?: string;
} {
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const isDirectory = opts.isDirectory ?? ((p: string) => statSync(p).isDirectory());
  const flagPath = opts.flags?.['config'];
  const explicit =
    opts.configPath ?? (typeof flagPath === 'string' && flagPath !== '' ? flagPath : undefined);
  const path = explicit ?? opts.defaultPath ?? DEFAULT_CONFIG_FILE;
  const source: ConfigSource = explicit ? { kind: 'flag', name: 'config' } : { kind: 'default' };

  let file: { path: string; text: string } | undefined;
  try {
    if (isDirectory(path)) {
      throw new ConfigError([
        {
          option: 'config',
          source,
          message: `config file ${path} is a directory; give the path of fleet.conf itself`,
        },
      ]);
    }
    file = { path, text: readFile(path) };
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    // Like fleet: the default file is optional, a file asked for with --config is not.
    if (!(explicit === undefined && code === 'ENOENT')) {
      const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(e)})`;
      throw new ConfigError([
        {
          option: 'config',
          source,
          message: `config file ${path} ${why}${explicit ? ' (given with --config)' : ''}; fix the path or its permissions`,
        },
      ]);
    }
  }
  const result = resolveConfig({
    ...(file ? { file } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.flags ? { flags: opts.flags } : {}),
  });
  if (!result.ok) throw new ConfigError(result.problems, result.warnings);
  return { config: result.config, warnings: result.warnings, ...(file ? { file: file.path } : {}) };
}
