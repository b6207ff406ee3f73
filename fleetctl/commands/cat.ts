/** `fleetctl cat UNIT`: prints the unit file as the cluster has it. */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import { DriverError } from '../driver.js';
import { unitNameOf } from '../lazy.js';
import { ExitCode } from '../output.js';

type Args = GlobalArgs & { unit: string };

export const catCommand: CommandModule<object, Args> = {
  command: 'cat <unit>',
  describe: 'Output the contents of a submitted unit',
  builder: (y) =>
    y.positional('unit', { type: 'string', demandOption: true, describe: 'a unit name' }) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const name = unitNameOf(String(argv.unit));
      const u = await driver.getUnit(name);
      if (!u)
        throw new DriverError(
          'UNIT_NOT_FOUND',
          `unit ${name} is not in the cluster; check the name with fleetctl list-unit-files`,
        );
      out.stdout(u.body.endsWith('\n') ? u.body : u.body + '\n');
      return ExitCode.Ok;
    }),
};
