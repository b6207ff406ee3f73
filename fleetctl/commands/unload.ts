/**
 * `fleetctl unload [--no-block|--block-attempts=N] UNIT...`: unschedules units (desired state
 * inactive) and waits until no machine has them loaded.
 */
import { ExitCode } from '../output.js';
import { waitForUnits } from '../wait.js';
import { existingUnitsCommand } from './existing-units.js';

export const unloadCommand = existingUnitsCommand({
  name: 'unload',
  describe: 'Unschedule one or more units in the cluster',
  blockWhat: 'inactive',
  run: async ({ driver, out, found, exit, attempts, intervalMs }) => {
    const acted = found.filter(
      (u) => u.global || u.desiredState !== 'inactive' || u.currentState !== 'inactive',
    );
    await driver.setDesiredStates(
      acted.filter((u) => u.desiredState !== 'inactive').map((u) => ({ name: u.name, state: 'inactive' })),
    );
    for (const u of acted) if (u.global) out.stdout(`Triggered global unit ${u.name} unload\n`);
    const wait = acted.filter((u) => !u.global).map((u) => u.name);
    if (attempts < 0) {
      for (const n of wait) out.stdout(`Triggered unit ${n} unload\n`);
      return exit;
    }
    const late = await waitForUnits(driver, wait, 'inactive', { attempts, intervalMs }, out);
    return late.length > 0 ? ExitCode.Failure : exit;
  },
});
