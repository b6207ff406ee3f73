/**
 * What each machine is told: its /etc/fleet/fleet.conf (etcd endpoints, metadata, agent TTL,
 * public IP, the API's TCP listener and TLS files) and, once fleetd is built, the fleetd.service that runs it from the checkout.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_API_PORT, MACHINE_TLS } from './certs.js';
import { clientUrl } from './etcd-cluster.js';
import { LabError } from './errors.js';
import type { LabState, MachineRecord } from './state.js';

/** `mI:k=v,k=v` (the --metadata flag) -> [machine, metadata]. */
export function parseMetadataFlag(flag: string): [string, Record<string, string>] {
  const m = /^(m[1-9][0-9]*):(.*)$/.exec(flag);
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new LabError(
      `--metadata "${flag}": expected mI:key=value[,key=value...], e.g. m2:region=eu,disk=ssd`,
    );
  }
  const md: Record<string, string> = {};
  for (const pair of m[2].split(',')) {
    const [k, ...v] = pair.split('=');
    if (!k || v.length === 0 || !/^[A-Za-z0-9_.-]+$/.test(k)) {
      throw new LabError(`--metadata "${flag}": "${pair}" is not key=value (keys: letters, digits, _ . -)`);
    }
    md[k] = v.join('=');
  }
  return [m[1], md];
}

export function fleetConf(state: LabState, m: MachineRecord): string {
  const endpoints = state.etcd.map(clientUrl).join(',');
  const metadata = Object.entries(m.metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return [
    `# Written by fleet-lab for machine ${m.name} of cluster ${state.name}.`,
    `etcd_servers="${endpoints}"`,
    `metadata="${metadata}"`,
    `agent_ttl="${state.agentTtl}s"`,
    `public_ip="${m.ip}"`,
    ...(state.engineTtl !== undefined ? [`engine_lease_ttl="${state.engineTtl}s"`] : []),
    // The API over mutual TLS at the machine's IP: fleetctl status/journal reach the unit's
    // machine there (its machine record advertises https://IP:PORT), from the host or a peer.
    ...(state.tls
      ? [
          `api_tcp_address="${m.ip}:${LAB_API_PORT}"`,
          `api_tls_certfile="${MACHINE_TLS.cert}"`,
          `api_tls_keyfile="${MACHINE_TLS.key}"`,
          `api_tls_cafile="${MACHINE_TLS.ca}"`,
        ]
      : []),
    '',
  ].join('\n');
}

export function fleetdEntry(repo: string): string | undefined {
  if (!existsSync(join(repo, 'dist/fleetd/main.js'))) return undefined;
  const bin = join(repo, 'bin/fleetd.js');
  return existsSync(bin) ? bin : join(repo, 'dist/fleetd/main.js');
}

function isFleetd(repo: string, entry: string): boolean {
  return entry === join(repo, 'bin/fleetd.js') || entry === join(repo, 'dist/fleetd/main.js');
}

/**
 * fleetd as users run it: a systemd service of the machine, reading /etc/fleet/fleet.conf, run
 * from the host's checkout (bind-mounted read-only). No Restart=: `fleet-lab kill` is a crash
 * that stays, as in fleet's functional tests (`fleet-lab exec mI -- systemctl start fleetd`).
 * ExecStopPost= fences after that crash, as in fleetd/units/fleetd.service; only when the entry is
 * the real fleetd (a stand-in entry, e.g. dist/agent/main.js or a test's fake, has no `fence`).
 */
export function fleetdUnit(repo: string, entry: string): string {
  return [
    '# Written by fleet-lab.',
    '[Unit]',
    'Description=fleet-ts daemon (fleetd)',
    'Wants=dbus.socket',
    // At shutdown fleetd stops (and stops its units over D-Bus) before the bus goes away.
    'After=dbus.socket dbus.service network.target',
    '',
    '[Service]',
    `ExecStart=${process.execPath} ${entry}`,
    ...(isFleetd(repo, entry) ? [`ExecStopPost=${process.execPath} ${entry} fence`] : []),
    `WorkingDirectory=${repo}`,
    'Environment=FLEET_CONFIG=/etc/fleet/fleet.conf',
    '',
    '[Install]',
    'WantedBy=basic.target',
    '',
  ].join('\n');
}
