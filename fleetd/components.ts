/**
 * What fleetd runs besides its API. Empty until agent/ and engine/ land: then add their factories
 * here (see fleetd/component.ts for the interface and an example). Until then fleetd serves the
 * API over the registry and nothing else.
 */
import type { ComponentFactory } from './component.js';

export const DEFAULT_COMPONENTS: readonly ComponentFactory[] = [];
