/**
 * fleetd: the fleet-ts daemon. Parses the command line, then runs Fleetd (fleetd/daemon.ts) until
 * SIGTERM/SIGINT; SIGHUP reloads the configuration. `fleetd fence` is fleetd.service's
 * ExecStopPost= (fleetd/fence.ts): after a crash, stop this machine's units, then revoke its lease.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError, loadConfig, OPTIONS } from '../lib/config.js';
import { errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { Fleetd } from './daemon.js';
import { fence, stopOutcomeFromEnv } from './fence.js';
import { VERSION } from './version.js';

export async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('fleetd')
    .usage(
      'fleetd: the fleet-ts daemon (agent, engine candidate and the fleet HTTP API)\n\n' +
        'Usage: fleetd [--config /etc/fleet/fleet.conf] [--<option> value ...]\n' +
        '       fleetd fence [--config ...]   (fleetd.service ExecStopPost=: after a crash, stop this\n' +
        "                                      machine's units, then revoke its lease; see docs/fleetd.md)\n\n" +
        'Options come from fleet.conf (--config, or FLEET_CONFIG), then FLEET_<OPTION> variables, then flags\n' +
        '(see docs/configuration.md).\n' +
        'Signals: SIGHUP reloads the configuration; SIGTERM stops cleanly.',
    )
    .option('config', {
      type: 'string',
      describe: 'fleet.conf to read (default /etc/fleet/fleet.conf if present)',
    })
    .version(VERSION)
    .help()
    .alias('help', 'h')
    .strict(false)
    .parserConfiguration({ 'camel-case-expansion': false })
    .wrap(Math.min(110, process.stdout.columns ?? 110));
  for (const o of OPTIONS) {
    cli = cli.option(o.name.replace(/_/g, '-'), {
      type: 'string',
      describe: `${o.name}: ${o.allowed}`,
      hidden: o.secret === true,
    });
  }
  const args = (await cli.parseAsync()) as Record<string, unknown>;
  const flags: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const v = args[o.name.replace(/_/g, '-')];
    if (v !== undefined) flags[o.name] = v;
  }
  // --config, else FLEET_CONFIG (not an option itself: it names the file the options are in)
  const { FLEET_CONFIG: envConfig, ...env } = process.env;
  const configPath =
    typeof args['config'] === 'string' && args['config'] !== '' ? args['config'] : envConfig || undefined;

  const load = () => loadConfig({ ...(configPath ? { configPath } : {}), env, flags });
  const [command] = (args['_'] as unknown[] | undefined) ?? [];
  if (command === 'fence') return runFence(load);

  const daemon = new Fleetd({ loadConfig: load });
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    daemon
      .stop(`received ${sig}, stopping`)
      .then(() => process.exit(0))
      .catch((e: unknown) => {
        process.stderr.write(`fleetd: stop failed: ${errorMessage(e)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    daemon.log.info('received SIGHUP, reloading the configuration');
    void daemon.reload();
  });
  try {
    await daemon.start();
  } catch (e) {
    if (e instanceof ConfigError) process.stderr.write(`fleetd: ${e.message}\n`);
    else daemon.log.error(`cannot start: ${errorMessage(e)}`);
    process.exit(1);
  }
}

/** `fleetd fence`: always exits 0 (systemd goes on to restart fleetd); problems are log lines. */
async function runFence(load: typeof loadConfig): Promise<void> {
  const log = createLogger({ component: 'fence' });
  let config;
  try {
    config = load().config;
  } catch (e) {
    log.error(`${errorMessage(e)}; fencing with the default units_directory, and no lease revoked`);
  }
  try {
    await fence({
      outcome: stopOutcomeFromEnv(process.env),
      config,
      log,
      ...(process.env.FLEET_AGENT_BUS_ADDRESS ? { busAddress: process.env.FLEET_AGENT_BUS_ADDRESS } : {}),
    });
  } catch (e) {
    log.error(`unexpected failure: ${errorMessage(e)}`);
  }
  process.exit(0);
}

main(hideBin(process.argv)).catch((err: unknown) => {
  process.stderr.write(`fleetd: unexpected internal error: ${errorMessage(err)}\n`);
  process.exit(1);
});
