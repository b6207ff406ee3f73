/**
 * `fleetctl why UNIT` (beyond fleet): where a unit is placed, or the engine's reasons it is not
 * (one per line, from fleetd's API; the etcd driver can only say where it is). `-o json` prints
 * {name, desiredState, placed, machineIDs, reasons}.
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import { unitNameOf } from '../lazy.js';
import { ExitCode } from '../output.js';

type Args = GlobalArgs & { unit: string; output: 'text' | 'json' };

export const whyCommand: CommandModule<object, Args> = {
  command: 'why <unit>',
  describe: "Say where a unit is placed, or the engine's reasons it is not",
  builder: (y) =>
    y
      .positional('unit', { type: 'string', demandOption: true, describe: 'a unit name' })
      .option('output', { alias: 'o', type: 'string', choices: ['text', 'json'], default: 'text' }) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const w = await driver.why(unitNameOf(String(argv.unit)));
      if (argv.output === 'json') {
        out.stdout(
          JSON.stringify(
            {
              name: w.name,
              desiredState: w.desiredState,
              placed: w.placed,
              machineIDs: w.machineIds,
              reasons: w.reasons,
              ...(w.since ? { since: w.since } : {}),
            },
            null,
            2,
          ) + '\n',
        );
        return ExitCode.Ok;
      }
      const where = w.placed ? `placed on ${w.machineIds.join(', ')}` : 'not placed';
      const since = w.since ? ` (since ${w.since})` : '';
      out.stdout(`${w.name}: desired state ${w.desiredState}, ${where}${since}\n`);
      for (const r of w.reasons) out.stdout(`  - ${r}\n`);
      return ExitCode.Ok;
    }),
};
