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
 * This machine's name in the cluster where a missing machine-id file must not stop fleetd: its
 * machine ID, or the host name without one (the engine candidate's name, which `fleetd fence`
 * resigns; the units directory's source name).
 */
export function machineName(machineIdFile: string): string {
  return readMachineId(machineIdFile) ?? hostname();
}
