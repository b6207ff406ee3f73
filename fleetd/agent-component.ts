/**
 * fleetd's agent: this machine's presence and the units assigned to it, applied through systemd.
 * Stopping it is leaving (units stopped, lease revoked, so they are re-placed at once); a reload
 * republishes the machine's metadata and public IP.
 */
import type { Agent } from '../agent/agent.js';
import { agentFromConfig } from '../agent/from-config.js';
import type { FleetConfig } from '../lib/config.js';
import type { Component, ComponentContext, ComponentFactory } from './component.js';

class AgentComponent implements Component {
  private agent: Agent | undefined;

  constructor(private readonly ctx: ComponentContext) {}

  async start(signal: AbortSignal): Promise<void> {
    const { config, client, registry, log } = this.ctx;
    const agent = agentFromConfig(config, { client, registry, log, signal });
    this.agent = agent;
    await agent.start();
    log.info('agent started', {
      machine: agent.machineId,
      lease: agent.leaseId,
      ttl: config.agentTtlSeconds,
    });
  }

  async stop(): Promise<void> {
    await this.agent?.stop({ leave: true });
    this.agent = undefined;
  }

  async reload(config: FleetConfig): Promise<void> {
    await this.agent?.setIdentity({ metadata: config.metadata, publicIp: config.publicIp ?? '' });
  }
}

export const agentComponent: ComponentFactory = {
  name: 'agent',
  role: 'agent',
  create: (ctx) => new AgentComponent(ctx),
};
