/**
 * `fleetctl destroy [--no-block|--block-attempts=N] UNIT...`: removes units from the cluster (their
 * machines stop and unload them) in one batch, waits until no machine has them loaded, then prints
 * `Destroyed NAME` for each.
 */
import { ExitCode } from '../output.js';
import { waitForUnits } from '../wait.js';
import { existingUnitsCommand } from './existing-units.js';

export const destroyCommand = existingUnitsCommand({
  name: 'destroy',
  describe: 'Destroy one or more units in the cluster',
  blockWhat: 'gone from every machine',
  run: async ({ driver, out, found, exit, attempts, intervalMs }) => {
    // A unit destroyed by someone else meanwhile is gone all the same.
    const names = found.map((u) => u.name);
    await driver.destroyUnits(names);
    const late =
      attempts < 0 ? [] : await waitForUnits(driver, names, 'destroyed', { attempts, intervalMs }, out);
    for (const n of names) if (!late.includes(n)) out.stdout(`Destroyed ${n}\n`);
    return late.length > 0 ? ExitCode.Failure : exit;
  },
});
