import { readMachineId } from '../lib/machine-id.js';
import { AgentError } from './errors.js';

/** The machine ID from machine_id_file (lib/machine-id), or a typed error saying what to do. */
export function machineIdFrom(path: string): string {
  const id = readMachineId(path);
  if (id === undefined || !/^[A-Za-z0-9._:-]+$/.test(id)) {
    throw new AgentError(
      'MACHINE_ID',
      `${path} holds no usable machine ID${id === undefined ? ' (missing or empty)' : ` ("${id}")`}; run systemd-machine-id-setup or set machine_id_file`,
    );
  }
  return id;
}
