/**
 * fleetctl: the command-line interface to fleet-ts. The command tree lives in fleetctl/commands/
 * (yargs, in cli-tree.ts). Kept light at start-up: plain command lines of the cluster commands are
 * parsed by fast-args.ts and run without loading yargs; nothing here (or in a command module's top
 * level) imports an etcd client.
 */
import { chooseDriver } from './driver.js';
import { fastParse, unknownFlagVariables } from './fast-args.js';
import { FAST_MODULES } from './fast-commands.js';
import { ExitCode } from './output.js';

/** Starts loading the API driver's modules when the command line says it will be used. */
function prefetchDriver(values: Readonly<Record<string, unknown>>): void {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  if (chooseDriver(str('driver'), str('endpoint')) === 'api') {
    import('./drivers/api.js').catch(() => undefined); // a failure shows when the command opens it
  }
}

export async function main(argv: string[]): Promise<void> {
  // A switch for tests and debugging: FLEETCTL_SLOW_PATH=1 always parses with yargs.
  const slow = process.env.FLEETCTL_SLOW_PATH === '1';
  delete process.env.FLEETCTL_SLOW_PATH;
  for (const name of unknownFlagVariables(process.env)) {
    const flag = name.slice('FLEETCTL_'.length).toLowerCase().replace(/_/g, '-');
    process.stderr.write(
      `fleetctl: warning: ignoring environment variable ${name}: fleetctl has no --${flag} flag\n`,
    );
    delete process.env[name];
  }
  // fleet: `fleetctl --version` (or -v) is `fleetctl version`.
  if (!slow && argv.length === 1 && ['--version', '-v', 'version'].includes(argv[0]!)) {
    const { fleetctlVersion } = await import('./commands/version.js');
    process.stdout.write(`fleetctl version ${fleetctlVersion()}\n`);
    return;
  }
  const fast = slow ? undefined : fastParse(argv, process.env);
  const load = fast ? FAST_MODULES[fast.command] : undefined;
  if (fast && load) {
    // The driver the command will open, loaded meanwhile (both are chains of file reads).
    prefetchDriver(fast.values);
    const command = await load();
    if (command.handler) {
      await command.handler({ _: [fast.command], $0: 'fleetctl', ...fast.values });
      return;
    }
  }
  const { buildCli } = await import('./cli-tree.js');
  await buildCli(argv).parseAsync();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // A bug, not a user error: say so plainly, with the message but no stack trace.
  process.stderr.write(
    `fleetctl: unexpected internal error: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = ExitCode.Failure;
});
