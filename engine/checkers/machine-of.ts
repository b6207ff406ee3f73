/**
 * MachineOf= (and the implicit one of a socket-activated service on its socket): every peer must be
 * placed on this machine (fleet: "required peer is not scheduled locally").
 */
import type { Checker } from './types.js';

export const checkMachineOf: Checker = (unit, machine, ctx) => {
  for (const peer of ctx.peersOf(unit)) {
    const at = ctx.placement(peer);
    if (at !== machine.id) {
      return {
        rule: 'machine-of',
        key: `MachineOf=${peer}`,
        detail:
          at === undefined
            ? `${peer} (MachineOf) is not placed`
            : `${peer} (MachineOf) is on machine ${at}, not ${machine.id}`,
      };
    }
  }
  return null;
};
