/**
 * The functional suite's harness: one fleet-lab cluster per test file, running the real fleetd in
 * every machine, driven from the host by fleetctl (etcd driver) and the registry; what runs where is
 * read from each machine's own systemd over its D-Bus (the lab's machines are reachable from the
 * host through /proc/<PID1>/root, even while cut off the network).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { SystemdClient } from '../../agent/systemd.js';
import { Lab, type LabUpOptions } from '../../lab/lab.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { Keys, Registry, prefixEnd } from '../../lib/registry/index.js';
import { until } from '../fixtures/until.js';

export { until };

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running systemd state counts as "running" for the exactly-once checks (strict). */
export function isRunning(activeState: string | undefined): boolean {
  return (
    activeState === 'active' ||
    activeState === 'activating' ||
    activeState === 'deactivating' ||
    activeState === 'reloading'
  );
}

export class FunctionalLab {
  private readonly buses = new Map<string, SystemdClient>();

  private constructor(
    readonly lab: Lab,
    readonly client: Etcd3,
    readonly reg: Registry,
    readonly dir: string,
  ) {}

  /**
   * Brings a lab up (named `<tag><pid>`, fleetd in every machine) and waits for every machine to
   * register. On failure, takes it down again.
   */
  static async up(tag: string, opts: LabUpOptions): Promise<FunctionalLab> {
    const lab = await Lab.up({ fleetd: true, ...opts, name: `${tag}${process.pid}` });
    let client: Etcd3 | undefined;
    try {
      client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
      const reg = new Registry(client);
      const dir = mkdtempSync(join(tmpdir(), `fleet-functional-${tag}-`));
      const f = new FunctionalLab(lab, client, reg, dir);
      await f.waitMachines(lab.machineNames());
      return f;
    } catch (e) {
      client?.close();
      await lab.down();
      throw e;
    }
  }

  /** Takes everything down (also after a failure). */
  async down(): Promise<void> {
    for (const b of this.buses.values()) b.close();
    this.buses.clear();
    this.client.close();
    rmSync(this.dir, { recursive: true, force: true });
    await this.lab.down();
  }

  machineId(name: string): string {
    return this.lab.machine(name).machineId;
  }

  nameOf(machineId: string): string {
    const m = this.lab.state.machines.find((x) => x.machineId === machineId);
    if (!m) throw new Error(`no lab machine has ID ${machineId}`);
    return m.name;
  }

  /** Machines that are not powered off. */
  liveMachines(): string[] {
    return this.lab.state.machines.filter((m) => !m.poweredOff).map((m) => m.name);
  }

  async waitMachines(names: string[], timeoutMs = 60000): Promise<void> {
    const ids = names.map((n) => this.machineId(n));
    await until(
      async () => {
        const have = new Set((await this.reg.listMachines()).items.map((i) => i.id));
        return ids.every((id) => have.has(id)) || undefined;
      },
      `machines ${names.join(', ')} registered`,
      timeoutMs,
    );
  }

  /** Writes a unit file into the test's directory; returns its path. */
  file(name: string, body: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, body);
    return p;
  }

  /** fleetctl (etcd driver) from the host, asynchronously (samplers keep running meanwhile). */
  fleetctl(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['bin/fleetctl.js', '--driver=etcd', `--endpoint=${this.lab.endpoints.join(',')}`, ...args],
        { encoding: 'utf8', timeout: 120000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** fleetctl that must succeed. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.fleetctl(...args);
    if (r.code !== 0) throw new Error(`fleetctl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async sh(machine: string, cmd: string): Promise<string> {
    return (await this.lab.exec(machine, ['sh', '-c', cmd])).stdout.trim();
  }

  /** The machine's systemd over its own D-Bus (one connection per machine, kept). */
  async systemd(machine: string): Promise<SystemdClient> {
    const pid1 = this.lab.pid1(machine);
    const key = `${machine}:${pid1}`;
    let c = this.buses.get(key);
    if (!c) {
      c = await SystemdClient.connect({
        busAddress: this.lab.busAddress(machine),
        unitsDirectory: '/run/fleet/units',
        callTimeoutMs: 10000,
      });
      c.on('warning', () => undefined);
      c.on('disconnected', () => undefined);
      this.buses.set(key, c);
    }
    return c;
  }

  /** unit -> machines where systemd runs it (active, activating, deactivating, reloading). */
  async runningOn(units: readonly string[], machines = this.liveMachines()): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(units.map((u) => [u, []]));
    await Promise.all(
      machines.map(async (m) => {
        const sd = await this.systemd(m);
        const states = await sd.list(units);
        for (const [u, s] of states) if (isRunning(s.activeState)) out.get(u)?.push(m);
      }),
    );
    for (const v of out.values()) v.sort();
    return out;
  }

  /** Waits until each unit runs on exactly the given machine(s); returns how long it took. */
  async waitRunning(
    expected: Record<string, string | string[]>,
    what: string,
    timeoutMs = 60000,
  ): Promise<number> {
    const t0 = Date.now();
    const units = Object.keys(expected);
    const want = (u: string) => [expected[u]!].flat().sort().join(',');
    let last = new Map<string, string[]>();
    await until(
      async () => {
        last = await this.runningOn(units);
        return units.every((u) => last.get(u)!.join(',') === want(u)) || undefined;
      },
      what,
      timeoutMs,
      100,
    ).catch((e: Error) => {
      const seen = units.map((u) => `${u}: [${last.get(u)?.join(',')}] want [${want(u)}]`).join('; ');
      throw new Error(`${e.message}; ${seen}`);
    });
    return Date.now() - t0;
  }

  /** Where the engine assigned a unit (machine names). */
  async assignedTo(unit: string): Promise<string[]> {
    return (await this.reg.listSchedule()).items
      .filter((i) => i.record.unit === unit)
      .map((i) => this.nameOf(i.record.machineId))
      .sort();
  }

  /** MainPID and ActiveEnterTimestampMonotonic of a unit on a machine (a restart changes both). */
  async facts(machine: string, unit: string): Promise<string> {
    const sd = await this.systemd(machine);
    const pid = await sd.property(unit, 'org.freedesktop.systemd1.Service', 'MainPID');
    const at = await sd.property(unit, 'org.freedesktop.systemd1.Unit', 'ActiveEnterTimestampMonotonic');
    return `pid=${String(pid)} since=${String(at)}`;
  }

  /** The machine whose fleetd leads the engine (the oldest key of the registry's election). */
  async engineLeader(): Promise<string | undefined> {
    const prefix = new Keys().electionPrefix();
    const r = await this.client.kv.range({
      key: Buffer.from(prefix),
      range_end: prefixEnd(prefix),
      sort_target: 'Create',
      sort_order: 'Ascend',
      limit: 1,
    });
    const id = r.kvs[0]?.value.toString();
    return id ? this.lab.state.machines.find((m) => m.machineId === id)?.name : undefined;
  }

  /** The last lines of fleetd's journal on each live machine (for a failed test's report). */
  async journals(lines = 40): Promise<string> {
    const out: string[] = [];
    for (const m of this.liveMachines()) {
      const j = await this.lab
        .exec(m, ['journalctl', '--no-pager', '-o', 'short-precise', '-u', 'fleetd', '-n', String(lines)])
        .catch(() => undefined);
      out.push(`--- ${m}\n${j?.stdout ?? '(unreachable)'}`);
    }
    return out.join('\n');
  }
}

/**
 * Samples every machine's systemd in a loop for the whole of a test and records any moment a unit
 * runs on more than one machine. The set of units may change while it runs.
 */
export class DoubleRunSampler {
  samples = 0;
  readonly doubles: { unit: string; machines: string[]; at: number }[] = [];
  readonly errors: string[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly f: FunctionalLab,
    private readonly units: () => readonly string[],
    private readonly machines: () => string[] = () => f.liveMachines(),
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        try {
          const seen = await this.f.runningOn(this.units(), this.machines());
          this.samples++;
          for (const [unit, ms] of seen)
            if (ms.length > 1) this.doubles.push({ unit, machines: ms, at: Date.now() });
        } catch (e) {
          // a machine powered off mid-sample; the next sample skips it
          if (this.errors.length < 20) this.errors.push((e as Error).message);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

export const svc = (desc: string, xfleet = '', exec = '/bin/sleep 100000') =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=${exec}\n${xfleet ? `\n[X-Fleet]\n${xfleet}\n` : ''}`;
