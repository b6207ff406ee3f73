/**
 * The lab's etcd: 1 or 3 real members (Debian's etcd-server) listening on the cluster's bridge
 * address, detached so they outlive `fleet-lab up`, with data dirs and logs in the cluster's
 * directory. Members are recorded in the state file and found again from it by PID + start time.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdServer, freePort, portIsFree, type EtcdServerRecord } from './etcd-server.js';
import { LabError } from './errors.js';
import type { EtcdMemberRecord } from './state.js';

export function toMemberRecord(s: EtcdServer): EtcdMemberRecord {
  const r = s.toRecord();
  return {
    name: r.name,
    host: r.host,
    clientPort: r.clientPort,
    peerPort: r.peerPort,
    dataDir: r.dataDir,
    logFile: r.logFile ?? '',
    initialCluster: r.initialCluster ?? '',
    clusterToken: r.clusterToken ?? '',
    ...(r.cgroup !== undefined ? { cgroup: r.cgroup } : {}),
    ...(r.pid !== undefined && r.pidStart !== undefined ? { proc: { pid: r.pid, start: r.pidStart } } : {}),
  };
}

export function adoptMember(m: EtcdMemberRecord): EtcdServer {
  const rec: EtcdServerRecord = {
    name: m.name,
    host: m.host,
    clientPort: m.clientPort,
    peerPort: m.peerPort,
    dataDir: m.dataDir,
    ...(m.logFile ? { logFile: m.logFile } : {}),
    ...(m.initialCluster ? { initialCluster: m.initialCluster } : {}),
    ...(m.clusterToken ? { clusterToken: m.clusterToken } : {}),
    ...(m.cgroup ? { cgroup: m.cgroup } : {}),
    ...(m.proc ? { pid: m.proc.pid, pidStart: m.proc.start } : {}),
  };
  return EtcdServer.adopt(rec);
}

export function clientUrl(m: { host: string; clientPort: number }): string {
  return `http://${m.host}:${m.clientPort}`;
}

/** Ports 2379/2380, 2381/2382, ... on the bridge address when free, else any free pair. */
export async function pickPorts(host: string, count: number): Promise<{ client: number; peer: number }[]> {
  const taken = new Set<number>();
  const out: { client: number; peer: number }[] = [];
  const tryPort = async (p: number): Promise<number> => {
    if (!taken.has(p) && (await portIsFree(host, p))) {
      taken.add(p);
      return p;
    }
    let q = await freePort(host);
    while (taken.has(q)) q = await freePort(host);
    taken.add(q);
    return q;
  };
  for (let k = 0; k < count; k++) {
    const client = await tryPort(2379 + 2 * k);
    const peer = await tryPort(2380 + 2 * k);
    out.push({ client, peer });
  }
  return out;
}

export interface EtcdClusterOptions {
  cluster: string;
  members: number;
  host: string;
  /** Directory for data dirs and logs. */
  dir: string;
  /** Called with each member's record as soon as its process exists (for the state file). */
  onStarted: (rec: EtcdMemberRecord) => void;
  timeoutMs?: number;
  /** cgroup (v2) directory the members run in (created if missing). */
  cgroup?: string;
  /** Client and peer port of each member (default: pickPorts). */
  ports?: { client: number; peer: number }[];
}

/** Starts the members (all at once: a member is healthy only with a quorum) and waits for health. */
export async function startEtcdCluster(opts: EtcdClusterOptions): Promise<EtcdServer[]> {
  if (opts.members !== 1 && opts.members !== 3) {
    throw new LabError(`cluster "${opts.cluster}": --etcd-members must be 1 or 3, not ${opts.members}`);
  }
  const ports = opts.ports ?? (await pickPorts(opts.host, opts.members));
  const names = ports.map((_, k) => `etcd${k + 1}`);
  const initialCluster = ports.map((p, k) => `${names[k]}=http://${opts.host}:${p.peer}`).join(',');
  if (opts.cgroup) mkdirSync(opts.cgroup, { recursive: true });
  const servers: EtcdServer[] = [];
  for (const [k, p] of ports.entries()) {
    const name = names[k] ?? `etcd${k + 1}`;
    const dataDir = join(opts.dir, name);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const server = await EtcdServer.start({
      host: opts.host,
      clientPort: p.client,
      peerPort: p.peer,
      dataDir,
      name,
      logFile: join(opts.dir, `${name}.log`),
      detached: true,
      initialCluster,
      clusterToken: `fleet-lab-${opts.cluster}`,
      ...(opts.cgroup ? { cgroup: opts.cgroup } : {}),
      waitHealthy: false,
      startTimeoutMs: opts.timeoutMs ?? 20000,
    });
    servers.push(server);
    opts.onStarted(toMemberRecord(server));
  }
  await Promise.all(servers.map((s) => s.waitHealthy()));
  return servers;
}

/** The member name etcd reports as leader, via the HTTP gateway of any member. */
export async function etcdLeader(members: EtcdMemberRecord[]): Promise<string | undefined> {
  for (const m of members) {
    try {
      const status = (await (
        await fetch(`${clientUrl(m)}/v3/maintenance/status`, {
          method: 'POST',
          body: '{}',
          signal: AbortSignal.timeout(1000),
        })
      ).json()) as { leader?: string };
      const list = (await (
        await fetch(`${clientUrl(m)}/v3/cluster/member/list`, {
          method: 'POST',
          body: '{}',
          signal: AbortSignal.timeout(1000),
        })
      ).json()) as { members?: { ID?: string; name?: string }[] };
      const leader = list.members?.find((x) => x.ID === status.leader);
      if (leader?.name) return leader.name;
    } catch {
      // try the next member
    }
  }
  return undefined;
}

export async function memberHealthy(m: EtcdMemberRecord): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl(m)}/health`, { signal: AbortSignal.timeout(1000) });
    return ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}
