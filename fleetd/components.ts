/**
 * What fleetd runs besides its API, in start order (stopped in reverse): the engine candidate,
 * then (once agent/ lands) the agent. See fleetd/component.ts for the interface.
 */
import type { ComponentFactory } from './component.js';
import { engineComponent } from './engine-component.js';

export const DEFAULT_COMPONENTS: readonly ComponentFactory[] = [engineComponent];
