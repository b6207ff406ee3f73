/**
 * A real etcd server process (Debian's `etcd-server`), started on free ports with its own data
 * directory, for tests, benchmarks and fleet-lab. Stopped by PID, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readStat } from './proc.js';

export interface EtcdServerOptions {
  /** Address to listen on (default 127.0.0.1). fleet-lab passes its bridge address. */
  host?: string;
  clientPort?: number;
  peerPort?: number;
  /** Default: a new temporary directory, removed by remove(). */
  dataDir?: string;
  /** Member name (default "etcd0"). */
  name?: string;
  /** Where etcd's own log goes (default: discarded). */
  logFile?: string;
  /** Outlive this Node process (fleet-lab); the caller then owns the PID. */
  detached?: boolean;
  /**
   * A cgroup (v2) directory to run etcd in, e.g. fleet-lab's cluster cgroup: the process joins
   * it before exec'ing etcd, so an owner that crashes before recording the PID can still find it.
   */
  cgroup?: string;
  /** Extra etcd flags, e.g. ['--auto-compaction-retention=1']. */
  extraArgs?: string[];
  /** How long to wait for /health (default 20 s). */
  startTimeoutMs?: number;
  /** --initial-cluster for a member of a multi-member cluster (default: this member alone). */
  initialCluster?: string;
  /** --initial-cluster-token (default: etcd's). */
  clusterToken?: string;
  /**
   * Wait for /health before start() resolves (default true). A member of a 3-member cluster
   * is healthy only once a quorum runs: start all members without waiting, then waitHealthy().
   */
  waitHealthy?: boolean;
}

/** What a detached server needs to be found again from another process (fleet-lab's state). */
export interface EtcdServerRecord {
  name: string;
  host: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile?: string;
  initialCluster?: string;
  clusterToken?: string;
  extraArgs?: string[];
  cgroup?: string;
  pid?: number;
  /** Kernel start time of pid (field 22 of /proc/PID/stat), so a reused PID is never signalled. */
  pidStart?: number;
}

export class EtcdServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EtcdServerError';
  }
}

/** A free TCP port on host, as the kernel hands it out. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether host:port can be listened on right now. */
export async function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Kernel start time of a process, or undefined if it is gone or a zombie. */
export function pidStartTime(pid: number): number | undefined {
  const stat = readStat(pid);
  return stat && stat.state !== 'Z' && stat.state !== 'X' ? stat.start : undefined;
}

/**
 * Whether the process runs. A zombie counts as gone: a detached process whose parent exited is
 * reaped by the host's PID 1, which may take a while.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return pidStartTime(pid) !== undefined;
  } catch {
    return true;
  }
}

async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(20);
  }
  return !isAlive(pid);
}

export class EtcdServer {
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly name: string;
  private child: ChildProcess | undefined;
  private currentPid: number | undefined;
  private currentPidStart: number | undefined;
  private readonly ownsDataDir: boolean;

  private constructor(
    private readonly opts: EtcdServerOptions,
    ports: { client: number; peer: number },
    dataDir: string,
    ownsDataDir: boolean,
  ) {
    this.host = opts.host ?? '127.0.0.1';
    this.clientPort = ports.client;
    this.peerPort = ports.peer;
    this.dataDir = dataDir;
    this.ownsDataDir = ownsDataDir;
    this.name = opts.name ?? 'etcd0';
  }

  /** Starts etcd and resolves once it answers /health. */
  static async start(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
    const host = opts.host ?? '127.0.0.1';
    const client = opts.clientPort ?? (await freePort(host));
    let peer = opts.peerPort ?? (await freePort(host));
    while (peer === client) peer = await freePort(host);
    const ownsDataDir = opts.dataDir === undefined;
    const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'fleet-etcd-'));
    const server = new EtcdServer(opts, { client, peer }, dataDir, ownsDataDir);
    try {
      await server.launch(opts.waitHealthy ?? true);
    } catch (e) {
      await server.remove();
      throw e;
    }
    return server;
  }

  /**
   * The server of a record written by toRecord(), possibly by another process: stop(), kill9()
   * and restart() act on its PID if it is still that process. The data dir is not owned.
   */
  static adopt(rec: EtcdServerRecord): EtcdServer {
    const opts: EtcdServerOptions = {
      host: rec.host,
      clientPort: rec.clientPort,
      peerPort: rec.peerPort,
      dataDir: rec.dataDir,
      name: rec.name,
      detached: true,
      ...(rec.logFile !== undefined ? { logFile: rec.logFile } : {}),
      ...(rec.initialCluster !== undefined ? { initialCluster: rec.initialCluster } : {}),
      ...(rec.clusterToken !== undefined ? { clusterToken: rec.clusterToken } : {}),
      ...(rec.extraArgs !== undefined ? { extraArgs: rec.extraArgs } : {}),
      ...(rec.cgroup !== undefined ? { cgroup: rec.cgroup } : {}),
    };
    const server = new EtcdServer(opts, { client: rec.clientPort, peer: rec.peerPort }, rec.dataDir, false);
    if (rec.pid !== undefined && rec.pidStart !== undefined && pidStartTime(rec.pid) === rec.pidStart) {
      server.currentPid = rec.pid;
      server.currentPidStart = rec.pidStart;
    }
    return server;
  }

  toRecord(): EtcdServerRecord {
    return {
      name: this.name,
      host: this.host,
      clientPort: this.clientPort,
      peerPort: this.peerPort,
      dataDir: this.dataDir,
      ...(this.opts.logFile !== undefined ? { logFile: this.opts.logFile } : {}),
      ...(this.opts.initialCluster !== undefined ? { initialCluster: this.opts.initialCluster } : {}),
      ...(this.opts.clusterToken !== undefined ? { clusterToken: this.opts.clusterToken } : {}),
      ...(this.opts.extraArgs !== undefined ? { extraArgs: this.opts.extraArgs } : {}),
      ...(this.opts.cgroup !== undefined ? { cgroup: this.opts.cgroup } : {}),
      ...(this.currentPid !== undefined ? { pid: this.currentPid } : {}),
      ...(this.currentPidStart !== undefined ? { pidStart: this.currentPidStart } : {}),
    };
  }

  get pid(): number | undefined {
    return this.currentPid;
  }

  /** The peer URL, e.g. http://127.0.0.1:23800. */
  get peerUrl(): string {
    return `http://${this.host}:${this.peerPort}`;
  }

  /** The client URL, e.g. http://127.0.0.1:23790. */
  get endpoint(): string {
    return `http://${this.host}:${this.clientPort}`;
  }

  private args(): string[] {
    const peerUrl = `http://${this.host}:${this.peerPort}`;
    return [
      '--name',
      this.name,
      '--data-dir',
      this.dataDir,
      '--listen-client-urls',
      this.endpoint,
      '--advertise-client-urls',
      this.endpoint,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      this.opts.initialCluster ?? `${this.name}=${peerUrl}`,
      '--initial-cluster-state',
      'new',
      ...(this.opts.clusterToken ? ['--initial-cluster-token', this.opts.clusterToken] : []),
      ...(this.opts.extraArgs ?? []),
    ];
  }

  private async launch(waitHealthy: boolean): Promise<void> {
    // /health of another etcd on a taken port would look like ours: refuse up front.
    for (const port of [this.clientPort, this.peerPort]) {
      // Just after a kill, a client's connection may hold the port for a moment: retry briefly.
      let free = await portIsFree(this.host, port);
      for (let i = 0; i < 10 && !free; i++) {
        await sleep(100);
        free = await portIsFree(this.host, port);
      }
      if (!free) {
        throw new EtcdServerError(
          `cannot start etcd on ${this.host}:${port}: the port is taken; pick another or stop its owner`,
        );
      }
    }
    const out = this.opts.logFile ? openSync(this.opts.logFile, 'a') : 'ignore';
    let child: ChildProcess;
    try {
      const [cmd, ...args] = this.opts.cgroup
        ? ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec etcd "$@"', this.opts.cgroup, ...this.args()]
        : ['etcd', ...this.args()];
      child = spawn(cmd ?? 'etcd', args, {
        stdio: ['ignore', out, out],
        detached: this.opts.detached ?? false,
        env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' },
      });
    } finally {
      if (typeof out === 'number') closeSync(out);
    }
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (e) =>
        reject(
          new EtcdServerError(
            `cannot run etcd (${(e as Error).message}); install Debian's etcd-server (apt-get install -y etcd-server)`,
            { cause: e },
          ),
        ),
      ),
    );
    spawnError.catch(() => undefined);
    this.child = child;
    this.currentPid = child.pid;
    this.currentPidStart = child.pid === undefined ? undefined : pidStartTime(child.pid);
    if (this.opts.detached) child.unref();
    this.spawnError = spawnError;
    if (waitHealthy) await this.waitHealthy();
  }

  private spawnError: Promise<never> | undefined;

  /** Resolves once /health says true (for a cluster member: once a quorum runs). */
  async waitHealthy(timeoutMs = this.opts.startTimeoutMs ?? 20000): Promise<void> {
    const wait = this.pollHealthy(timeoutMs);
    await (this.spawnError ? Promise.race([this.spawnError, wait]) : wait);
  }

  private async pollHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.currentPid === undefined || !isAlive(this.currentPid) || this.child?.exitCode != null) {
        throw new EtcdServerError(
          `etcd on ${this.endpoint} exited during start (data dir ${this.dataDir}); is the port taken?`,
        );
      }
      try {
        const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(500) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not up yet
      }
      await sleep(50);
    }
    await this.kill9();
    throw new EtcdServerError(`etcd on ${this.endpoint} did not become healthy within ${timeoutMs} ms`);
  }

  /** Graceful stop (SIGTERM, then SIGKILL after 5 s). Keeps the data dir. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM', 5000);
  }

  /** kill -9, as a crash. Keeps the data dir. */
  async kill9(): Promise<void> {
    await this.signal('SIGKILL', 5000);
  }

  private async signal(sig: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const pid = this.currentPid;
    if (pid === undefined) return;
    // A recorded PID the kernel gave to another process since is not ours to signal.
    if (this.currentPidStart !== undefined && pidStartTime(pid) !== this.currentPidStart) {
      this.currentPid = undefined;
      this.currentPidStart = undefined;
      return;
    }
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
    if (!(await waitExit(pid, timeoutMs))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitExit(pid, 2000);
    }
    this.currentPid = undefined;
    this.currentPidStart = undefined;
    this.child = undefined;
  }

  /** Starts it again on the same ports and data dir (after stop() or kill9()). */
  async restart(opts: { waitHealthy?: boolean } = {}): Promise<void> {
    if (this.currentPid !== undefined) await this.stop();
    await this.launch(opts.waitHealthy ?? true);
  }

  /** Stops it and removes the data dir if this object made it. */
  async remove(): Promise<void> {
    await this.stop();
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
