/**
 * `fleetctl start [--no-block|--block-attempts=N] [--replace] UNIT...`: lazily submits the units
 * (see lazy.ts), sets their desired state to launched and waits until the engine has placed them and
 * systemd on their machine agrees, printing `Unit NAME launched on MACHINE.../IP`. With --replace, a
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

export const startCommand: CommandModule<object, Args> = {
  command: 'start <units..>',
  describe:
    'Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary',
  builder: (y) =>
    blockOptions(unitsPositional(y), 'launched').option('replace', {
      type: 'boolean',
      default: false,
      describe: 'replace the files of units already in the cluster with the local ones',
    }) as never,
  handler: (argv) =>
    withDriver(argv, (driver, out) =>
      runTransition(driver, out, argv.units, {
        command: 'start',
        replace: argv.replace,
        attempts: blockAttemptsOf(argv),
        intervalMs: intervalOf(argv),
      }),
    ),
};
