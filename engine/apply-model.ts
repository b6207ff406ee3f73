/**
 * Applies a plan's decisions to a model as if they had been written (pure; tests, the bench, and
 * the planner's convergence properties use it).
 */
import type { ClusterModel } from './model.js';
import type { Decision } from './planner.js';

export function applyDecisions(model: ClusterModel, decisions: readonly Decision[]): void {
  for (const d of decisions) {
    if (d.type === 'unplace') {
      model.deleteAssignment(d.unit, d.machineId);
      continue;
    }
    const u = model.units.get(d.unit);
    if (!u || u.desiredState === 'inactive') continue;
    model.putAssignment({ unit: d.unit, machineId: d.machineId, hash: u.hash, desiredState: u.desiredState });
  }
}
