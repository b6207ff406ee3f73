/**
 * The yargs command tree: help, usage, every flag and error message. main.ts loads it (and yargs)
 * only when the fast path (fast-args.ts) does not take a command line.
 */
import yargs, { type Argv, type CommandModule } from 'yargs';
import { globalOptions } from './cli.js';
import { commands as allCommands } from './commands/index.js';
import { fleetctlVersion } from './commands/version.js';
import { ExitCode } from './output.js';

export function buildCli(
  argv: string[],
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
  opts: { exitOnUsageError?: boolean; commands?: ReadonlyArray<CommandModule<any, any>> } = {},
): Argv {
  const commands = opts.commands ?? allCommands;
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
    .completion('completion', 'Print a bash (or zsh) completion script: fleetctl completion >> ~/.bashrc')
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err) => {
      if (err) throw err;
      if (opts.exitOnUsageError === false) throw new Error(msg);
      process.stderr.write(`fleetctl: ${msg}\nRun 'fleetctl --help' for usage.\n`);
      process.exit(ExitCode.Usage);
    });
  for (const command of commands) cli = cli.command(command);
  return cli as unknown as Argv;
}
