/** A unit named on the command line of status/journal: "web" means web.service; checked first. */
import { unitNameProblem } from '../../units/names.js';
import { UsageError } from '../cli.js';
import { unitNameOf } from '../lazy.js';

export function unitNameArg(arg: string): string {
  const name = unitNameOf(arg);
  const problem = unitNameProblem(name);
  if (problem !== null) throw new UsageError(`${JSON.stringify(arg)} is not a unit name: ${problem}`);
  return name;
}
