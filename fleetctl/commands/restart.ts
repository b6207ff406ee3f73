/**
 * `fleetctl restart [--block-attempts=N] UNIT...`: a rolling restart, one unit at a time: stop it
 * (desired loaded) and wait until systemd agrees, then start it and wait again. A stopped unit is
 * just started. Always blocking (a restart must see the stop); global units do not wait. The units
 * are read in one batch; the writes are one unit at a time by design (rolling).
 */
import type { DesiredState, UnitInfo } from '../driver.js';
import { ExitCode } from '../output.js';
import { waitForUnits } from '../wait.js';
import { existingUnitsCommand, type ExistingUnitsStep } from './existing-units.js';

async function setAndWait(s: ExistingUnitsStep, u: UnitInfo, state: DesiredState): Promise<boolean> {
  await s.driver.setDesiredStates([{ name: u.name, state }]);
  if (u.global) return true;
  const late = await waitForUnits(
    s.driver,
    [u.name],
    state,
    { attempts: s.attempts, intervalMs: s.intervalMs },
    s.out,
  );
  return late.length === 0;
}

export const restartCommand = existingUnitsCommand({
  name: 'restart',
  describe: 'Instruct systemd to rolling-restart one or more units in the cluster',
  blockWhat: 'stopped and started again',
  noBlock: false,
  run: async (s) => {
    if (s.found.length === 0) return ExitCode.Failure;
    for (const u of s.found) {
      if (u.desiredState === 'inactive' && !u.global) {
        s.out.stderr(
          `Unable to restart unit ${u.name} in state inactive; start it with fleetctl start ${u.name}\n`,
        );
        return ExitCode.Failure;
      }
      if (u.desiredState === 'loaded') {
        if (!(await setAndWait(s, u, 'launched'))) return ExitCode.Failure;
        continue;
      }
      if (!(await setAndWait(s, u, 'loaded'))) return ExitCode.Failure;
      if (!(await setAndWait(s, u, 'launched'))) return ExitCode.Failure;
      s.out.stdout(`Unit(${u.name}) was restarted.\n`);
    }
    return s.exit;
  },
});
