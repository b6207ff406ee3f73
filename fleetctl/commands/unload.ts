/**
 * `fleetctl unload [--no-block|--block-attempts=N] UNIT...`: unschedules units (desired state
 * inactive) and waits until no machine has them loaded.
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
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

export const unloadCommand: CommandModule<object, Args> = {
  command: 'unload <units..>',
  describe: 'Unschedule one or more units in the cluster',
  builder: (y) => blockOptions(unitsPositional(y), 'inactive') as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const attempts = blockAttemptsOf(argv);
      const { found, missing } = await findUnits(argv.units, driver);
      const exit = reportMissing(missing, out, 'unload');
      const wait: string[] = [];
      for (const u of found) {
        if (!u.global && u.desiredState === 'inactive' && u.currentState === 'inactive') continue;
        if (u.desiredState !== 'inactive') await driver.setDesiredState(u.name, 'inactive');
        if (u.global) out.stdout(`Triggered global unit ${u.name} unload\n`);
        else wait.push(u.name);
      }
      if (attempts < 0) {
        for (const n of wait) out.stdout(`Triggered unit ${n} unload\n`);
        return exit;
      }
      const late = await waitForUnits(
        driver,
        wait,
        'inactive',
        { attempts, intervalMs: intervalOf(argv) },
        out,
      );
      return late.length > 0 ? ExitCode.Failure : exit;
    }),
};
