/**
 * Runs one engine candidate from fleet's configuration (fleet.conf, FLEET_* variables, flags):
 *
 *   node dist/engine/main.js [--config PATH] [--candidate NAME] [--etcd-servers URL] ...
 *
 * fleetd composes the same Engine; this entry exists so an engine can run (and be killed) as a
 * process of its own. It prints one JSON line per lifecycle event on stdout ("ready", "elected",
 * "deposed", "applied", "error"), logs to stderr, and stops cleanly on SIGTERM/SIGINT.
 */
import { readMachineId } from '../lib/machine-id.js';
import { hostname } from 'node:os';
import { loadConfig } from '../lib/config.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { Registry, registryOptionsFrom } from '../lib/registry/index.js';
import { Engine } from './engine.js';
import { ParseCache } from './unit-info.js';

function out(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, t: Date.now(), pid: process.pid, ...fields })}\n`);
}

/** `--name value`, `--name=value` and bare `--name` (true), for fleet's configuration flags. */
function parseFlags(args: readonly string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"; flags look like --name value`);
    const eq = a.indexOf('=');
    if (eq > 0) {
      out[a.slice(2, eq)] = a.slice(eq + 1);
    } else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) {
      out[a.slice(2)] = args[++i]!;
    } else {
      out[a.slice(2)] = true;
    }
  }
  return out;
}

/** --concurrency N: schedule transactions in flight (default 16). */
function concurrencyFrom(v: string | undefined): number {
  const n = v === undefined ? 16 : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new Error(`--concurrency must be a whole number from 1 to 64, not "${v}"`);
  }
  return n;
}

async function main(): Promise<number> {
  const { candidate, concurrency, ...flags } = parseFlags(process.argv.slice(2));
  const { config, warnings } = loadConfig({ env: process.env, flags });
  const log = createLogger({ verbosity: config.verbosity, component: 'engine' });
  for (const w of warnings) log.warn(w);
  const name =
    (typeof candidate === 'string' && candidate !== '' ? candidate : undefined) ??
    readMachineId(config.machineIdFile) ??
    hostname();
  if (config.disableEngine) {
    log.info('disable_engine is set: not running an engine');
    return 0;
  }
  const client = createEtcdClient(config);
  const parseCache = new ParseCache();
  const registry = new Registry(client, { ...registryOptionsFrom(config), checkUnitBody: parseCache.check });
  const engine = new Engine({
    registry,
    candidate: name,
    leaseTtlSeconds: config.engineLeaseTtlSeconds,
    reconcileIntervalMs: config.engineReconcileIntervalMs,
    parseCache,
    concurrency: concurrencyFrom(typeof concurrency === 'string' ? concurrency : undefined),
    log,
  });
  engine.on('elected', (f) => out('elected', { candidate: name, key: f.key }));
  engine.on('deposed', (e) => out('deposed', { candidate: name, code: e.code, message: e.message }));
  engine.on('error', (e) => out('error', { code: e.code, message: e.message }));
  engine.on('planned', (p) => {
    if (p.decisions > 0) out('planned', { decisions: p.decisions, unplaced: p.unplaced.length, ms: p.ms });
  });
  engine.on('applied', (a) =>
    out('applied', { decisions: a.decisions, written: a.written, revision: a.revision.toString(), ms: a.ms }),
  );
  let stopping = false;
  const done = new Promise<void>((resolve) => {
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      void engine.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await registry.checkSchema();
  await engine.start();
  out('ready', { candidate: name });
  await done;
  client.close();
  out('stopped', { candidate: name });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`fleet engine: ${errorMessage(e)}\n`);
    process.exit(1);
  },
);
