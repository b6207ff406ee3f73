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
import {
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  adoptMember,
  clientUrl,
  etcdLeader,
  memberHealthy,
  pickPorts,
  startEtcdCluster,
  toMemberRecord,
} from './etcd-cluster.js';
import { LabError, LabStateError, MachineError } from './errors.js';
import {
  attachMachine,
  bridgeName,
  claimSubnet,
  createBridge,
  deleteLink,
  healMachineLink,
  linkExists,
  linkIsUp,
  machineIp,
  releaseSubnet,
  setLinkUp,
  vethName,
} from './network.js';
import {
  SIGRTMIN_4,
  execArgv,
  execIn,
  netReady,
  removeCgroup,
  startMachine,
  waitRunning,
  type MachineSpec,
} from './machine.js';
import { preflight } from './preflight.js';
import { childPids, procRef, refAlive, signalRef, waitGone, type RunResult } from './proc.js';
import {
  STATE_VERSION,
  checkClusterName,
  claimClusterDir,
  clusterDir,
  labRoot,
  listClusters,
  readState,
  statePath,
  writeState,
  type LabState,
  type MachineRecord,
} from './state.js';

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

function fleetConf(state: LabState, m: MachineRecord): string {
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
    '',
  ].join('\n');
}

function fleetdEntry(repo: string): string | undefined {
  if (!existsSync(join(repo, 'dist/fleetd/main.js'))) return undefined;
  const bin = join(repo, 'bin/fleetd.js');
  return existsSync(bin) ? bin : join(repo, 'dist/fleetd/main.js');
}

/**
 * fleetd as users run it: a systemd service of the machine, reading /etc/fleet/fleet.conf, run
 * from the host's checkout (bind-mounted read-only). No Restart=: `fleet-lab kill` is a crash
 * that stays, as in fleet's functional tests (`fleet-lab exec mI -- systemctl start fleetd`).
 */
function fleetdUnit(repo: string, entry: string): string {
  return [
    '# Written by fleet-lab.',
    '[Unit]',
    'Description=fleet-ts daemon (fleetd)',
    'Wants=dbus.socket',
    'After=dbus.socket network.target',
    '',
    '[Service]',
    `ExecStart=${process.execPath} ${entry}`,
    `WorkingDirectory=${repo}`,
    'Environment=FLEET_CONFIG=/etc/fleet/fleet.conf',
    '',
    '[Install]',
    'WantedBy=basic.target',
    '',
  ].join('\n');
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

    st.cgroupRoot = join(cgroup2, 'fleet-lab', st.name);
    for (let i = 1; i <= count; i++) {
      const name = `m${i}`;
      st.machines.push({
        name,
        machineId: randomBytes(16).toString('hex'),
        ip: machineIp(subnet, i),
        veth: vethName(st.name, i),
        metadata: opts.metadata?.[name] ?? {},
        dir: join(st.dir, name),
        cgroup: join(st.cgroupRoot, name),
        fleetd: withFleetd,
      });
    }
    this.save();
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
        await waitRunning(st.name, m.name, m.pid1, opts.bootTimeoutMs ?? 30000, units);
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
   * Restarts etcd members (SIGTERM, then the same flags and data dir): member K (1-based), the
   * leader ('leader'), or all members (undefined). Waits until the cluster is healthy again.
   */
  async etcdRestart(member?: number | 'leader'): Promise<string[]> {
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

export function exportLine(st: LabState): string {
  const eps = st.etcd.map(clientUrl);
  return `export FLEETCTL_ENDPOINT=${eps[0] ?? ''} FLEETCTL_DRIVER=etcd ETCDCTL_API=3 ETCDCTL_ENDPOINTS=${eps.join(',')}`;
}

async function statusOf(st: LabState): Promise<LabStatus> {
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

/**
 * Powers a machine off: SIGRTMIN+4 to its PID 1, SIGKILL (the whole PID namespace) after graceMs;
 * graceMs 0: SIGKILL at once (down: everything the machine had is on tmpfs and goes anyway).
 * Done once `unshare` has reaped PID 1 and exited: a PID 1 that got SIGKILL may still be exiting
 * (the kernel waits for every process of its namespace to be reaped first).
 */
async function stopMachine(m: MachineRecord, graceMs: number): Promise<void> {
  if (!m.pid1 && m.launcher && refAlive(m.launcher)) {
    // `up` died between starting the machine and recording its PID 1: the launcher's child is it.
    const child = childPids(m.launcher.pid)[0];
    const ref = child === undefined ? undefined : procRef(child);
    if (ref) m.pid1 = ref;
  }
  if (m.pid1 && refAlive(m.pid1)) {
    if (graceMs > 0) {
      signalRef(m.pid1, SIGRTMIN_4);
      if (!(await waitGone(m.pid1, graceMs, () => continueJoiners(m)))) signalRef(m.pid1, 'SIGKILL');
    } else {
      signalRef(m.pid1, 'SIGKILL');
    }
  }
  if (m.launcher && !(await waitGone(m.launcher, 15000, () => continueJoiners(m)))) {
    throw new LabError(
      `machine ${m.name}: unshare (PID ${m.launcher.pid}) has not exited: ${procInfo(m.launcher.pid)}; PID 1: ${m.pid1 ? procInfo(m.pid1.pid) : 'unknown'}`,
    );
  }
  if (m.pid1 && !(await waitGone(m.pid1, 5000))) {
    throw new LabError(`machine ${m.name}: PID 1 (${m.pid1.pid}) does not stop: ${procInfo(m.pid1.pid)}`);
  }
}

/**
 * systemd-shutdown SIGSTOPs every process of the machine before killing them. A command run by
 * `exec` is such a process, and its `nsenter` parent on the host then stops itself too, waiting
 * for a SIGCONT nobody sends; it never reaps its killed child, so the kernel never lets the
 * machine's PID 1 finish exiting. Continue the stopped processes that joined the machine's mount
 * namespace (only those: found by namespace, never by name).
 */
function continueJoiners(m: MachineRecord): void {
  if (!m.mntNs) return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/mnt`) !== m.mntNs) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T')
        process.kill(Number(entry), 'SIGCONT');
    } catch {
      // gone, or not ours to read
    }
  }
}

/** State and wait channel of a process, for error messages. */
function procInfo(pid: number): string {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .filter((l) => /^(Name|State):/.test(l))
      .join(' ')
      .replace(/\s+/g, ' ');
    let wchan = '';
    try {
      wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8');
    } catch {
      // not readable
    }
    return `${status}${wchan ? ` wchan ${wchan}` : ''}`;
  } catch {
    return 'gone';
  }
}

function cgroupProcs(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string): void => {
    try {
      const text = readFileSync(join(d, 'cgroup.procs'), 'utf8').trim();
      if (text) out.push(...text.split('\n').map(Number));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // gone
    }
  };
  walk(dir);
  return out;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

function removeClusterDir(name: string, dir: string): void {
  const mounts = mountsUnder(dir);
  if (mounts.length > 0) {
    throw new LabStateError(
      name,
      `cluster "${name}": ${mounts.join(', ')} still mounted on the host; not removing ${dir}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes everything the state records, in order: machines (PID 1 by PID, then any process left
 * in their cgroups), links and bridge, etcd members, cgroups, the subnet claim, the directory.
 * Each step runs even if an earlier one failed; the state is kept if anything is left.
 */
async function teardown(st: LabState, log: (line: string) => void = () => undefined): Promise<void> {
  const problems: string[] = [];
  const step = async (what: string, f: () => Promise<void> | void): Promise<void> => {
    try {
      await f();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  await Promise.all(
    st.machines.map((m) =>
      step(`machine ${m.name}`, async () => {
        try {
          await stopMachine(m, 0);
        } catch (e) {
          problems.push(`machine ${m.name}: ${(e as Error).message}`);
        }
        let left = cgroupProcs(m.cgroup);
        if (left.length > 0 && existsSync(join(m.cgroup, 'cgroup.kill'))) {
          // Only processes in the machine's own cgroup (e.g. an `exec` still running inside).
          writeFileSync(join(m.cgroup, 'cgroup.kill'), '1');
          const deadline = Date.now() + 3000;
          while ((left = cgroupProcs(m.cgroup)).length > 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 25));
          }
        }
        if (left.length > 0) throw new LabError(`processes ${left.join(' ')} still in ${m.cgroup}`);
        log(`${m.name}: stopped`);
      }),
    ),
  );
  for (const m of st.machines) await step(`link ${m.veth}`, () => deleteLink(m.veth));
  if (st.network?.bridge) {
    const bridge = st.network.bridge;
    await step(`bridge ${bridge}`, async () => {
      // Only a bridge this cluster created: a name clash with another owner is never deleted.
      if (st.network?.bridgeCreated && (await linkExists(bridge))) await deleteLink(bridge);
    });
  }
  await Promise.all(
    st.etcd.map((m) =>
      step(`etcd member ${m.name}`, async () => {
        await adoptMember(m).kill9(); // its data dir goes too: no need to wait for a clean stop
        if (m.proc && refAlive(m.proc)) throw new LabError(`etcd PID ${m.proc.pid} does not stop`);
      }),
    ),
  );
  for (const m of st.machines) await step(`cgroup ${m.cgroup}`, () => removeCgroup(m.cgroup));
  if (st.cgroupRoot) {
    const root = st.cgroupRoot;
    await step(`cgroup ${root}`, () => {
      removeCgroup(root);
      try {
        rmdirSync(join(root, '..')); // the shared fleet-lab cgroup, if no other cluster uses it
      } catch {
        // other clusters are up
      }
    });
  }
  if (st.network?.claim) {
    const claim = st.network.claim;
    await step(`subnet claim ${claim}`, () => releaseSubnet(claim));
  }
  if (problems.length > 0) {
    throw new LabError(
      `cluster "${st.name}": down left things behind: ${problems.join('; ')}; state kept in ${statePath(st.name)}, run \`fleet-lab down --name ${st.name}\` again`,
    );
  }
  removeClusterDir(st.name, st.dir);
  for (const d of [join(labRoot(), '.net'), labRoot()]) {
    try {
      rmdirSync(d); // only when no other cluster is left
    } catch {
      // in use
    }
  }
  log(`cluster ${st.name}: down`);
}
