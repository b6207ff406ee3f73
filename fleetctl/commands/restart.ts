/**
 * `fleetctl restart [--block-attempts=N] UNIT...`: a rolling restart, one unit at a time: stop it
 * (desired loaded) and wait until systemd agrees, then start it and wait again. A stopped unit is
 * just started. Always blocking (a restart must see the stop); global units do not wait.
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import type { DesiredState, Driver, UnitInfo } from '../driver.js';
import { findUnits } from '../lazy.js';
import { ExitCode, type Output } from '../output.js';
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

async function setAndWait(
  driver: Driver,
  out: Output,
  u: UnitInfo,
  state: DesiredState,
  attempts: number,
  intervalMs: number,
): Promise<boolean> {
  await driver.setDesiredState(u.name, state);
  if (u.global) return true;
  const late = await waitForUnits(driver, [u.name], state, { attempts, intervalMs }, out);
  return late.length === 0;
}

export const restartCommand: CommandModule<object, Args> = {
  command: 'restart <units..>',
  describe: 'Instruct systemd to rolling-restart one or more units in the cluster',
  builder: (y) => blockOptions(unitsPositional(y), 'stopped and started again', false) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const attempts = blockAttemptsOf(argv);
      const interval = intervalOf(argv);
      const { found, missing } = await findUnits(argv.units, driver);
      const exit = reportMissing(missing, out, 'restart');
      if (found.length === 0) return ExitCode.Failure;
      for (const u of found) {
        if (u.desiredState === 'inactive' && !u.global) {
          out.stderr(
            `Unable to restart unit ${u.name} in state inactive; start it with fleetctl start ${u.name}\n`,
          );
          return ExitCode.Failure;
        }
        if (u.desiredState === 'loaded') {
          if (!(await setAndWait(driver, out, u, 'launched', attempts, interval))) return ExitCode.Failure;
          continue;
        }
        if (!(await setAndWait(driver, out, u, 'loaded', attempts, interval))) return ExitCode.Failure;
        if (!(await setAndWait(driver, out, u, 'launched', attempts, interval))) return ExitCode.Failure;
        out.stdout(`Unit(${u.name}) was restarted.\n`);
      }
      return exit;
    }),
};
