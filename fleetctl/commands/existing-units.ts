/**
 * The shape shared by the commands that act on units already in the cluster (stop, unload, destroy,
 * restart): the units positional and the blocking flags, one batched read of the named units
 * (findUnits), the missing ones named on stderr; then the command's own step.
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import type { Driver, UnitInfo } from '../driver.js';
import { findUnits } from '../lazy.js';
import type { Output } from '../output.js';
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

export interface ExistingUnitsStep {
  driver: Driver;
  out: Output;
  /** The named units in the cluster, in argument order, each once. */
  found: UnitInfo[];
  /** ExitCode.Failure when some named units were missing (already reported). */
  exit: number;
  /** -1: --no-block; 0: no limit; N attempts. */
  attempts: number;
  intervalMs: number;
}

export function existingUnitsCommand(spec: {
  /** The verb, as typed and as in "nothing to VERB". */
  name: string;
  describe: string;
  /** "wait until the units are WHAT" in the flags' help. */
  blockWhat: string;
  /** Offer --no-block (restart always blocks). */
  noBlock?: boolean;
  run: (step: ExistingUnitsStep) => Promise<number>;
}): CommandModule<object, Args> {
  return {
    command: `${spec.name} <units..>`,
    describe: spec.describe,
    builder: (y) => blockOptions(unitsPositional(y), spec.blockWhat, spec.noBlock ?? true) as never,
    handler: (argv) =>
      withDriver(argv, async (driver, out) => {
        const attempts = blockAttemptsOf(argv);
        const intervalMs = intervalOf(argv);
        const { found, missing } = await findUnits(argv.units, driver);
        const exit = reportMissing(missing, out, spec.name);
        return spec.run({ driver, out, found, exit, attempts, intervalMs });
      }),
  };
}
