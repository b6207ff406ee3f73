/** The public API of engine/: the scheduler fleetd composes. */
export {
  Engine,
  EngineStoppedError,
  type EngineEvents,
  type EngineOptions,
  type AppliedInfo,
  type PlannedInfo,
} from './engine.js';
export { Applier, ApplyAbortedError, type ApplierOptions, type ApplyResult } from './applier.js';
export { ClusterModel, type ClusterView, type ModelAssignment, type ModelMachine } from './model.js';
export { plan, type Decision, type DecisionType, type Plan, type Unplaced } from './planner.js';
export { reasonsChanges } from './reasons.js';
export {
  ParseCache,
  UnitReader,
  socketTarget,
  type ModelUnit,
  type DesiredState,
  type UnitInput,
} from './unit-info.js';
export { applyDecisions } from './apply-model.js';
export { LoadIndex } from './load-index.js';
export * as checkers from './checkers/index.js';
