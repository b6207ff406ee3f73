/**
 * fleetd's engine candidate: an Engine campaigning under this machine's ID. Every fleetd runs
 * one unless disable_engine is set (fleetd skips factories of role "engine" then).
 */
import { Engine } from '../engine/engine.js';
import { machineName } from '../lib/machine-id.js';
import type { Component, ComponentContext, ComponentFactory } from './component.js';

class EngineComponent implements Component {
  private engine: Engine | undefined;

  constructor(private readonly ctx: ComponentContext) {}

  async start(signal: AbortSignal): Promise<void> {
    const { config, registry, log } = this.ctx;
    const candidate = machineName(config.machineIdFile);
    const engine = new Engine({
      registry,
      candidate,
      leaseTtlSeconds: config.engineLeaseTtlSeconds,
      reconcileIntervalMs: config.engineReconcileIntervalMs,
      ...(this.ctx.parseCache ? { parseCache: this.ctx.parseCache } : {}),
      log,
      signal,
    });
    engine.on('elected', () => log.info(`engine: ${candidate} is the leader`));
    engine.on('deposed', (e) => log.warn(`engine: ${candidate} is no longer the leader (${e.message})`));
    engine.on('error', (e) => log.error(`engine: ${e.message}`));
    this.engine = engine;
    await engine.start();
  }

  async stop(): Promise<void> {
    await this.engine?.stop();
    this.engine = undefined;
  }
}

export const engineComponent: ComponentFactory = {
  name: 'engine',
  role: 'engine',
  create: (ctx) => new EngineComponent(ctx),
};
