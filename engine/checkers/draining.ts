/** A draining machine takes no new units (beyond fleet), and gives back the ones it has. */
import type { Checker } from './types.js';

export const checkDraining: Checker = (_unit, machine) =>
  machine.draining
    ? { rule: 'draining', key: 'draining', detail: `machine ${machine.id} is draining` }
    : null;
