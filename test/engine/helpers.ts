/** Builds cluster views from literals for planner tests. */
import { createHash } from 'node:crypto';
import { ClusterModel, type ModelMachine } from '../../engine/model.js';
import { UnitReader, type DesiredState, type ModelUnit } from '../../engine/unit-info.js';
import { applyDecisions } from '../../engine/apply-model.js';
import { plan, type Plan } from '../../engine/planner.js';

const reader = new UnitReader();

export interface UnitSpec {
  name: string;
  /** [X-Fleet] lines, e.g. ['Conflicts=web*']. */
  xfleet?: string[];
  /** Extra sections appended verbatim. */
  extra?: string;
  state?: DesiredState;
}

export function unitBody(spec: UnitSpec): string {
  const lines = ['[Unit]', `Description=${spec.name}`, '', '[Service]', 'ExecStart=/bin/true'];
  if (spec.name.endsWith('.socket')) {
    lines.splice(3, 2, '[Socket]', 'ListenStream=8080');
  }
  if (spec.extra) lines.push('', spec.extra);
  if (spec.xfleet && spec.xfleet.length > 0) lines.push('', '[X-Fleet]', ...spec.xfleet);
  return lines.join('\n') + '\n';
}

/** The model's record of a unit given as a spec (or a bare name). */
export function modelUnit(raw: UnitSpec | string): ModelUnit {
  const spec = typeof raw === 'string' ? { name: raw } : raw;
  const body = unitBody(spec);
  return reader.read({
    name: spec.name,
    body,
    hash: createHash('sha256').update(body).digest('hex').slice(0, 16),
    desiredState: spec.state ?? 'launched',
  });
}

export function model(
  units: (UnitSpec | string)[],
  machines: (string | (Partial<ModelMachine> & { id: string }))[],
  assignments: Record<string, string | string[]> = {},
): ClusterModel {
  const m = new ClusterModel();
  for (const raw of units) m.putUnit(modelUnit(raw));
  for (const raw of machines) {
    const mm = typeof raw === 'string' ? { id: raw } : raw;
    m.putMachine({ id: mm.id, metadata: mm.metadata ?? {}, draining: mm.draining ?? false });
  }
  for (const [unit, where] of Object.entries(assignments)) {
    const u = m.units.get(unit);
    for (const machineId of Array.isArray(where) ? where : [where]) {
      m.putAssignment({
        unit,
        machineId,
        hash: u?.hash ?? 'gone',
        desiredState: u?.desiredState === 'loaded' ? 'loaded' : 'launched',
      });
    }
  }
  return m;
}

/** unit -> sorted machines, after the plan is applied. */
export function placements(m: ClusterModel): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [unit, per] of [...m.assignments].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const ids = [...per.keys()].sort();
    out[unit] = m.units.get(unit)?.requirements.global ? ids : ids.length === 1 ? ids[0]! : ids;
  }
  return out;
}

/** Plans, applies the decisions to the model, and returns the plan. */
export function step(m: ClusterModel, now = 0): Plan {
  const p = plan(m, now);
  applyDecisions(m, p.decisions);
  return p;
}

export function reasonsOf(p: Plan, unit: string): string[] {
  return p.unplaced.find((u) => u.unit === unit)?.reasons ?? [];
}
