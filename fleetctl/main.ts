/**
 * fleetctl: the command-line interface to fleet-ts. The command tree lives in fleetctl/commands/.
 * Kept light at start-up: nothing here (or in a command module's top level) imports an etcd client.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { globalOptions } from './cli.js';
import { commands } from './commands/index.js';
import { fleetctlVersion } from './commands/version.js';
import { ExitCode } from './output.js';

export async function main(argv: string[]): Promise<void> {
  let cli = globalOptions(yargs(argv))
    .scriptName('fleetctl')
    // --no-block and --no-legend are flags of their own (fleet's), not negations of --block/--legend.
    .parserConfiguration({ 'boolean-negation': false })
    // Every flag also as FLEETCTL_<FLAG> (e.g. FLEETCTL_ENDPOINT, FLEETCTL_DRIVER, FLEETCTL_NO_BLOCK).
    .env('FLEETCTL')
    .version(fleetctlVersion())
    .usage('fleetctl: control a fleet-ts cluster\n\nUsage: fleetctl <command> [options]')
    .strict()
    .demandCommand(1, 'fleetctl needs a command; see fleetctl --help')
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`fleetctl: ${msg}\nRun 'fleetctl --help' for usage.\n`);
      process.exit(ExitCode.Usage);
    });
  for (const command of commands) cli = cli.command(command);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  // A bug, not a user error: say so plainly, with the message but no stack trace.
  process.stderr.write(
    `fleetctl: unexpected internal error: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = ExitCode.Failure;
});
