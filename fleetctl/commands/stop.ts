/**
 * `fleetctl stop [--no-block|--block-attempts=N] UNIT...`: sets launched units to loaded (stopped
 * but still loaded on their machine) and waits until systemd agrees. A unit that is not loaded
 * anywhere cannot be stopped (exit 1, as fleet); already-stopped units are skipped.
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

export const stopCommand: CommandModule<object, Args> = {
  command: 'stop <units..>',
  describe: 'Instruct systemd to stop one or more units in the cluster',
  builder: (y) => blockOptions(unitsPositional(y), 'stopped') as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const attempts = blockAttemptsOf(argv);
      const { found, missing } = await findUnits(argv.units, driver);
      let exit = reportMissing(missing, out, 'stop');
      const stopping: string[] = [];
      for (const u of found) {
        if (!u.global) {
          if (u.desiredState === 'inactive') {
            out.stderr(`Unable to stop unit ${u.name} in state inactive; load or start it first\n`);
            exit = ExitCode.Failure;
            continue;
          }
          if (u.desiredState === 'loaded') continue;
        }
        await driver.setDesiredState(u.name, 'loaded');
        if (u.global) out.stdout(`Triggered global unit ${u.name} stop\n`);
        else stopping.push(u.name);
      }
      if (attempts < 0) {
        for (const n of stopping) out.stdout(`Triggered unit ${n} stop\n`);
        return exit;
      }
      const late = await waitForUnits(
        driver,
        stopping,
        'loaded',
        { attempts, intervalMs: intervalOf(argv) },
        out,
      );
      return late.length > 0 ? ExitCode.Failure : exit;
    }),
};
