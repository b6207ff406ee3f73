/**
 * `fleetctl submit [--replace] UNIT...`: upload unit files to the cluster without scheduling them
 * (desired state inactive). A UNIT is a file path, a name found in the working directory, or an
 * instance whose template is in the cluster or next to it on disk. Existing units are left alone
 * (with a warning when the local file differs) unless --replace, which swaps the file of an
 * inactive unit. Everything is checked before anything is written.
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import { applyPlans, planUnits } from '../lazy.js';
import { ExitCode } from '../output.js';
import { unitsPositional, type UnitsArgs } from './common.js';

type Args = GlobalArgs & UnitsArgs & { replace: boolean };

export const submitCommand: CommandModule<object, Args> = {
  command: 'submit <units..>',
  describe: 'Upload one or more units to the cluster without starting them',
  builder: (y) =>
    unitsPositional(y).option('replace', {
      type: 'boolean',
      default: false,
      describe: 'replace the files of units already in the cluster (only inactive ones)',
    }) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const plans = await planUnits(
        argv.units,
        driver,
        { command: 'submit', replace: argv.replace, refuseTemplates: false },
        out,
      );
      const written = await applyPlans(plans, driver, 'inactive');
      const changed = new Set([...written.created, ...written.replaced]);
      for (const p of plans) if (changed.has(p.name)) out.stdout(`Unit ${p.name} inactive\n`);
      return ExitCode.Ok;
    }),
};
