/**
 * `fleetctl destroy [--no-block|--block-attempts=N] UNIT...`: removes units from the cluster (their
 * machines stop and unload them), waiting until no machine has them loaded, then prints
 * `Destroyed NAME`.
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import { isFleetError } from '../../lib/errors.js';
import { findUnits } from '../lazy.js';
import { ExitCode } from '../output.js';
import { waitForUnits } from '../wait.js';
import {
  blockAttemptsOf,
  blockOptions,
  intervalOf,
  unitsPositional,
  type BlockArgs,
  type UnitsArgs,
} from './common.js';
import { reportMissing } from './missing.js';

type Args = GlobalArgs & UnitsArgs & BlockArgs;

export const destroyCommand: CommandModule<object, Args> = {
  command: 'destroy <units..>',
  describe: 'Destroy one or more units in the cluster',
  builder: (y) => blockOptions(unitsPositional(y), 'gone from every machine') as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const attempts = blockAttemptsOf(argv);
      const { found, missing } = await findUnits(argv.units, driver);
      let exit = reportMissing(missing, out, 'destroy');
      for (const u of found) {
        try {
          await driver.destroyUnit(u.name);
        } catch (e) {
          if (!isFleetError(e) || e.code !== 'UNIT_NOT_FOUND') throw e;
        }
        if (attempts >= 0) {
          const late = await waitForUnits(
            driver,
            [u.name],
            'destroyed',
            { attempts, intervalMs: intervalOf(argv) },
            out,
          );
          if (late.length > 0) {
            exit = ExitCode.Failure;
            continue;
          }
        }
        out.stdout(`Destroyed ${u.name}\n`);
      }
      return exit;
    }),
};
