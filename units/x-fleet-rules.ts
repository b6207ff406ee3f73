/**
 * The [X-Fleet] combinations fleet refuses (api/units.go ValidateOptions, as of fleet 0.13 with
 * Replaces and global Conflicts), each as a problem with a reason and a line. fleet stops at the
 * first; we report them all. Pure: no I/O.
 *
 * - MachineOf whose target is matched by the unit's own Conflicts or Replaces: unresolvable.
 * - MachineID with MachineOf, Conflicts, Global or Replaces.
 * - Global with MachineOf or Replaces (Global with Conflicts is allowed since fleet 0.13).
 * - Conflicts with Replaces.
 * Beyond fleet: MachineOf naming the unit itself (it could never be placed).
 */
import { globMatch } from './glob.js';
import { problem, ProblemCode, type UnitProblem } from './problems.js';
import type { FleetRequirements, RequirementSources } from './x-fleet.js';

function firstLine(lines: ReadonlyMap<string, number>): number | null {
  let min: number | null = null;
  for (const line of lines.values()) if (min === null || line < min) min = line;
  return min;
}

export function checkCombinations(
  req: FleetRequirements,
  sources: RequirementSources,
  unitName: string | null,
): UnitProblem[] {
  const out: UnitProblem[] = [];

  for (const target of req.machineOf) {
    const line = sources.machineOf.get(target) ?? null;
    if (unitName !== null && target === unitName) {
      out.push(
        problem(
          ProblemCode.Unresolvable,
          line,
          `unresolvable requirements: MachineOf=${target} names this unit itself; it could never be placed`,
        ),
      );
    }
    for (const [kind, list] of [
      ['Conflicts', req.conflicts],
      ['Replaces', req.replaces],
    ] as const) {
      for (const pattern of list) {
        if (globMatch(pattern, target)) {
          out.push(
            problem(
              ProblemCode.Unresolvable,
              line,
              `unresolvable requirements: MachineOf=${target} is matched by ${kind}=${pattern}; the unit must run next to a unit it ${kind === 'Conflicts' ? 'conflicts with' : 'replaces'}`,
            ),
          );
        }
      }
    }
  }

  const machineId = req.machineId !== null;
  const peers = req.machineOf.length > 0;
  const conflicts = req.conflicts.length > 0;
  const replaces = req.replaces.length > 0;
  const global = req.global;
  const refuse = (a: string, b: string, line: number | null, why: string): void => {
    out.push(problem(ProblemCode.Combination, line, `${a} cannot be used with ${b}: ${why}`));
  };

  if (machineId && peers) {
    refuse(
      'MachineID',
      'MachineOf',
      firstLine(sources.machineOf),
      'a unit pinned to one machine cannot follow another unit; keep one of them',
    );
  }
  if (machineId && conflicts) {
    refuse(
      'MachineID',
      'Conflicts',
      firstLine(sources.conflicts),
      'a unit pinned to one machine cannot move away from a conflict; keep one of them',
    );
  }
  if (machineId && global) {
    refuse(
      'MachineID',
      'Global',
      sources.global,
      'a global unit runs on every fitting machine; use MachineMetadata to narrow it instead',
    );
  }
  if (machineId && replaces) {
    refuse(
      'MachineID',
      'Replaces',
      firstLine(sources.replaces),
      'a unit pinned to one machine cannot displace units elsewhere; keep one of them',
    );
  }
  if (global && peers) {
    refuse(
      'Global',
      'MachineOf',
      firstLine(sources.machineOf),
      'a global unit runs on every fitting machine, not next to one unit',
    );
  }
  if (global && replaces) {
    refuse(
      'Global',
      'Replaces',
      firstLine(sources.replaces),
      'a global unit runs on every fitting machine and cannot displace units',
    );
  }
  if (conflicts && replaces) {
    refuse(
      'Conflicts',
      'Replaces',
      firstLine(sources.replaces),
      'Replaces already keeps the replaced units off this machine; use one of them',
    );
  }
  return out;
}
