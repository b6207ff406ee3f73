/** This machine's ID, as systemd keeps it in /etc/machine-id (machine_id_file). */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** The trimmed contents of the machine-id file, or undefined when it is missing or empty. */
export function readMachineId(file: string): string | undefined {
  try {
    const id = readFileSync(file, 'utf8').trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}

/**
 * The name this machine's engine campaigns under in the engine election (fleetd's engine candidate,
 * and what `fleetd fence` resigns): its machine ID, or the host name without one.
 */
export function engineCandidate(machineIdFile: string): string {
  return readMachineId(machineIdFile) ?? hostname();
}
