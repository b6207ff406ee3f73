/**
 * A fleet-lab cluster: an etcd (1 or 3 members) on a bridge of its own and N machines m1..mN,
 * each with systemd as PID 1 in its own namespaces (see machine.ts). Usable from tests
 *
 *   const lab = await Lab.up({ machines: 3, name: 'mytest' });
 *   ... lab.busAddress('m1'), lab.exec('m1', ['systemctl', 'is-system-running']) ...
 *   await lab.down();
 *
 * and from the fleet-lab CLI (main.ts), where each command opens the cluster from its state file.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  adoptMember,
  clientUrl,
  etcdLeader,
  pickPorts,
  startEtcdCluster,
  toMemberRecord,
} from './etcd-cluster.js';
import { LabError, LabStateError, MachineError } from './errors.js';
import { LAB_API_PORT, MACHINE_TLS, machineTlsFiles, makeLabTls, type LabTls } from './certs.js';
import { fleetConf, fleetdEntry, fleetdUnit } from './machine-config.js';
import {
  consoleTail,
  execArgv,
  execIn,
  extraReadOnlyBinds,
  netReady,
  startMachine,
  waitRunning,
  type MachineSpec,
} from './machine.js';
import {
  attachMachine,
  bridgeName,
  claimSubnet,
  createBridge,
  healMachineLink,
  machineIp,
  setLinkUp,
  vethName,
} from './network.js';
import { preflight } from './preflight.js';
import { refAlive, type RunResult } from './proc.js';
import {
  STATE_VERSION,
  checkClusterName,
  claimClusterDir,
  clusterDir,
  listClusters,
  readState,
  statePath,
  writeState,
  type LabState,
  type MachineRecord,
} from './state.js';
import { exportLine, statusOf, type LabStatus } from './status.js';
import { removeClusterDir, stopMachine, teardown } from './teardown.js';

export { parseMetadataFlag } from './machine-config.js';
export type { EtcdMemberStatus, LabStatus, MachineStatus } from './status.js';

export const DEFAULT_CLUSTER = 'default';

/** The project checkout this module runs from (dist/lab/lab.js -> the repository root). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export interface LabUpOptions {
  /** Cluster name (default "default"): names the state dir, bridge, subnet and cgroups. */
  name?: string;
  /** Number of machines m1..mN (default 3). */
  machines?: number;
  /** Metadata per machine name, e.g. { m2: { region: 'eu', disk: 'ssd' } }. */
  metadata?: Record<string, Record<string, string>>;
  /** fleet's agent_ttl in seconds, written to each machine's fleet.conf (default 30). */
  agentTtl?: number;
  /** fleet's engine_lease_ttl in seconds, written to each machine's fleet.conf (default: fleetd's). */
  engineTtl?: number;
  /** 1 (default) or 3 etcd members. */
  etcdMembers?: number;
  /**
   * Run fleetd as fleetd.service in each machine. Default: when the build has
   * dist/fleetd/main.js. true without it is an error.
   */
  fleetd?: boolean;
  /**
   * The script fleetd.service runs instead of the checkout's fleetd (tests of the hook, other
   * builds). Must be inside the checkout: that is what the machines see.
   */
  fleetdEntry?: string;
  /** How long to wait for every machine's systemd (default 30 s). */
  bootTimeoutMs?: number;
  /** Progress lines (the CLI prints them on stderr). */
  log?: (line: string) => void;
}

export class Lab {
  private constructor(private st: LabState) {}

  /** The recorded state (a copy). */
  get state(): LabState {
    return JSON.parse(JSON.stringify(this.st)) as LabState;
  }

  get name(): string {
    return this.st.name;
  }

  /** etcd client URLs of the cluster. */
  get endpoints(): string[] {
    return this.st.etcd.map(clientUrl);
  }

  /** The lab CA and the host's client certificate for fleetctl (undefined: no fleetd). */
  get tls(): LabTls | undefined {
    return this.st.tls ? { ...this.st.tls } : undefined;
  }

  /** The fleetd API of a machine over mutual TLS (use with the tls files). */
  apiEndpoint(name: string): string {
    return `https://${this.machine(name).ip}:${LAB_API_PORT}`;
  }

  /** One shell line pointing fleetctl and etcdctl at the cluster. */
  get exportLine(): string {
    return exportLine(this.st);
  }

  machineNames(): string[] {
    return this.st.machines.map((m) => m.name);
  }

  /** Opens a running cluster from its state file (e.g. one a CLI `up` made). */
  static open(name = DEFAULT_CLUSTER): Lab {
    return new Lab(readState(name));
  }

  static list(): string[] {
    return listClusters();
  }

  /** Brings a cluster up; on any failure, removes what it made and throws. */
  static async up(opts: LabUpOptions = {}): Promise<Lab> {
    const { cgroup2 } = preflight('fleet-lab up');
    const name = opts.name ?? DEFAULT_CLUSTER;
    checkClusterName(name);
    const count = opts.machines ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > 200) {
      throw new LabError(`cluster "${name}": --machines must be an integer from 1 to 200, not ${count}`);
    }
    const etcdMembers = opts.etcdMembers ?? 1;
    if (etcdMembers !== 1 && etcdMembers !== 3) {
      throw new LabError(`cluster "${name}": --etcd-members must be 1 or 3, not ${etcdMembers}`);
    }
    for (const key of Object.keys(opts.metadata ?? {})) {
      const i = /^m([1-9][0-9]*)$/.exec(key)?.[1];
      if (i === undefined || Number(i) > count) {
        throw new LabError(`cluster "${name}": metadata for "${key}", but the machines are m1..m${count}`);
      }
    }
    const agentTtl = opts.agentTtl ?? 30;
    if (!(agentTtl > 0))
      throw new LabError(`cluster "${name}": --agent-ttl must be a positive number of seconds`);
    if (opts.engineTtl !== undefined && !(Number.isInteger(opts.engineTtl) && opts.engineTtl >= 2))
      throw new LabError(`cluster "${name}": engineTtl must be a whole number of seconds, at least 2`);
    if (opts.fleetdEntry !== undefined && !opts.fleetdEntry.startsWith(`${REPO_ROOT}/`)) {
      throw new LabError(
        `cluster "${name}": fleetdEntry ${opts.fleetdEntry} is outside the checkout ${REPO_ROOT}, which is all the machines see`,
      );
    }
    const entry = opts.fleetdEntry ?? fleetdEntry(REPO_ROOT);
    if (opts.fleetd === true && entry === undefined) {
      throw new LabError(
        `cluster "${name}": fleetd requested but ${REPO_ROOT}/dist/fleetd/main.js does not exist; build it first`,
      );
    }
    const withFleetd = opts.fleetd !== false && entry !== undefined;
    const log = opts.log ?? (() => undefined);

    const dir = claimClusterDir(name);
    const st: LabState = {
      version: STATE_VERSION,
      name,
      dir,
      createdAt: new Date().toISOString(),
      upPid: process.pid,
      repo: REPO_ROOT,
      agentTtl,
      ...(opts.engineTtl !== undefined ? { engineTtl: opts.engineTtl } : {}),
      ...(withFleetd && entry !== undefined ? { fleetdEntry: entry } : {}),
      etcd: [],
      machines: [],
      phase: 'up',
    };
    writeState(st);
    const lab = new Lab(st);
    try {
      await lab.build(count, etcdMembers, opts, cgroup2, entry, withFleetd, log);
    } catch (e) {
      log(`up failed: ${(e as Error).message}; removing what was made`);
      try {
        await teardown(lab.st, log);
      } catch (e2) {
        throw new LabError(
          `${(e as Error).message}; cleaning up also failed: ${(e2 as Error).message} (state kept in ${statePath(name)})`,
          { cause: e },
        );
      }
      throw e;
    }
    return lab;
  }

  private save(): void {
    writeState(this.st);
  }

  private async build(
    count: number,
    etcdMembers: number,
    opts: LabUpOptions,
    cgroup2: string,
    entry: string | undefined,
    withFleetd: boolean,
    log: (line: string) => void,
  ): Promise<void> {
    const st = this.st;
    // Recorded before anything is started: down sweeps it even if a PID never made it here.
    const cgroupRoot = join(cgroup2, 'fleet-lab', st.name);
    st.cgroupRoot = cgroupRoot;
    this.save();
    const { subnet, claim } = await claimSubnet(st.name);
    const bridge = bridgeName(st.name);
    st.network = { bridge, subnet, bridgeIp: `${subnet}.1`, claim };
    this.save();
    await createBridge(bridge, st.network.bridgeIp);
    st.network.bridgeCreated = true;
    this.save();
    log(`bridge ${bridge} ${subnet}.1/24`);

    // etcd and the machines start side by side; the members' ports are chosen first so that
    // each machine's fleet.conf can name them.
    const host = st.network.bridgeIp;
    const ports = await pickPorts(host, etcdMembers);
    st.etcd = ports.map((p, k) => ({
      name: `etcd${k + 1}`,
      host,
      clientPort: p.client,
      peerPort: p.peer,
      dataDir: join(st.dir, `etcd${k + 1}`),
      logFile: join(st.dir, `etcd${k + 1}.log`),
      initialCluster: '',
      clusterToken: '',
    }));
    const etcdUp = startEtcdCluster({
      cluster: st.name,
      members: etcdMembers,
      host,
      dir: st.dir,
      ports,
      cgroup: join(cgroupRoot, 'etcd'),
      onStarted: (rec) => {
        st.etcd = st.etcd.map((m) => (m.name === rec.name ? rec : m));
        this.save();
      },
    }).then((servers) => {
      st.etcd = servers.map(toMemberRecord);
      this.save();
      log(`etcd: ${this.endpoints.join(',')}`);
    });
    etcdUp.catch(() => undefined);

    for (let i = 1; i <= count; i++) {
      const name = `m${i}`;
      st.machines.push({
        name,
        machineId: randomBytes(16).toString('hex'),
        ip: machineIp(subnet, i),
        veth: vethName(st.name, i),
        metadata: opts.metadata?.[name] ?? {},
        dir: join(st.dir, name),
        cgroup: join(cgroupRoot, name),
        fleetd: withFleetd,
      });
    }
    this.save();
    if (withFleetd) {
      st.tls = await makeLabTls(st.dir, st.name, st.machines);
      this.save();
      log(`TLS: CA and client certificate in ${st.tls.dir}`);
    }
    const units = withFleetd ? ['fleetd.service'] : [];
    // Let every start finish (or fail) before reporting a failure, so that the teardown that
    // follows sees every process that was started.
    const started = await Promise.allSettled([
      ...st.machines.map((m) => this.bootOne(m, entry, withFleetd)),
      etcdUp,
    ]);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(
      st.machines.map(async (m) => {
        if (!m.pid1) throw new MachineError(st.name, m.name, `machine ${m.name} has no PID 1`);
        try {
          await waitRunning(st.name, m.name, m.pid1, opts.bootTimeoutMs ?? 30000, units);
        } catch (e) {
          throw new MachineError(
            st.name,
            m.name,
            `${(e as Error).message}; console (${join(m.dir, 'console.log')}): ${consoleTail(m)}`,
            { cause: e },
          );
        }
        log(`${m.name}: running (PID 1 = ${m.pid1.pid} on the host, ${m.ip})`);
      }),
    );
    st.phase = 'ready';
    this.save();
  }

  private async bootOne(m: MachineRecord, entry: string | undefined, withFleetd: boolean): Promise<void> {
    const st = this.st;
    const network = st.network;
    if (!network) throw new LabError(`cluster "${st.name}": no network yet`);
    const files: Record<string, string> = {
      'etc/machine-id': `${m.machineId}\n`,
      'etc/hostname': `${m.name}\n`,
      'etc/fleet/fleet.conf': fleetConf(st, m),
    };
    const enable: MachineSpec['enable'] = [];
    if (st.tls) {
      const t = machineTlsFiles(st.tls, m.name);
      files[`${MACHINE_TLS.dir}/ca.pem`] = t.ca;
      files[`${MACHINE_TLS.dir}/machine.pem`] = t.cert;
      files[`${MACHINE_TLS.dir}/machine-key.pem`] = t.key;
    }
    if (withFleetd && entry) {
      files['etc/systemd/system/fleetd.service'] = fleetdUnit(st.repo, entry);
      enable.push({ target: 'basic.target', unit: 'fleetd.service' });
    }
    const spec: MachineSpec = {
      cluster: st.name,
      name: m.name,
      dir: m.dir,
      machineId: m.machineId,
      repo: st.repo,
      readOnlyBinds: extraReadOnlyBinds(st.repo),
      cgroup: m.cgroup,
      files,
      enable,
    };
    const booted = await startMachine(spec, (launcher) => {
      m.launcher = launcher;
      this.save();
    });
    m.pid1 = booted.pid1;
    m.mntNs = readlinkSync(`/proc/${booted.pid1.pid}/ns/mnt`);
    this.save();
    try {
      await attachMachine(network.bridge, m.veth, booted.pid1.pid, m.ip);
    } catch (e) {
      throw new MachineError(
        st.name,
        m.name,
        `machine ${m.name}: cannot plug in its network: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    netReady(spec);
  }

  /**
   * Boots one more machine into a running cluster (the next free name, m<N+1>), with fleetd when
   * the cluster's machines run it; resolves once its systemd (and fleetd) runs. Returns its name.
   * If it cannot boot, it is powered off again and recorded so (down removes what it made).
   */
  async addMachine(
    opts: { metadata?: Record<string, string>; bootTimeoutMs?: number } = {},
  ): Promise<string> {
    const st = this.st;
    const network = st.network;
    const cgroupRoot = st.cgroupRoot;
    if (st.phase !== 'ready' || !network || !cgroupRoot) {
      throw new LabError(
        `cluster "${st.name}" is not up (phase ${st.phase}); bring it up before adding a machine`,
      );
    }
    const index = Math.max(0, ...st.machines.map((m) => Number(m.name.slice(1)))) + 1;
    if (index > 200) throw new LabError(`cluster "${st.name}" has 200 machines already; no machine added`);
    const name = `m${index}`;
    const withFleetd = st.fleetdEntry !== undefined;
    const m: MachineRecord = {
      name,
      machineId: randomBytes(16).toString('hex'),
      ip: machineIp(network.subnet, index),
      veth: vethName(st.name, index),
      metadata: opts.metadata ?? {},
      dir: join(st.dir, name),
      cgroup: join(cgroupRoot, name),
      fleetd: withFleetd,
    };
    // Recorded before it boots: down sweeps it whatever happens next.
    st.machines.push(m);
    this.save();
    try {
      await this.bootOne(m, st.fleetdEntry, withFleetd);
      if (!m.pid1) throw new MachineError(st.name, name, `machine ${name} has no PID 1`);
      await waitRunning(
        st.name,
        name,
        m.pid1,
        opts.bootTimeoutMs ?? 30000,
        withFleetd ? ['fleetd.service'] : [],
      );
    } catch (e) {
      await stopMachine(m, 10000).catch(() => undefined);
      m.poweredOff = true;
      this.save();
      throw new MachineError(
        st.name,
        name,
        `cannot add machine ${name} to cluster "${st.name}": ${(e as Error).message}; console (${join(m.dir, 'console.log')}): ${consoleTail(m)}`,
        { cause: e },
      );
    }
    return name;
  }

  machine(name: string): MachineRecord {
    const m = this.st.machines.find((x) => x.name === name);
    if (!m) {
      throw new MachineError(
        this.st.name,
        name,
        `cluster "${this.st.name}" has no machine "${name}" (machines: ${this.machineNames().join(', ')})`,
      );
    }
    return m;
  }

  /** The machine's PID 1 as a host PID, if it runs. */
  pid1(name: string): number {
    const m = this.machine(name);
    if (m.poweredOff || !m.pid1 || !refAlive(m.pid1)) {
      throw new MachineError(
        this.st.name,
        name,
        `machine ${name} of cluster "${this.st.name}" is not running${m.poweredOff ? ' (powered off)' : ''}; bring the cluster down and up again`,
      );
    }
    return m.pid1.pid;
  }

  /** dbus-next address of the machine's system bus: sessionBus({ busAddress }). */
  busAddress(name: string): string {
    return `unix:path=/proc/${this.pid1(name)}/root/run/dbus/system_bus_socket`;
  }

  /** Runs a command inside the machine and collects its output. */
  exec(name: string, argv: readonly string[], timeoutMs = 30000): Promise<RunResult> {
    return execIn(this.pid1(name), argv, timeoutMs);
  }

  /** The nsenter argv for a command inside the machine (for callers that want stdio inherited). */
  execArgv(name: string, argv: readonly string[]): string[] {
    return execArgv(this.pid1(name), argv);
  }

  /** kill -9 of the machine's fleetd; returns the PID killed (inside the machine). */
  async killFleetd(name: string): Promise<number> {
    const m = this.machine(name);
    if (!m.fleetd) {
      throw new MachineError(
        this.st.name,
        name,
        `machine ${name} of cluster "${this.st.name}" runs no fleetd: fleetd was not built (no ${this.st.repo}/dist/fleetd/main.js) when the cluster came up; nothing was killed`,
      );
    }
    const r = await this.exec(name, ['systemctl', 'show', '--property=MainPID', '--value', 'fleetd.service']);
    const pid = Number(r.stdout.trim());
    if (!(pid > 0)) {
      throw new MachineError(
        this.st.name,
        name,
        `machine ${name}: fleetd.service has no running process; nothing was killed`,
      );
    }
    const k = await this.exec(name, ['kill', '-9', String(pid)]);
    if (k.code !== 0)
      throw new MachineError(
        this.st.name,
        name,
        `machine ${name}: kill -9 ${pid} failed: ${k.stderr.trim()}`,
      );
    return pid;
  }

  /** Powers the whole machine off (systemd's SIGRTMIN+4, SIGKILL after 10 s). */
  async poweroff(name: string): Promise<void> {
    const m = this.machine(name);
    if (m.poweredOff) return;
    await stopMachine(m, 10000);
    m.poweredOff = true;
    this.save();
  }

  /** Cuts the machine off the network (its veth down). */
  async cut(name: string): Promise<void> {
    const m = this.machine(name);
    await setLinkUp(m.veth, false);
    m.cut = true;
    this.save();
  }

  async heal(name: string): Promise<void> {
    const m = this.machine(name);
    await healMachineLink(m.veth, this.pid1(name));
    m.cut = false;
    this.save();
  }

  /** Member names etcd1..etcdN; the current leader's name. */
  etcdLeader(): Promise<string | undefined> {
    return etcdLeader(this.st.etcd);
  }

  /**
   * Restarts etcd members (SIGTERM, or kill -9 with kill9; down for downForMs; then the same
   * flags and data dir): member K (1-based), the leader ('leader'), or all members (undefined).
   * Waits until the cluster is healthy again.
   */
  async etcdRestart(
    member?: number | 'leader',
    opts: { kill9?: boolean; downForMs?: number } = {},
  ): Promise<string[]> {
    let targets = this.st.etcd;
    if (member === 'leader') {
      const leader = await this.etcdLeader();
      if (!leader) throw new LabError(`cluster "${this.st.name}": etcd has no leader to restart`);
      targets = targets.filter((m) => m.name === leader);
    } else if (member !== undefined) {
      const t = this.st.etcd[member - 1];
      if (!Number.isInteger(member) || !t) {
        throw new LabError(
          `cluster "${this.st.name}": no etcd member ${member} (members: 1..${this.st.etcd.length})`,
        );
      }
      targets = [t];
    }
    const servers = targets.map(adoptMember);
    await Promise.all(servers.map((s) => (opts.kill9 ? s.kill9() : s.stop())));
    if (opts.downForMs) await new Promise((r) => setTimeout(r, opts.downForMs));
    for (const s of servers) {
      await s.restart({ waitHealthy: false });
      const rec = toMemberRecord(s);
      this.st.etcd = this.st.etcd.map((m) => (m.name === rec.name ? rec : m));
      this.save();
    }
    await Promise.all(servers.map((s) => s.waitHealthy()));
    return targets.map((t) => t.name);
  }

  async status(): Promise<LabStatus> {
    return statusOf(this.st);
  }

  /** Removes everything the cluster made. */
  async down(log?: (line: string) => void): Promise<void> {
    await teardown(this.st, log);
  }

  /** Removes a cluster by name from its state file (after a crash too). */
  static async down(name = DEFAULT_CLUSTER, log?: (line: string) => void): Promise<void> {
    checkClusterName(name);
    const dir = clusterDir(name);
    if (!existsSync(statePath(name))) {
      if (!existsSync(dir)) throw new LabStateError(name, `no cluster "${name}" (nothing in ${dir})`);
      // up crashed before its first state write: only the directory exists.
      removeClusterDir(name, dir);
      return;
    }
    await teardown(readState(name), log);
  }
}
