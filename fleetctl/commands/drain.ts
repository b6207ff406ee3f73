/**
 * `fleetctl drain MACHINE` / `fleetctl undrain MACHINE` (beyond fleet): a draining machine takes no
 * new units. MACHINE is an ID, or an unambiguous prefix of one (list-machines shows 8 characters
 * and "...").
 */
import type { CommandModule } from 'yargs';
import { withDriver, type GlobalArgs } from '../cli.js';
import { DriverError, type Driver } from '../driver.js';
import { ExitCode } from '../output.js';

type Args = GlobalArgs & { machine: string };

/** An ID, or the one machine whose ID starts with the given text ("..." allowed). Pure. */
export function resolveMachineId(
  given: string,
  ids: readonly string[],
): { ok: true; id: string } | { ok: false; reason: string } {
  const text = given.replace(/\.\.\.$/, '');
  if (ids.includes(text)) return { ok: true, id: text };
  const matches = text === '' ? [] : ids.filter((id) => id.startsWith(text));
  if (matches.length === 1) return { ok: true, id: matches[0]! };
  if (matches.length === 0)
    return { ok: false, reason: `no machine ${given} in the cluster; see fleetctl list-machines --full` };
  return {
    ok: false,
    reason: `${given} matches ${matches.length} machines (${matches.join(', ')}); give more of the ID`,
  };
}

async function setDraining(driver: Driver, given: string, draining: boolean): Promise<string> {
  const r = resolveMachineId(
    given,
    (await driver.listMachines()).map((m) => m.id),
  );
  if (!r.ok) throw new DriverError('MACHINE_NOT_FOUND', r.reason);
  await driver.setDraining(r.id, draining);
  return r.id;
}

function command(draining: boolean): CommandModule<object, Args> {
  const name = draining ? 'drain' : 'undrain';
  return {
    command: `${name} <machine>`,
    describe: draining ? 'Stop placing new units on a machine' : 'Let a drained machine take new units again',
    builder: (y) =>
      y.positional('machine', {
        type: 'string',
        demandOption: true,
        describe: 'a machine ID or an unambiguous prefix',
      }) as never,
    handler: (argv) =>
      withDriver(argv, async (driver, out) => {
        const id = await setDraining(driver, String(argv.machine), draining);
        out.stdout(
          draining
            ? `Machine ${id} is draining: it takes no new units\n`
            : `Machine ${id} takes new units again\n`,
        );
        return ExitCode.Ok;
      }),
  };
}

export const drainCommand = command(true);
export const undrainCommand = command(false);
