/**
 * `fleetctl apply DIR [--prune] [--watch] [--no-block]`: makes the cluster match a directory of unit
 * files, like `kubectl apply -f DIR`. The deciding is lib/apply's (the same code fleetd runs for its
 * unit_source_directory); this file only wires it to the driver and the terminal. See docs/apply.md.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import { ExitCode } from '../output.js';
import { blockAttemptsOf, blockOptions, intervalOf, type BlockArgs } from './common.js';

type Args = GlobalArgs & BlockArgs & { dir: string; prune: boolean; watch: boolean };

export const applyCommand: CommandModule<object, Args> = {
  command: 'apply <dir>',
  describe:
    'Make the cluster match a directory of unit files: submit and start new ones, replace changed ones (instances one at a time), and with --prune destroy those whose file is gone',
  builder: (y) =>
    blockOptions(
      y
        .positional('dir', { type: 'string', demandOption: true, describe: 'the directory of unit files' })
        .option('prune', {
          type: 'boolean',
          default: false,
          describe: 'destroy units that came from this directory and whose file is gone',
        })
        .option('watch', {
          type: 'boolean',
          default: false,
          describe: 'keep applying as files change, until interrupted (SIGINT/SIGTERM)',
        }),
      'launched',
    ) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      // Loaded here: the command registry stays cheap for --help and the fast path.
      const { applyFiles, fleetctlSource, keepApplied, readSourceDirectory } =
        await import('../../lib/apply/index.js');
      const { DriverApplyTarget } = await import('../apply/driver-target.js');
      const dir = resolve(argv.dir);
      const source = fleetctlSource(hostname(), dir);
      const attempts = blockAttemptsOf(argv);
      const target = new DriverApplyTarget(driver, out, {
        attempts: Math.max(0, attempts),
        intervalMs: intervalOf(argv),
      });
      const print = {
        info: (l: string) => out.stdout(l + '\n'),
        problem: (l: string) => out.stderr(`fleetctl: ${l}\n`),
      };
      let first = true;
      const once = async (): Promise<boolean> => {
        const files = readSourceDirectory(dir);
        const r = await applyFiles(
          files,
          target,
          source,
          { prune: argv.prune, wait: attempts >= 0, showUnchanged: first },
          print,
        );
        first = false;
        return !r.failed;
      };
      if (!argv.watch) return (await once()) ? ExitCode.Ok : ExitCode.Failure;

      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let ok = true;
      try {
        await keepApplied(
          dir,
          async () => {
            try {
              ok = await once();
            } catch (e) {
              ok = false;
              print.problem(`${e instanceof Error ? e.message : String(e)} (still watching ${dir})`);
            }
          },
          { signal: stop.signal, onWatchError: print.problem },
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      return ok ? ExitCode.Ok : ExitCode.Failure;
    }),
};
