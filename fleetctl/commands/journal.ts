/**
 * `fleetctl journal [--lines N] [-f|--follow] UNIT`: the unit's journal on the machine it runs on,
 * streamed from that machine's fleetd (journalctl there). With --follow it runs until interrupted.
 */
import type { CommandModule } from 'yargs';
import { UsageError, withDriver, type GlobalArgs } from '../cli.js';
import { ExitCode } from '../output.js';
import { unitNameArg } from './unit-arg.js';

type Args = GlobalArgs & { unit: string; lines: number; follow: boolean };

export const journalCommand: CommandModule<object, Args> = {
  command: 'journal <unit>',
  describe: "Print the journal of a unit, from the fleetd of the unit's machine",
  builder: (y) =>
    y
      .positional('unit', { type: 'string', demandOption: true, describe: 'a unit name' })
      .option('lines', { type: 'number', default: 10, describe: 'number of recent journal lines to print' })
      .option('follow', {
        alias: 'f',
        type: 'boolean',
        default: false,
        describe: 'keep printing new lines as they are written (until interrupted)',
      }) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const lines = argv.lines;
      if (!Number.isInteger(lines) || lines < 0) {
        throw new UsageError(`--lines must be a whole number of lines, 0 or more, not ${String(lines)}`);
      }
      const name = unitNameArg(String(argv.unit));
      // `fleetctl journal -f UNIT | head`: the reader went away; end quietly, as journalctl does.
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EPIPE') throw e;
        process.exit(ExitCode.Ok);
      });
      await driver.unitOutput(name, { kind: 'journal', lines, follow: argv.follow }, (c) =>
        out.stdout(c.toString('utf8')),
      );
      return ExitCode.Ok;
    }),
};
