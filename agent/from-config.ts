/** An Agent built from fleet's configuration: the one way agent/main.ts and fleetd make it. */
import type { Etcd3 } from 'etcd3';
import type { FleetConfig } from '../lib/config.js';
import { advertisedApiEndpoint } from '../lib/api-endpoint.js';
import type { Logger } from '../lib/log.js';
import type { Registry } from '../lib/registry/index.js';
import { Agent } from './agent.js';
import { leaseFilePath } from './lease-file.js';
import { machineIdFrom } from './machine-id.js';

export function agentFromConfig(
  config: FleetConfig,
  deps: { client: Etcd3; registry: Registry; log: Logger; signal?: AbortSignal },
): Agent {
  const apiEndpoint = advertisedApiEndpoint(config);
  return new Agent({
    client: deps.client,
    registry: deps.registry,
    machineId: machineIdFrom(config.machineIdFile),
    ttlSeconds: config.agentTtlSeconds,
    unitsDirectory: config.unitsDirectory,
    leaseFile: leaseFilePath(config.unitsDirectory),
    ...(config.publicIp ? { publicIp: config.publicIp } : {}),
    ...(apiEndpoint ? { apiEndpoint } : {}),
    metadata: config.metadata,
    // FLEET_AGENT_BUS_ADDRESS: another D-Bus than the system bus (tests, a machine seen from its host)
    ...(process.env.FLEET_AGENT_BUS_ADDRESS ? { busAddress: process.env.FLEET_AGENT_BUS_ADDRESS } : {}),
    log: deps.log,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
}
