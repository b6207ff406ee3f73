/**
 * `fleetctl load [--no-block|--block-attempts=N] [--replace] UNIT...`: lazily submits the units
 * (see lazy.ts), sets their desired state to loaded and waits until the engine has placed them and
 * systemd on their machine agrees, printing `Unit NAME loaded on MACHINE.../IP`. With --replace, a
 * unit whose local file differs gets the new file (and is waited for again).
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import {
  blockAttemptsOf,
  blockOptions,
  intervalOf,
  unitsPositional,
  type BlockArgs,
  type UnitsArgs,
} from './common.js';
import { runTransition } from './transition.js';

type Args = GlobalArgs & UnitsArgs & BlockArgs & { replace: boolean };

export const loadCommand: CommandModule<object, Args> = {
  command: 'load <units..>',
  describe: 'Schedule one or more units in the cluster, first submitting them if necessary',
  builder: (y) =>
    blockOptions(unitsPositional(y), 'loaded').option('replace', {
      type: 'boolean',
      default: false,
      describe: 'replace the files of units already in the cluster with the local ones',
    }) as never,
  handler: (argv) =>
    withDriver(argv, (driver, out) =>
      runTransition(driver, out, argv.units, {
        command: 'load',
        replace: argv.replace,
        attempts: blockAttemptsOf(argv),
        intervalMs: intervalOf(argv),
      }),
    ),
};
