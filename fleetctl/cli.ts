/**
 * What every command shares: the global flags (fleet's), turning them into DriverOptions, and the
 * runner that opens the driver, turns every typed error into one line on stderr and an exit status,
 * and closes the driver. Every flag is also read from FLEETCTL_<FLAG> (main.ts: yargs .env()).
 */
import type { Argv } from 'yargs';
import { isFleetError } from '../lib/errors.js';
import {
  DEFAULT_API_ENDPOINT,
  DEFAULT_ETCD_ENDPOINT,
  chooseDriver,
  openDriver,
  type Driver,
  type DriverOptions,
} from './driver.js';
import { ExitCode, processOutput, type Output } from './output.js';

export interface GlobalArgs {
  driver?: string;
  endpoint?: string;
  etcdKeyPrefix: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  requestTimeout: number;
}

export function globalOptions<T>(y: Argv<T>): Argv<T & GlobalArgs> {
  return y
    .option('driver', {
      type: 'string',
      choices: ['api', 'API', 'etcd'],
      describe:
        'how fleetctl talks to the cluster: "api" (fleetd\'s HTTP API, the default) or "etcd" (etcd directly)',
      global: true,
    })
    .option('endpoint', {
      type: 'string',
      describe: `fleet API location with --driver=api (default ${DEFAULT_API_ENDPOINT}; or http(s)://host:port), etcd URLs with --driver=etcd (default ${DEFAULT_ETCD_ENDPOINT}, comma-separated)`,
      global: true,
    })
    .option('etcd-key-prefix', {
      type: 'string',
      default: '/fleet/',
      describe: 'key prefix of fleet data in etcd (--driver=etcd)',
      global: true,
    })
    .option('ca-file', { type: 'string', describe: 'TLS CA file (fleet API or etcd)', global: true })
    .option('cert-file', { type: 'string', describe: 'TLS client certificate file', global: true })
    .option('key-file', { type: 'string', describe: 'TLS client key file', global: true })
    .option('etcd-cafile', { type: 'string', hidden: true, global: true })
    .option('etcd-certfile', { type: 'string', hidden: true, global: true })
    .option('etcd-keyfile', { type: 'string', hidden: true, global: true })
    .option('request-timeout', {
      type: 'number',
      default: 3,
      describe: 'seconds to allow a single request before considering it failed',
      global: true,
    }) as unknown as Argv<T & GlobalArgs>;
}

/** The driver options the global flags say. Pure. Returns a reason for a bad value. */
export function driverOptionsFrom(
  argv: Readonly<Record<string, unknown>>,
): { ok: true; options: DriverOptions } | { ok: false; reason: string } {
  const str = (k: string): string | undefined => {
    const v = argv[k];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const endpoint = str('endpoint');
  const kind = chooseDriver(str('driver'), endpoint);
  const timeout = argv['requestTimeout'];
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
    return {
      ok: false,
      reason: `--request-timeout must be a number of seconds above 0, not ${String(timeout)}`,
    };
  }
  return {
    ok: true,
    options: {
      kind,
      endpoint: endpoint ?? (kind === 'etcd' ? DEFAULT_ETCD_ENDPOINT : DEFAULT_API_ENDPOINT),
      etcdKeyPrefix: str('etcdKeyPrefix') ?? '/fleet/',
      caFile: str('caFile') ?? str('etcdCafile'),
      certFile: str('certFile') ?? str('etcdCertfile'),
      keyFile: str('keyFile') ?? str('etcdKeyfile'),
      etcdCaFile: str('etcdCafile'),
      etcdCertFile: str('etcdCertfile'),
      etcdKeyFile: str('etcdKeyfile'),
      requestTimeoutMs: Math.round(timeout * 1000),
    },
  };
}

/** A usage error: printed like yargs' own, exit 2. */
export class UsageError extends Error {}

/**
 * Runs a command body with a driver. Typed errors become `fleetctl: <message>` and exit 1; a
 * UsageError exits 2; anything else is a bug, reported in one line without a stack trace.
 */
export async function withDriver(
  argv: Readonly<Record<string, unknown>>,
  body: (driver: Driver, out: Output) => Promise<number>,
  out: Output = processOutput,
): Promise<void> {
  const opts = driverOptionsFrom(argv);
  if (!opts.ok) {
    out.stderr(`fleetctl: ${opts.reason}\n`);
    process.exitCode = ExitCode.Usage;
    return;
  }
  let driver: Driver | undefined;
  try {
    driver = await openDriver(opts.options);
    process.exitCode = await body(driver, out);
  } catch (e) {
    process.exitCode = reportError(e, out);
  } finally {
    await driver?.close().catch(() => undefined);
  }
}

export function reportError(e: unknown, out: Output): number {
  if (e instanceof UsageError || (isFleetError(e) && e.code === 'USAGE')) {
    out.stderr(`fleetctl: ${e.message}\nRun 'fleetctl --help' for usage.\n`);
    return ExitCode.Usage;
  }
  if (isFleetError(e)) {
    out.stderr(`fleetctl: ${e.message}\n`);
    return ExitCode.Failure;
  }
  out.stderr(`fleetctl: unexpected internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  return ExitCode.Failure;
}
