/**
 * What fleetd runs besides its API, in start order (stopped in reverse): the engine candidate,
 * then the agent, then the units directory (unit_source_directory; nothing when it is empty). Stopping the agent first on SIGTERM lets a still-running engine leader re-place
 * this machine's units at once. See fleetd/component.ts for the interface.
 */
import { agentComponent } from './agent-component.js';
import { applyComponent } from './apply-component.js';
import type { ComponentFactory } from './component.js';
import { engineComponent } from './engine-component.js';

export const DEFAULT_COMPONENTS: readonly ComponentFactory[] = [
  engineComponent,
  agentComponent,
  // Last: started once this machine is in the cluster; stopped first.
  applyComponent,
];
