/**
 * What fleetd runs besides its API, in start order (stopped in reverse): the engine candidate,
 * then the agent. Stopping the agent first on SIGTERM lets a still-running engine leader re-place
 * this machine's units at once. See fleetd/component.ts for the interface.
 */
import { agentComponent } from './agent-component.js';
import type { ComponentFactory } from './component.js';
import { engineComponent } from './engine-component.js';

export const DEFAULT_COMPONENTS: readonly ComponentFactory[] = [engineComponent, agentComponent];
