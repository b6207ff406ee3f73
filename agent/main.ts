/**
 * Runs one agent from the configuration (fleet.conf / FLEET_* / flags), as fleetd will:
 *
 *   node dist/agent/main.js [--config /etc/fleet/fleet.conf]
 *
 * FLEET_AGENT_BUS_ADDRESS points it at another D-Bus than the system bus. SIGTERM or SIGINT:
 * leave (stop this machine's units, revoke the lease) and exit 0. Exits 1 when it cannot start.
 */
import { loadConfig } from '../lib/config.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { Registry, registryOptionsFrom } from '../lib/registry/index.js';
import { agentFromConfig } from './from-config.js';

/** `--name value` / `--name=value` options; anything else is refused, naming it. */
function flagsFrom(argv: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) {
      throw new Error(
        `unexpected argument "${argv[i]!}": the agent takes only options, e.g. --config /etc/fleet/fleet.conf or --agent-ttl=30s (fleetd's subcommands, such as fence, are fleetd's: bin/fleetd.js)`,
      );
    }
    flags[m[1]!] = m[2] ?? argv[++i] ?? '';
  }
  return flags;
}

async function main(): Promise<number> {
  const flags = flagsFrom(process.argv.slice(2));
  const { config, warnings } = loadConfig({
    env: Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k !== 'FLEET_CONFIG' && k !== 'FLEET_AGENT_BUS_ADDRESS'),
    ),
    flags,
    ...(process.env.FLEET_CONFIG ? { configPath: process.env.FLEET_CONFIG } : {}),
  });
  const log = createLogger({ verbosity: config.verbosity, component: 'agent' });
  for (const w of warnings) log.warn(w);
  process.on('unhandledRejection', (e) => log.error(`unexpected failure (kept running): ${errorMessage(e)}`));

  const client = createEtcdClient(config);
  const registry = new Registry(client, registryOptionsFrom(config));
  registry.on('invalid', (r) => log.warn(r.message));
  const agent = agentFromConfig(config, { client, registry, log });
  const machineId = agent.machineId;
  let leaving: Promise<void> | undefined;
  const leave = (sig: string) => {
    leaving ??= (async () => {
      log.info(`${sig}: leaving (stopping this machine's units, revoking the lease)`);
      await agent.stop({ leave: true });
      client.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => leave('SIGTERM'));
  process.on('SIGINT', () => leave('SIGINT'));
  await agent.start();
  log.info('agent started', { machine: machineId, lease: agent.leaseId, ttl: config.agentTtlSeconds });
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`fleet agent: ${errorMessage(e)}\n`);
    process.exit(1);
  },
);
