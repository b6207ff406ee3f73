/** MachineID=: the full machine ID or its 8-character short form (fleet's MatchID). */
import { machineIdMatches } from '../../units/index.js';
import type { Checker } from './types.js';

export const checkMachineId: Checker = (unit, machine) => {
  const want = unit.requirements.machineId;
  if (want === null || machineIdMatches(want, machine.id)) return null;
  return {
    rule: 'machine-id',
    key: `MachineID=${want}`,
    detail: `machine ${machine.id} is not MachineID=${want}`,
  };
};
