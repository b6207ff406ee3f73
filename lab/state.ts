/**
 * The state file of a cluster: everything `up` made, recorded as it is made, so `down` can remove
 * it all later from another process, including after a crash half-way through `up`.
 * Layout: <root>/<cluster>/state.json (root: /run/fleet-lab, or $FLEET_LAB_RUN_DIR).
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, LabStateError } from './errors.js';
import type { LabTls } from './certs.js';
import type { ProcRef } from './proc.js';

export const STATE_VERSION = 1;

export interface EtcdMemberRecord {
  /** etcd member name: etcd1..etcdN. */
  name: string;
  host: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  /** --initial-cluster value shared by all members. */
  initialCluster: string;
  clusterToken: string;
  /** cgroup (v2) the member runs in, under the cluster's cgroup. */
  cgroup?: string;
  proc?: ProcRef;
}

export interface MachineRecord {
  /** m1..mN */
  name: string;
  machineId: string;
  ip: string;
  /** Host end of the machine's veth (the machine end is eth0). */
  veth: string;
  metadata: Record<string, string>;
  /** Host directory of the machine: boot script, console log, mount points (mounted only inside). */
  dir: string;
  /** cgroup (v2) directory the machine's processes live in, removed by down. */
  cgroup: string;
  /** Whether a fleetd.service was written into the machine. */
  fleetd: boolean;
  /** The `unshare` process on the host (parent of the machine's PID 1). */
  launcher?: ProcRef;
  /** The machine's PID 1 (systemd), as seen from the host. */
  pid1?: ProcRef;
  /** Its mount namespace (e.g. "mnt:[4026532301]"), to find processes that joined it. */
  mntNs?: string;
  /** Set by poweroff. */
  poweredOff?: boolean;
  /** Set by cut, cleared by heal. */
  cut?: boolean;
}

export interface LabState {
  version: number;
  name: string;
  dir: string;
  createdAt: string;
  /** PID of the process that ran `up` (informational). */
  upPid: number;
  /** The project checkout, bind-mounted read-only at the same path inside every machine. */
  repo: string;
  agentTtl: number;
  /** fleet's engine_lease_ttl in seconds, when set (else fleetd's default). */
  engineTtl?: number;
  /** The fleetd entry point machines run (recorded for machines added later). */
  fleetdEntry?: string;
  network?: {
    bridge: string;
    /** First three octets, e.g. "10.213.7"; the lab uses <subnet>.0/24. */
    subnet: string;
    bridgeIp: string;
    /** File claiming the subnet among clusters, removed by down. */
    claim: string;
    /** Set once the bridge link exists. */
    bridgeCreated?: boolean;
  };
  etcd: EtcdMemberRecord[];
  machines: MachineRecord[];
  /** The lab CA and the host's client certificate (certs.ts); set when fleetd runs in the machines. */
  tls?: LabTls;
  /**
   * The cluster's cgroup (v2): every process the lab starts runs under it (machines in <root>/mI,
   * etcd in <root>/etcd), so down finds even one whose PID was never recorded.
   */
  cgroupRoot?: string;
  /** "up" until every machine runs, then "ready". */
  phase: 'up' | 'ready';
}

export function labRoot(): string {
  return process.env.FLEET_LAB_RUN_DIR ?? '/run/fleet-lab';
}

export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,29}$/;

export function checkClusterName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new LabError(
      `invalid cluster name "${name}": use 1-30 characters of a-z, 0-9 and "-", starting with a letter or digit`,
    );
  }
}

export function clusterDir(name: string): string {
  return join(labRoot(), name);
}

export function statePath(name: string): string {
  return join(clusterDir(name), 'state.json');
}

/** Claims the cluster name by creating its directory; fails if it exists. */
export function claimClusterDir(name: string): string {
  checkClusterName(name);
  mkdirSync(labRoot(), { recursive: true, mode: 0o755 });
  const dir = clusterDir(name);
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new LabStateError(
        name,
        `cluster "${name}" already exists (state in ${dir}); use it, or remove it with \`fleet-lab down --name ${name}\``,
      );
    }
    throw e;
  }
  return dir;
}

/** Writes the state atomically (temp file + rename). */
export function writeState(state: LabState): void {
  const file = statePath(state.name);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, file);
}

export function readState(name: string): LabState {
  checkClusterName(name);
  const file = statePath(name);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const hint = existsSync(clusterDir(name))
      ? `its directory ${clusterDir(name)} exists without a state file; \`fleet-lab down --name ${name}\` removes it`
      : `start it with \`fleet-lab up --name ${name}\``;
    throw new LabStateError(name, `no cluster "${name}" (no ${file}); ${hint}`, { cause: e });
  }
  let state: LabState;
  try {
    state = JSON.parse(text) as LabState;
  } catch (e) {
    throw new LabStateError(
      name,
      `state file ${file} of cluster "${name}" is not JSON: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (state.version !== STATE_VERSION) {
    throw new LabStateError(
      name,
      `state file ${file} has version ${state.version}, this fleet-lab reads ${STATE_VERSION}`,
    );
  }
  return state;
}

/** Names of the clusters with a directory under the lab root. */
export function listClusters(): string[] {
  try {
    return readdirSync(labRoot(), { withFileTypes: true })
      .filter((d) => d.isDirectory() && NAME_RE.test(d.name))
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}
