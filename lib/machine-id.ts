/** This machine's ID, as systemd keeps it in /etc/machine-id (machine_id_file). */
import { readFileSync } from 'node:fs';

/** The trimmed contents of the machine-id file, or undefined when it is missing or empty. */
export function readMachineId(file: string): string | undefined {
  try {
    const id = readFileSync(file, 'utf8').trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}
