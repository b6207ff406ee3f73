/**
 * `fleetctl stop [--no-block|--block-attempts=N] UNIT...`: sets launched units to loaded (stopped
 * but still loaded on their machine) and waits until systemd agrees. A unit that is not loaded
 * anywhere cannot be stopped (exit 1, as fleet); already-stopped units are skipped.
 */
import { ExitCode } from '../output.js';
import { waitForUnits } from '../wait.js';
import { existingUnitsCommand } from './existing-units.js';

export const stopCommand = existingUnitsCommand({
  name: 'stop',
  describe: 'Instruct systemd to stop one or more units in the cluster',
  blockWhat: 'stopped',
  run: async ({ driver, out, found, exit, attempts, intervalMs }) => {
    const set = [];
    for (const u of found) {
      if (!u.global) {
        if (u.desiredState === 'inactive') {
          out.stderr(`Unable to stop unit ${u.name} in state inactive; load or start it first\n`);
          exit = ExitCode.Failure;
          continue;
        }
        if (u.desiredState === 'loaded') continue;
      }
      set.push(u);
    }
    await driver.setDesiredStates(set.map((u) => ({ name: u.name, state: 'loaded' })));
    for (const u of set) if (u.global) out.stdout(`Triggered global unit ${u.name} stop\n`);
    const stopping = set.filter((u) => !u.global).map((u) => u.name);
    if (attempts < 0) {
      for (const n of stopping) out.stdout(`Triggered unit ${n} stop\n`);
      return exit;
    }
    const late = await waitForUnits(driver, stopping, 'loaded', { attempts, intervalMs }, out);
    return late.length > 0 ? ExitCode.Failure : exit;
  },
});
