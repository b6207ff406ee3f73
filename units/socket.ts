/** Socket activation: which unit a .socket hands its connections to (pure). */
import { parseUnitName } from './names.js';
import type { ParsedUnit } from './types.js';
import { isTruthy } from './x-fleet.js';

/** Which unit a socket activates, as systemd decides it (Service=, else Accept=, else same name). */
export function socketTarget(socketName: string, unit: ParsedUnit): { service?: string; template?: string } {
  let service: string | undefined;
  let accept = false;
  for (const o of unit.options) {
    if (o.section !== 'Socket') continue;
    if (o.name === 'Service') service = o.value.trim() || undefined;
    if (o.name === 'Accept') accept = isTruthy(o.value.trim());
  }
  if (service !== undefined) return { service };
  const info = parseUnitName(socketName);
  if (accept) return { template: `${info.prefix}@.service` };
  return { service: `${info.name}.service` };
}
