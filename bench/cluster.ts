/**
 * The whole cluster on real machines: fleet-lab boots 3 machines, each running the real fleetd
 * (API, engine candidate, agent) under its own systemd, and this bench measures, per run (a fresh
 * lab each run):
 *
 *   1. `fleetctl start` of N template instances -> every one active/running;
 *   2. machine loss by kill -9 of a (non-leader) machine's fleetd -> its units running elsewhere;
 *      how many of its copies were still running on it then, and how long the restarted fleetd
 *      takes to stop them;
 *   3. machine loss by power-off (systemd's clean poweroff of the whole machine) -> its units
 *      running elsewhere;
 *   4. engine loss by kill -9 of the engine leader's fleetd -> a unit started right after running;
 *   5. the RSS of fleetd (the engine leader's, and a non-leader's), after step 1.
 *
 * Clocks end at systemd's own record: the ActiveEnterTimestamp of each unit in its machine's
 * systemd, read over D-Bus from the host (machines share the host's realtime clock). Clocks start
 * at the spawn of fleetctl (1), at systemd's ExecMainExitTimestamp of the killed fleetd.service
 * (2, 4), or at the poweroff request (3). Completion is detected by sampling every machine's
 * systemd over D-Bus (ListUnitsByNames) every SAMPLE_MS; every sample also checks that no unit is
 * active on two machines whose fleetd is alive. Step 1 is also timed by the agents' reported
 * states (a watch on the unit-state keys in etcd).
 *
 *   npm run build && node dist/bench/cluster.js [--runs=3] [--units=100] [--agent-ttl=5] [--engine-ttl=10]
 *
 * Prints one markdown table of medians (min, max). Root required. Not part of `npm test`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SystemdClient } from '../agent/systemd.js';
import { Lab, REPO_ROOT } from '../lab/lab.js';
import { clusterDir } from '../lab/state.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { FleetError, errorMessage } from '../lib/errors.js';
import { Registry, type UnitStateRecord } from '../lib/registry/index.js';
import { hostLine } from './host.js';
import { renderTable, summarize } from './table.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
function intArg(name: string, dflt: number, min: number): number {
  const v = Number(args.get(name) || dflt);
  if (!Number.isInteger(v) || v < min) {
    console.error(`bench/cluster: --${name} must be an integer of at least ${min}, not "${args.get(name)}"`);
    process.exit(2);
  }
  return v;
}
const RUNS = intArg('runs', 3, 1);
const UNITS = intArg('units', 100, 3);
const AGENT_TTL = intArg('agent-ttl', 5, 2);
/** fleetd's engine_lease_ttl: its default (10 s) unless --engine-ttl says otherwise. */
const ENGINE_TTL = intArg('engine-ttl', 10, 2);
const SAMPLE_MS = 50;
const WAIT_MS = 120000;
const MACHINES = ['m1', 'm2', 'm3'];
const FLEETCTL = join(REPO_ROOT, 'bin/fleetctl.js');
const TEMPLATE = 'benchc@.service';
const INSTANCES = Array.from({ length: UNITS }, (_, i) => `benchc@${i + 1}.service`);
const TEMPLATE_BODY = '[Unit]\nDescription=bench %i\n\n[Service]\nExecStart=/bin/sleep 100000\n';
const NEW_UNIT = 'benchc-new.service';
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
const SERVICE_IFACE = 'org.freedesktop.systemd1.Service';

function benchError(message: string, cause?: unknown): FleetError {
  return new FleetError('BENCH_FAILED', `bench/cluster: ${message}`, { cause });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One machine's systemd, read from the host over its D-Bus socket. */
class Machine {
  private constructor(
    readonly name: string,
    readonly id: string,
    private readonly sd: SystemdClient,
  ) {}

  static async connect(lab: Lab, name: string): Promise<Machine> {
    const sd = await SystemdClient.connect({
      busAddress: lab.busAddress(name),
      unitsDirectory: '/run/fleet/units',
      filesRoot: `/proc/${lab.pid1(name)}/root`,
      callTimeoutMs: 10000,
    });
    return new Machine(name, lab.machine(name).machineId, sd);
  }

  /** The units among `names` that systemd has active/running. */
  async running(names: readonly string[]): Promise<Set<string>> {
    const states = await this.sd.list(names);
    const out = new Set<string>();
    for (const [unit, s] of states) if (s.activeState === 'active' && s.subState === 'running') out.add(unit);
    return out;
  }

  /** A realtime timestamp property (µs since the epoch in systemd) in ms since the epoch. */
  async timestampMs(unit: string, iface: string, property: string): Promise<number> {
    const v = await this.sd.property(unit, iface, property);
    const us = typeof v === 'bigint' ? Number(v) : Number(v ?? 0);
    if (!(us > 0)) throw benchError(`${this.name}: ${unit} has no ${property} in systemd`);
    return us / 1000;
  }

  /** When systemd last saw each unit enter active (ms since the epoch); the latest of them. */
  async lastActiveEnterMs(units: Iterable<string>): Promise<number> {
    let last = 0;
    for (const u of units)
      last = Math.max(last, await this.timestampMs(u, UNIT_IFACE, 'ActiveEnterTimestamp'));
    return last;
  }

  close(): void {
    this.sd.close();
  }
}

/** Every live machine's running units among `names`, one sample; counts units seen twice. */
async function sample(
  machines: readonly Machine[],
  names: readonly string[],
): Promise<Map<Machine, Set<string>>> {
  const out = new Map<Machine, Set<string>>();
  await Promise.all(machines.map(async (m) => out.set(m, await m.running(names))));
  return out;
}

function twiceIn(s: Map<Machine, Set<string>>): number {
  const seen = new Set<string>();
  let twice = 0;
  for (const set of s.values())
    for (const u of set) {
      if (seen.has(u)) twice++;
      seen.add(u);
    }
  return twice;
}

interface RunResult {
  registryMs: number;
  startMs: number;
  startReportedMs: number;
  fleetctlExitMs: number;
  killMs: number;
  orphans: number;
  orphansStoppedMs: number;
  poweroffMs: number;
  offGoneMs: number;
  engineMs: number;
  leaderRss: { hwm: number; rss: number };
  otherRss: { hwm: number; rss: number };
  twice: number;
}

class ClusterRun {
  private machines = new Map<string, Machine>();
  /** The most units seen active on two machines (whose fleetd is alive) in one sample. */
  private twice = 0;
  /** The watch on the agents' reported states (step 1), stopped by close() after a failure too. */
  private states: { stop(): Promise<void> } | undefined;
  private dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'));

  constructor(
    private readonly lab: Lab,
    private readonly reg: Registry,
  ) {
    writeFileSync(
      join(this.dir, TEMPLATE),
      '[Unit]\nDescription=bench %i\n\n[Service]\nExecStart=/bin/sleep 100000\n',
    );
    writeFileSync(join(this.dir, NEW_UNIT), '[Service]\nExecStart=/bin/sleep 100000\n');
  }

  async connect(): Promise<void> {
    for (const name of MACHINES) this.machines.set(name, await Machine.connect(this.lab, name));
  }

  async close(): Promise<void> {
    await this.states?.stop().catch(() => undefined);
    for (const m of this.machines.values()) m.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private m(name: string): Machine {
    const m = this.machines.get(name);
    if (!m) throw benchError(`machine ${name} is not connected`);
    return m;
  }

  private fleetctl(...argv: string[]): Promise<{ exitedAt: number }> {
    return new Promise((ok, ko) => {
      const child = spawn(
        process.execPath,
        [FLEETCTL, '--driver=etcd', `--endpoint=${this.lab.endpoints[0]}`, ...argv],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', ko);
      child.on('close', (code) => {
        if (code === 0) ok({ exitedAt: Date.now() });
        else ko(benchError(`fleetctl ${argv.slice(0, 3).join(' ')}... exited ${code}: ${err.trim()}`));
      });
    });
  }

  /**
   * Samples `on` until `done` says so (or WAIT_MS passes), counting units active on two of the
   * machines in `live` (fleetd alive there) in every sample.
   */
  private async waitFor(
    what: string,
    names: readonly string[],
    on: readonly Machine[],
    done: (s: Map<Machine, Set<string>>) => boolean,
  ): Promise<Map<Machine, Set<string>>> {
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const s = await sample(on, names);
      this.twice = Math.max(this.twice, twiceIn(s));
      if (done(s)) return s;
      if (performance.now() > deadline) {
        const counts = [...s].map(([m, set]) => `${m.name}: ${set.size}`).join(', ');
        throw benchError(`timed out after ${WAIT_MS / 1000} s waiting for ${what} (running: ${counts})`);
      }
      await sleep(SAMPLE_MS);
    }
  }

  private async leaderName(): Promise<string> {
    const id = await this.reg.engineElection(ENGINE_TTL).leader();
    const m = this.lab.state.machines.find((x) => x.machineId === id);
    if (!m) throw benchError(`the engine leader "${id ?? '(none)'}" is not one of the lab's machines`);
    return m.name;
  }

  private async waitMachines(n: number): Promise<void> {
    const deadline = performance.now() + WAIT_MS;
    while ((await this.reg.listMachines()).items.length !== n) {
      if (performance.now() > deadline) throw benchError(`timed out waiting for ${n} machines to register`);
      await sleep(100);
    }
  }

  /** When the machine's record left etcd (polled). */
  private async machineGone(id: string): Promise<number> {
    const deadline = performance.now() + WAIT_MS;
    while ((await this.reg.listMachines()).items.some((m) => m.id === id)) {
      if (performance.now() > deadline) throw benchError(`machine ${id}'s record never left etcd`);
      await sleep(SAMPLE_MS);
    }
    return Date.now();
  }

  private async waitLeader(): Promise<string> {
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const id = await this.reg.engineElection(ENGINE_TTL).leader();
      if (id !== undefined) return this.leaderName();
      if (performance.now() > deadline) throw benchError('timed out waiting for an engine leader');
      await sleep(100);
    }
  }

  private async rss(name: string): Promise<{ hwm: number; rss: number }> {
    const r = await this.lab.exec(name, [
      'sh',
      '-c',
      'grep -E "^(VmHWM|VmRSS):" /proc/$(systemctl show --property=MainPID --value fleetd.service)/status',
    ]);
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(r.stdout)?.[1] ?? NaN);
    return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
  }

  /** kill -9 of fleetd in `name`; when it died, per systemd. */
  private async killFleetd(name: string): Promise<number> {
    await this.lab.killFleetd(name);
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const r = await this.lab.exec(name, ['systemctl', 'is-active', 'fleetd.service']);
      if (r.stdout.trim() !== 'active') break;
      if (performance.now() > deadline)
        throw benchError(`${name}: fleetd.service still active after kill -9`);
      await sleep(20);
    }
    return this.m(name).timestampMs('fleetd.service', SERVICE_IFACE, 'ExecMainExitTimestamp');
  }

  async run(): Promise<RunResult> {
    const all = [...this.machines.values()];
    await this.waitMachines(MACHINES.length);
    const leader = await this.waitLeader();

    // 1. N instances: first written straight into etcd (the registry, as automation would), then
    // destroyed, then started with fleetctl; the agents' reported states watched beside systemd.
    const reported = new Map<string, boolean>();
    let reportedAt = 0;
    const states = this.reg.watchUnitStates(undefined);
    this.states = states;
    const onState = (r: UnitStateRecord, up: boolean) => {
      const key = `${r.machineId}/${r.unit}`;
      if (up) reported.set(key, r.activeState === 'active' && r.subState === 'running');
      else reported.delete(key);
      if (reportedAt === 0 && [...reported.values()].filter(Boolean).length === UNITS)
        reportedAt = Date.now();
    };
    states.on('put', (e) => onState(e.item.record, true));
    states.on('delete', (e) => onState(e.prev.record, false));
    await states.start();
    const allRunning = (what: string) =>
      this.waitFor(
        what,
        INSTANCES,
        all,
        (s) => new Set([...s.values()].flatMap((set) => [...set])).size === UNITS,
      );
    const lastEnter = async (s: Map<Machine, Set<string>>) => {
      let last = 0;
      for (const [m, set] of s) last = Math.max(last, await m.lastActiveEnterMs(set));
      return last;
    };

    const tr = Date.now();
    await this.reg.submitUnits(
      INSTANCES.map((name) => ({ name, body: TEMPLATE_BODY, desiredState: 'launched' })),
    );
    const registryMs = (await lastEnter(await allRunning(`${UNITS} units running (registry submit)`))) - tr;
    for (const u of INSTANCES) await this.reg.destroyUnit(u);
    await this.waitFor('every unit stopped after destroy', INSTANCES, all, (s) =>
      [...s.values()].every((set) => set.size === 0),
    );
    const deadline = performance.now() + WAIT_MS;
    while (reported.size > 0) {
      if (performance.now() > deadline) throw benchError('the agents kept reporting destroyed units');
      await sleep(SAMPLE_MS);
    }
    reportedAt = 0;

    const t0 = Date.now();
    const started = this.fleetctl('start', '--no-block', ...INSTANCES.map((u) => join(this.dir, u)));
    const s1 = await allRunning(`${UNITS} units running (fleetctl start)`);
    const { exitedAt } = await started;
    const startMs = (await lastEnter(s1)) - t0;
    while (reportedAt === 0 && Date.now() - t0 < WAIT_MS) await sleep(SAMPLE_MS);
    await states.stop();
    if (reportedAt === 0) throw benchError(`the agents never reported all ${UNITS} units active/running`);
    const startReportedMs = reportedAt - t0;
    let last: number;

    // 5. RSS, after the start (each fleetd's agent runs ~N/3 units).
    const other = MACHINES.find((n) => n !== leader)!;
    const leaderRss = await this.rss(leader);
    const otherRss = await this.rss(other);

    // 2. kill -9 of the fleetd of the non-leader machine with the most units.
    const busiest = async (exclude: string[]) => {
      const s = await sample(
        all.filter((m) => !exclude.includes(m.name)),
        INSTANCES,
      );
      return [...s].sort((a, b) => b[1].size - a[1].size)[0]!;
    };
    const [victim, victimUnits] = await busiest([leader]);
    const moved = [...victimUnits];
    const survivors = all.filter((m) => m !== victim);
    const killedAt = await this.killFleetd(victim.name);
    const s2 = await this.waitFor(
      `${victim.name}'s ${moved.length} units running elsewhere`,
      moved,
      survivors,
      (s) => moved.every((u) => [...s.values()].some((set) => set.has(u))),
    );
    last = 0;
    for (const [m, set] of s2)
      last = Math.max(last, await m.lastActiveEnterMs(moved.filter((u) => set.has(u))));
    const killMs = last - killedAt;
    const orphans = (await victim.running(moved)).size;
    // The restarted fleetd: its agent finds copies it is no longer assigned, and stops them.
    const restartAt = Date.now();
    await this.lab.exec(victim.name, ['systemctl', 'start', 'fleetd.service']);
    await this.waitFor(
      `the restarted fleetd on ${victim.name} to stop its orphaned copies`,
      INSTANCES,
      [victim],
      (s) => (s.get(victim)?.size ?? 0) === 0,
    );
    const orphansStoppedMs = Date.now() - restartAt;
    await this.waitMachines(MACHINES.length);

    // 3. power-off of the non-leader machine with the most units.
    const [off, offUnits] = await busiest([leader]);
    const offMoved = [...offUnits];
    const remaining = all.filter((m) => m !== off);
    off.close();
    this.machines.delete(off.name);
    const offAt = Date.now();
    const powering = this.lab.poweroff(off.name);
    const s3 = await this.waitFor(
      `${off.name}'s ${offMoved.length} units running elsewhere`,
      offMoved,
      remaining,
      (s) => offMoved.every((u) => [...s.values()].some((set) => set.has(u))),
    );
    await powering;
    const offGoneMs = (await this.machineGone(off.id)) - offAt;
    last = 0;
    for (const [m, set] of s3)
      last = Math.max(last, await m.lastActiveEnterMs(offMoved.filter((u) => set.has(u))));
    const poweroffMs = last - offAt;

    // 4. kill -9 of the engine leader's fleetd; a new unit started right after.
    const lead = await this.leaderName();
    const rest = remaining.filter((m) => m.name !== lead);
    const deposedAt = await this.killFleetd(lead);
    await this.fleetctl('start', '--no-block', join(this.dir, NEW_UNIT));
    const s4 = await this.waitFor(`${NEW_UNIT} running`, [NEW_UNIT], rest, (s) =>
      [...s.values()].some((set) => set.has(NEW_UNIT)),
    );
    const where = [...s4].find(([, set]) => set.has(NEW_UNIT))![0];
    const engineMs = (await where.lastActiveEnterMs([NEW_UNIT])) - deposedAt;

    return {
      registryMs,
      startMs,
      startReportedMs,
      fleetctlExitMs: exitedAt - t0,
      killMs,
      orphans,
      orphansStoppedMs,
      poweroffMs,
      offGoneMs,
      engineMs,
      leaderRss,
      otherRss,
      twice: this.twice,
    };
  }
}

/** Appends engine_lease_ttl to each machine's fleet.conf and restarts its fleetd (before any unit). */
async function setEngineTtl(lab: Lab): Promise<void> {
  for (const name of MACHINES) {
    const r = await lab.exec(name, [
      'sh',
      '-c',
      `echo 'engine_lease_ttl="${ENGINE_TTL}s"' >> /etc/fleet/fleet.conf && systemctl restart fleetd.service`,
    ]);
    if (r.code !== 0) throw benchError(`${name}: cannot set engine_lease_ttl: ${r.stderr.trim()}`);
  }
}

async function oneRun(name: string): Promise<RunResult> {
  const lab = await Lab.up({ name, machines: MACHINES.length, fleetd: true, agentTtl: AGENT_TTL });
  const client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 10000 });
  let run: ClusterRun | undefined;
  try {
    if (ENGINE_TTL !== 10) await setEngineTtl(lab);
    run = new ClusterRun(lab, new Registry(client));
    await run.connect();
    return await run.run();
  } finally {
    await run?.close();
    client.close();
    await lab.down();
  }
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (x: number) => `${x.toFixed(0)} MiB`;

function row(label: string, how: string, xs: number[], fmt: (x: number) => string): string[] {
  const s = summarize(xs);
  return [label, how, fmt(s.median), fmt(s.min), fmt(s.max), String(s.n)];
}

async function main(): Promise<void> {
  const name = `bc${process.pid}`;
  const host = hostLine();
  const results: RunResult[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const res = await oneRun(name);
      results.push(res);
      process.stderr.write(
        `cluster run ${r + 1}/${RUNS}: start ${sec(res.startMs)}, kill -9 ${sec(res.killMs)} (orphans ${res.orphans}), poweroff ${sec(res.poweroffMs)}, engine ${sec(res.engineMs)}\n`,
      );
    }
  } finally {
    if (existsSync(clusterDir(name))) await Lab.down(name).catch(() => undefined);
  }
  const col = <K extends keyof RunResult>(k: K) => results.map((x) => x[k]);
  const ttl = `agent_ttl ${AGENT_TTL} s`;
  const rows = [
    row(
      `${UNITS} units start -> all active/running on 3 machines`,
      `\`fleetctl start --no-block\` of ${UNITS} template instances (etcd driver, from the host); clock from spawning fleetctl to the last ActiveEnterTimestamp in the machines' systemd (D-Bus)`,
      col('startMs'),
      sec,
    ),
    row(
      `${UNITS} units start -> all active/running (agents' reported states)`,
      'the same start; clock to the last active/running state arriving on a watch of the unit-state keys in etcd',
      col('startReportedMs'),
      sec,
    ),
    row(
      `fleetctl start --no-block of ${UNITS} units (process spawn -> exit)`,
      'the same start: the fleetctl process alone',
      col('fleetctlExitMs'),
      sec,
    ),
    row(
      `${UNITS} units submitted into etcd -> all active/running`,
      `\`Registry.submitUnits\` in the bench process (no fleetctl), launched; clock from the submit to the last ActiveEnterTimestamp (then destroyed, before the fleetctl start)`,
      col('registryMs'),
      sec,
    ),
    row(
      'machine loss (kill -9 fleetd) -> its units running elsewhere',
      `${ttl}; a non-leader machine's fleetd killed (clock from its ExecMainExitTimestamp) to the last of its units' ActiveEnterTimestamp on the other machines`,
      col('killMs'),
      sec,
    ),
    row(
      'kill -9: copies still running on the killed machine',
      'units of the killed machine still active there when the last was running elsewhere (nothing is left to stop them until fleetd returns)',
      col('orphans'),
      (x) => x.toFixed(0),
    ),
    row(
      'kill -9: restarted fleetd stops those copies',
      '`systemctl start fleetd` on the killed machine -> none of the copies active there (sampled)',
      col('orphansStoppedMs'),
      sec,
    ),
    row(
      'machine loss (power-off) -> its units running elsewhere',
      `${ttl}; systemd's clean poweroff of a non-leader machine (fleetd gets SIGTERM); clock from the request to the last ActiveEnterTimestamp elsewhere`,
      col('poweroffMs'),
      sec,
    ),
    row(
      "power-off: the machine's record gone from etcd",
      'clock from the poweroff request until its machine record left etcd (lease revoked by the leaving agent, or expired)',
      col('offGoneMs'),
      sec,
    ),
    row(
      'engine loss (kill -9 the leader) -> a new unit running',
      `engine_lease_ttl ${ENGINE_TTL} s; the leader's fleetd killed (clock from its ExecMainExitTimestamp), \`fleetctl start\` of a new unit right after, to its ActiveEnterTimestamp`,
      col('engineMs'),
      sec,
    ),
    row(
      'fleetd RSS, engine leader: peak',
      `VmHWM of the leader's fleetd (engine + agent + API) after the start of ${UNITS} units`,
      results.map((x) => x.leaderRss.hwm),
      mib,
    ),
    row(
      'fleetd RSS, engine leader: now',
      'VmRSS, same moment',
      results.map((x) => x.leaderRss.rss),
      mib,
    ),
    row(
      'fleetd RSS, non-leader (agent): peak',
      `VmHWM of a non-leader's fleetd (agent + API + idle engine candidate) after the start`,
      results.map((x) => x.otherRss.hwm),
      mib,
    ),
    row(
      'fleetd RSS, non-leader (agent): now',
      'VmRSS, same moment',
      results.map((x) => x.otherRss.rss),
      mib,
    ),
    row(
      'units seen active on two live machines at once',
      `the most in one sample (every ${SAMPLE_MS} ms, every machine whose fleetd is alive, all steps)`,
      col('twice'),
      (x) => x.toFixed(0),
    ),
  ];
  const cmd = `node dist/bench/cluster.js --runs=${RUNS} --units=${UNITS} --agent-ttl=${AGENT_TTL} --engine-ttl=${ENGINE_TTL}`;
  console.log(`cluster bench: ${host}`);
  console.log(`\n$ ${cmd}`);
  console.log(
    `(medians of ${RUNS} run${RUNS === 1 ? '' : 's'}, each on a fresh fleet-lab of 3 machines running fleetd; ${ttl}, engine_lease_ttl ${ENGINE_TTL} s)\n`,
  );
  console.log(renderTable(['measure', 'how', 'median', 'min', 'max', 'runs'], rows, 'llrrrr'));
}

main().catch((e: unknown) => {
  console.error(errorMessage(e));
  process.exitCode = 1;
});
