/**
 * The fast path of the command line. Loading yargs costs ~70 ms, more than the rest of a
 * `fleetctl list-units`; scripts call fleetctl in loops. So the plain command lines of the cluster
 * commands are parsed here, with the same flags, defaults, aliases, choices and FLEETCTL_* variables
 * as the yargs tree (test/fleetctl/fast-args.test.ts checks both agree), and anything else (help,
 * --version, unknown flags, bad values, missing arguments) goes to yargs for its usage messages.
 * Pure: arguments and environment in, values out.
 */

type Kind = 'boolean' | 'string' | 'number';

interface Opt {
  type: Kind;
  default?: unknown;
  alias?: string;
  choices?: readonly string[];
}

const GLOBAL: Record<string, Opt> = {
  driver: { type: 'string', choices: ['api', 'API', 'etcd'] },
  endpoint: { type: 'string' },
  'etcd-key-prefix': { type: 'string', default: '/fleet/' },
  'ca-file': { type: 'string' },
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  'etcd-cafile': { type: 'string' },
  'etcd-certfile': { type: 'string' },
  'etcd-keyfile': { type: 'string' },
  'request-timeout': { type: 'number', default: 3 },
};

const LIST: Record<string, Opt> = {
  full: { type: 'boolean', default: false, alias: 'l' },
  'no-legend': { type: 'boolean', default: false },
  output: { type: 'string', default: 'table', alias: 'o', choices: ['table', 'json'] },
};
const BLOCK: Record<string, Opt> = {
  'block-attempts': { type: 'number', default: 0 },
  'block-interval': { type: 'number', default: 500 },
};
const NO_BLOCK: Record<string, Opt> = { 'no-block': { type: 'boolean', default: false } };
const REPLACE: Record<string, Opt> = { replace: { type: 'boolean', default: false } };

interface CommandSpec {
  options: Record<string, Opt>;
  /** The positional: name and how many values (1: exactly one, Infinity: one or more). */
  positional?: { name: string; max: number };
}

export const FAST_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  'list-units': { options: { ...LIST, fields: { type: 'string', default: 'unit,machine,active,sub' } } },
  'list-unit-files': {
    options: { ...LIST, fields: { type: 'string', default: 'unit,hash,dstate,state,target' } },
  },
  'list-machines': { options: { ...LIST, fields: { type: 'string', default: 'machine,ip,metadata' } } },
  submit: { options: REPLACE, positional: { name: 'units', max: Infinity } },
  load: { options: { ...BLOCK, ...NO_BLOCK, ...REPLACE }, positional: { name: 'units', max: Infinity } },
  start: { options: { ...BLOCK, ...NO_BLOCK, ...REPLACE }, positional: { name: 'units', max: Infinity } },
  stop: { options: { ...BLOCK, ...NO_BLOCK }, positional: { name: 'units', max: Infinity } },
  unload: { options: { ...BLOCK, ...NO_BLOCK }, positional: { name: 'units', max: Infinity } },
  destroy: { options: { ...BLOCK, ...NO_BLOCK }, positional: { name: 'units', max: Infinity } },
  restart: { options: BLOCK, positional: { name: 'units', max: Infinity } },
  cat: { options: {}, positional: { name: 'unit', max: 1 } },
  why: {
    options: { output: { type: 'string', default: 'text', alias: 'o', choices: ['text', 'json'] } },
    positional: { name: 'unit', max: 1 },
  },
  drain: { options: {}, positional: { name: 'machine', max: 1 } },
  status: { options: {}, positional: { name: 'units', max: Infinity } },
  journal: {
    options: {
      lines: { type: 'number', default: 10 },
      follow: { type: 'boolean', default: false, alias: 'f' },
    },
    positional: { name: 'unit', max: 1 },
  },
  undrain: { options: {}, positional: { name: 'machine', max: 1 } },
};

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function convert(o: Opt, raw: string): unknown {
  if (o.type === 'string') return o.choices && !o.choices.includes(raw) ? undefined : raw;
  if (o.type === 'number') {
    if (raw.trim() === '' || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw.trim())) return undefined;
    return Number(raw);
  }
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return undefined;
}

export interface FastParse {
  command: string;
  /** The values under yargs' camelCase keys (what handlers read). */
  values: Record<string, unknown>;
}

/** Parses a plain command line, or returns undefined to let yargs handle it. */
export function fastParse(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): FastParse | undefined {
  let command: string | undefined;
  for (let i = 0; i < argv.length && command === undefined; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) command = a;
    // A global option's value is not the command: `fleetctl --endpoint URL list-units`.
    else if (
      a.startsWith('--') &&
      !a.includes('=') &&
      GLOBAL[a.slice(2)] &&
      GLOBAL[a.slice(2)]!.type !== 'boolean'
    )
      i++;
  }
  if (command === undefined || !Object.hasOwn(FAST_COMMANDS, command)) return undefined;
  const spec = FAST_COMMANDS[command]!;
  const options: Record<string, Opt> = { ...GLOBAL, ...spec.options };
  const aliases = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) if (o.alias) aliases.set(o.alias, name);
  const given = new Map<string, unknown>();
  const positionals: string[] = [];
  let seenCommand = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      if (!seenCommand && a === command)
        seenCommand = true; // the first bare word is the command
      else positionals.push(a);
      continue;
    }
    if (a === '--') return undefined;
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      value = eq === -1 ? undefined : a.slice(eq + 1);
    } else {
      if (a.length !== 2) return undefined; // -lo and the like: leave them to yargs
      const long = aliases.get(a.slice(1));
      if (!long) return undefined;
      name = long;
    }
    const o = options[name];
    if (!o || given.has(name)) return undefined; // unknown, or given twice (yargs makes an array)
    if (value === undefined) {
      if (o.type === 'boolean') {
        const next = argv[i + 1];
        if (next === 'true' || next === 'false') {
          value = next;
          i++;
        } else value = 'true';
      } else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('-') && !(o.type === 'number' && /^-\d/.test(next))))
          return undefined;
        value = next;
        i++;
      }
    }
    const v = convert(o, value);
    if (v === undefined) return undefined;
    given.set(name, v);
  }
  const pos = spec.positional;
  if (!pos && positionals.length > 0) return undefined;
  if (pos && (positionals.length === 0 || positionals.length > pos.max)) return undefined;
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(options)) {
    let v = given.get(name);
    if (v === undefined) {
      const e = env[`FLEETCTL_${name.replace(/-/g, '_').toUpperCase()}`];
      if (e !== undefined) {
        v = convert(o, e);
        if (v === undefined) return undefined;
      }
    }
    v ??= o.default;
    if (v !== undefined) values[camel(name)] = v;
  }
  if (pos) values[pos.name] = pos.max === 1 ? positionals[0] : positionals;
  return { command, values };
}

/** Every flag name fleetctl has (for FLEETCTL_* variables): global, per command, verify's, yargs' own. */
export const KNOWN_FLAGS: ReadonlySet<string> = new Set([
  ...Object.keys(GLOBAL),
  ...Object.values(FAST_COMMANDS).flatMap((c) => Object.keys(c.options)),
  'json',
  'help',
  'version',
]);

/** FLEETCTL_* variables that name no flag (yargs' strict mode would refuse every command). Pure. */
export function unknownFlagVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.keys(env).filter(
    (k) =>
      k.startsWith('FLEETCTL_') &&
      !KNOWN_FLAGS.has(k.slice('FLEETCTL_'.length).toLowerCase().replace(/_/g, '-')),
  );
}
