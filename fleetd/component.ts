/**
 * The seam between fleetd and what it runs: the agent and the engine candidate (and anything else
 * long-lived). fleetd builds each from a factory with a context, starts them in order after the API
 * listeners are up, reloads them on SIGHUP and stops them in reverse order on SIGTERM.
 *
 * To plug the agent and the engine in, add their factories to DEFAULT_COMPONENTS in
 * fleetd/components.ts:
 *
 *   { name: 'agent', role: 'agent', create: (ctx) => new Agent({ registry: ctx.registry, ... }) }
 *   { name: 'engine', role: 'engine', create: (ctx) => new EngineCandidate({ ... }) }
 *
 * A factory of role "engine" is skipped when disable_engine is set, one of role "agent" when
 * disable_agent is set.
 */
import type { ParseCache } from '../engine/unit-info.js';
import type { Etcd3 } from 'etcd3';
import type { FleetConfig } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import type { Registry } from '../lib/registry/registry.js';
import type { PlacementExplainer } from './api/server.js';
import type { MetricsRegistry } from './metrics.js';

export interface Component {
  /**
   * Starts the component's work and resolves once it is running (the agent: registered its
   * machine). fleetd reports READY to systemd after every start has resolved. `signal` aborts when
   * fleetd stops; a component may also end early by rejecting.
   */
  start(signal: AbortSignal): Promise<void>;
  /** Stops cleanly (the agent leaves the cluster: stops its units and revokes its lease). */
  stop(): Promise<void>;
  /** Applies a reloaded configuration (SIGHUP); the agent republishes its metadata. */
  reload?(config: FleetConfig): Promise<void>;
}

export interface ComponentContext {
  /** The configuration at start (reload() receives later ones). */
  config: FleetConfig;
  client: Etcd3;
  registry: Registry;
  /** The registry's unit-file check, which keeps its last parse for the engine. */
  parseCache?: ParseCache;
  /** A logger named after the component; follows the reloaded verbosity. */
  log: Logger;
  /** Register metrics here (placements, reconcile latency...); served on /metrics. */
  metrics: MetricsRegistry;
  /** The engine answers GET /units/{name}/why through this (undefined removes it). */
  setPlacementExplainer(explain: PlacementExplainer | undefined): void;
}

export interface ComponentFactory {
  name: string;
  role: 'agent' | 'engine' | 'other';
  create(ctx: ComponentContext): Component;
}
