/**
 * `fleetctl status UNIT...`: `systemctl status` of each unit on the machine it runs on, read from
 * that machine's fleetd (fleet used SSH; see docs/fleetctl.md). Exit 0 when systemd knows every
 * unit (running or not), 1 otherwise.
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import { DriverError } from '../driver.js';
import { ExitCode } from '../output.js';
import { unitNameArg } from './unit-arg.js';

type Args = GlobalArgs & { units: string[] };

/** systemctl status: 0 active, 3 not active (both a status); anything else is a failure. */
const KNOWN_TO_SYSTEMD = new Set([0, 3]);

export const statusCommand: CommandModule<object, Args> = {
  command: 'status <units..>',
  describe: "Output the systemd status of one or more units, from the fleetd of the unit's machine",
  builder: (y) =>
    y.positional('units', {
      type: 'string',
      array: true,
      demandOption: true,
      describe: 'unit names',
    }) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const names = argv.units.map((u) => unitNameArg(String(u)));
      let status: number = ExitCode.Ok;
      for (const [i, name] of names.entries()) {
        if (i > 0) out.stdout('\n');
        try {
          const r = await driver.unitOutput(name, { kind: 'status' }, (c) => out.stdout(c.toString('utf8')));
          if (r.exitStatus !== undefined && !KNOWN_TO_SYSTEMD.has(r.exitStatus)) {
            out.stderr(
              `fleetctl: systemctl status ${name} exited with ${r.exitStatus} on machine ${r.machineId ?? '(unknown)'}; the unit may not be loaded there yet (see fleetctl list-units)\n`,
            );
            status = ExitCode.Failure;
          }
        } catch (e) {
          if (names.length === 1 || !(e instanceof DriverError)) throw e;
          out.stderr(`fleetctl: ${e.message}\n`);
          status = ExitCode.Failure;
        }
      }
      return status;
    }),
};
