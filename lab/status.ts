/**
 * `fleet-lab status`: what runs, read from the state file and asked of etcd and each machine.
 */
import { clientUrl, etcdLeader, memberHealthy } from './etcd-cluster.js';
import { execIn } from './machine.js';
import { linkIsUp } from './network.js';
import { refAlive } from './proc.js';
import type { LabState } from './state.js';

export interface MachineStatus {
  name: string;
  ip: string;
  pid1?: number;
  /** systemd's state (running, degraded, ...), "off" after poweroff, "gone" if PID 1 died. */
  systemd: string;
  /** Network link of the machine: up, or down (cut). */
  link: 'up' | 'down' | 'missing';
  /** fleetd.service's state, or "none" when the machine has no fleetd. */
  fleetd: string;
  metadata: Record<string, string>;
}

export interface EtcdMemberStatus {
  name: string;
  endpoint: string;
  pid?: number;
  healthy: boolean;
  leader: boolean;
}

export interface LabStatus {
  name: string;
  phase: string;
  bridge?: string;
  subnet?: string;
  exportLine: string;
  etcd: EtcdMemberStatus[];
  machines: MachineStatus[];
}

export function exportLine(st: LabState): string {
  const eps = st.etcd.map(clientUrl);
  // The client certificate lets fleetctl status/journal reach each machine's fleetd (mutual TLS).
  const tls = st.tls
    ? ` FLEETCTL_CA_FILE=${st.tls.ca} FLEETCTL_CERT_FILE=${st.tls.clientCert} FLEETCTL_KEY_FILE=${st.tls.clientKey}`
    : '';
  return `export FLEETCTL_ENDPOINT=${eps[0] ?? ''} FLEETCTL_DRIVER=etcd${tls} ETCDCTL_API=3 ETCDCTL_ENDPOINTS=${eps.join(',')}`;
}

export async function statusOf(st: LabState): Promise<LabStatus> {
  const leader = await etcdLeader(st.etcd);
  const etcd = await Promise.all(
    st.etcd.map(async (m) => ({
      name: m.name,
      endpoint: clientUrl(m),
      ...(m.proc && refAlive(m.proc) ? { pid: m.proc.pid } : {}),
      healthy: await memberHealthy(m),
      leader: m.name === leader,
    })),
  );
  const machines = await Promise.all(
    st.machines.map(async (m): Promise<MachineStatus> => {
      const alive = !m.poweredOff && m.pid1 !== undefined && refAlive(m.pid1);
      let systemd = m.poweredOff ? 'off' : 'gone';
      let fleetd = m.fleetd ? 'unknown' : 'none';
      if (alive && m.pid1) {
        const r = await execIn(m.pid1.pid, ['systemctl', 'is-system-running'], 5000);
        systemd = r.stdout.trim() || 'no answer';
        if (m.fleetd)
          fleetd = (
            await execIn(m.pid1.pid, ['systemctl', 'is-active', 'fleetd.service'], 5000)
          ).stdout.trim();
      }
      const up = await linkIsUp(m.veth);
      return {
        name: m.name,
        ip: m.ip,
        ...(alive && m.pid1 ? { pid1: m.pid1.pid } : {}),
        systemd,
        link: up === undefined ? 'missing' : up ? 'up' : 'down',
        fleetd,
        metadata: m.metadata,
      };
    }),
  );
  return {
    name: st.name,
    phase: st.phase,
    ...(st.network ? { bridge: st.network.bridge, subnet: `${st.network.subnet}.0/24` } : {}),
    exportLine: exportLine(st),
    etcd,
    machines,
  };
}
