/**
 * fleetd's agent: this machine's presence and the units assigned to it, applied through systemd.
 * Stopping it is leaving (units stopped, lease revoked, so they are re-placed at once), unless
 * systemd is restarting fleetd (then the units keep running and are adopted); a reload republishes
 * the machine's metadata and public IP.
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
    // fleetd's abort only cancels a start still in progress: once started, stop() decides
    // whether stopping is leaving (an abort-driven stop would keep the units running).
    const agent = agentFromConfig(config, { client, registry, log });
    this.agent = agent;
    let started = false;
    signal.addEventListener('abort', () => void (started ? undefined : agent.stop()), { once: true });
    await agent.start();
    started = true;
    log.info('agent started', {
      machine: agent.machineId,
      lease: agent.leaseId,
      ttl: config.agentTtlSeconds,
    });
  }

  /**
   * `systemctl stop fleetd` (or a plain SIGTERM) leaves: units stopped, lease revoked, re-placed at
   * once. `systemctl restart fleetd` does not: units keep running and the next fleetd adopts them.
   */
  async stop(): Promise<void> {
    const agent = this.agent;
    if (!agent) return;
    const restarting = await agent.restartPending();
    if (restarting)
      this.ctx.log.info(
        'systemd is restarting fleetd: leaving the units running for the next agent to adopt',
      );
    await agent.stop({ leave: !restarting });
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
