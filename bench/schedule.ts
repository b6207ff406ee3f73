/**
 * Scheduling throughput: 1,000 simulated machines (registry-level machine records on leases, no
 * systemd) and 100,000 units submitted at once; an engine process (dist/engine/main.js) places
 * them. Measured in the same run against the same etcd (started here via lab/etcd-server and
 * stopped by PID at the end):
 *
 *   - placements/s: from the start of the submission until every unit is assigned;
 *   - the raw etcd batched-write rate: 128-op put transactions of the same sizes, as many in
 *     flight as the engine's applier keeps (8);
 *   - the planner alone, in memory, and its cost per decision as the machine count grows;
 *   - the engine process's RSS (peak and at the end).
 *
 *   npm run build && node dist/bench/schedule.js [--runs=3] [--machines=1000] [--units=100000] [--in-flight=16]
 *     [--submit-batch=1016] [--only=once|cold|planner|path]
 *
 * Debugging (environment): BENCH_ENGINE_LOG=1 (passes and writes), BENCH_CPU_TIMELINE=1 (CPU per
 * process per 250 ms), BENCH_ETCD_METRICS=1 (etcd's watch counters), BENCH_ENGINE_NODE_ARGS
 * (e.g. --cpu-prof) and BENCH_ENGINE_OUT=FILE (the engine's stdout).
 *
 * Prints one table of medians. Not part of `npm test`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { ClusterModel } from '../engine/model.js';
import { applyDecisions } from '../engine/apply-model.js';
import { Planner, plan } from '../engine/planner.js';
import { ParseCache, UnitReader } from '../engine/unit-info.js';
import { EtcdServer } from '../lab/etcd-server.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import {
  Registry,
  Keys,
  assignmentPut,
  decodeUnit,
  validateUnit,
  type UnitInput,
} from '../lib/registry/index.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
const RUNS = Number(args.get('runs') || 3);
const MACHINES = Number(args.get('machines') || 1000);
const UNITS = Number(args.get('units') || 100000);
/**
 * --only=cold / --only=once: only the cold-start or only the submitted-at-once engine runs (for
 * profiling); --only=planner: only the planner in memory, RUNS times; --only=path: the engine's
 * own work per unit in memory (see pathRun), RUNS times. The last two need no etcd and run in one
 * process: the least noisy way to compare changes to the engine's code on a shared host.
 */
const ONLY_COLD = args.get('only') === 'cold';
const ONLY_ONCE = args.get('only') === 'once';
const ONLY_PLANNER = args.get('only') === 'planner';
const ONLY_PATH = args.get('only') === 'path';
const IN_FLIGHT = Number(args.get('in-flight') || 16);
/** Units per Registry.submitUnits call when submitting at once. */
const SUBMIT_BATCH = Number(args.get('submit-batch') || 1016);

/** Engine processes running now (stopped by PID if the bench is interrupted). */
const engines = new Set<ChildProcess>();

function body(i: number): string {
  return `[Unit]\nDescription=bench unit ${i}\n\n[Service]\nExecStart=/bin/sleep ${1000 + i}\n`;
}

function machineId(i: number): string {
  return `bench-${String(i).padStart(5, '0')}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function pool(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** "engine 5.1 + etcd 3.2 + bench 2.0 = 10.3 CPU-s in 6.0 s" */
function cpuLine(r: EngineResult): string {
  const { engine, etcd, bench } = r.cpu;
  const sum = engine + etcd + bench;
  return `engine ${engine.toFixed(1)} + etcd ${etcd.toFixed(1)} + bench ${bench.toFixed(1)} = ${sum.toFixed(1)} CPU-s in ${(r.ms / 1000).toFixed(1)} s`;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** KiB as whole MiB. */
function mib(kb: number): string {
  return fmt(kb / 1024);
}

function rssKb(pid: number): { now: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { now: get('VmRSS'), peak: get('VmHWM') };
}

/** One engine run: machines, engine process, submit everything at once, wait for all assigned. */
interface EngineResult {
  perSec: number;
  ms: number;
  rss: { now: number; peak: number };
  /** CPU seconds used from the clock's start until the last unit was assigned: the engine process, etcd, this bench (its submit and its watch). */
  cpu: { engine: number; etcd: number; bench: number };
}

async function engineRun(
  server: EtcdServer,
  client: Etcd3,
  prefix: string,
  cold: boolean,
): Promise<EngineResult> {
  const reg = new Registry(client, { prefix });
  await reg.checkSchema();
  // Machines: records on leases (no keep-alive needed: the TTL outlives the run).
  await pool(MACHINES, 32, async (i) => {
    const lease = client.lease(3600, { autoKeepAlive: false });
    const id = await lease.grant();
    await reg.putMachine(
      {
        id: machineId(i),
        publicIp: '10.0.0.1',
        metadata: { rack: String(i % 10) },
        version: 'bench',
        draining: false,
      },
      id,
    );
  });
  const units: UnitInput[] = Array.from({ length: UNITS }, (_, i) => ({
    name: `u${i}.service`,
    body: body(i),
    desiredState: 'launched',
  }));
  // "At once": the whole set in batched submissions, IN_FLIGHT at a time.
  const batches = Math.ceil(UNITS / SUBMIT_BATCH);
  const submitAll = () =>
    pool(batches, IN_FLIGHT, (k) => reg.submitUnits(units.slice(k * SUBMIT_BATCH, (k + 1) * SUBMIT_BATCH)));
  // Count assignments as they appear (keys only: the bench must not compete for CPU).
  let assigned = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  const watcher = await client.watch().prefix(reg.keys.schedulePrefix()).create();
  watcher.on('put', (kv) => {
    if (kv.version === '1' && ++assigned >= UNITS) done();
  });
  if (cold) await submitAll();
  const etcdCpu = () => (server.pid !== undefined ? cpuSeconds(server.pid) : NaN);
  const benchCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  let cpu0 = { etcd: etcdCpu(), bench: benchCpu() };
  const tStart = performance.now();
  const wallStart = Date.now();
  const main = fileURLToPath(new URL('../engine/main.js', import.meta.url));
  // BENCH_ENGINE_NODE_ARGS: extra node flags for the engine process (e.g. --cpu-prof).
  const nodeArgs = (process.env.BENCH_ENGINE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(
    process.execPath,
    [...nodeArgs, main, '--candidate', 'bench-engine', '--concurrency', String(IN_FLIGHT)],
    {
      env: {
        PATH: process.env.PATH ?? '',
        FLEET_ETCD_SERVERS: server.endpoint,
        FLEET_ETCD_KEY_PREFIX: prefix,
        FLEET_ENGINE_LEASE_TTL: '10',
        FLEET_ENGINE_RECONCILE_INTERVAL: '600',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  engines.add(proc);
  proc.once('exit', () => engines.delete(proc));
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    const t = Date.now();
    while (!cold && !out.includes('"elected"')) {
      if (Date.now() - t > 30000) throw new Error(`bench: the engine was not elected: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!cold) cpu0 = { etcd: etcdCpu(), bench: benchCpu() };
    // BENCH_CPU_TIMELINE=1: each process's CPU use (% of one core) per 250 ms, printed at the end.
    const timeline: string[] = [];
    let last = { e: cpuSeconds(proc.pid!), d: etcdCpu(), b: benchCpu(), t: performance.now() };
    const sampler = process.env.BENCH_CPU_TIMELINE
      ? setInterval(() => {
          const now = { e: cpuSeconds(proc.pid!), d: etcdCpu(), b: benchCpu(), t: performance.now() };
          const pct = (x: number) => String(Math.round((x / ((now.t - last.t) / 1000)) * 100)).padStart(4);
          timeline.push(`${pct(now.e - last.e)} ${pct(now.d - last.d)} ${pct(now.b - last.b)}`);
          last = now;
        }, 250)
      : undefined;
    const engineCpu0 = cold ? 0 : cpuSeconds(proc.pid!);
    const t0 = cold ? tStart : performance.now();
    if (!cold) await submitAll();
    const submitted = performance.now() - t0;
    const timeout = setTimeout(() => done(), 600000);
    await all;
    clearTimeout(timeout);
    const ms = performance.now() - t0;
    if (sampler) {
      clearInterval(sampler);
      process.stderr.write(`  CPU % per 250 ms: engine etcd bench\n    ${timeline.join('\n    ')}\n`);
    }
    if (assigned < UNITS) throw new Error(`bench: only ${assigned} of ${UNITS} units were assigned`);
    const rss = rssKb(proc.pid!);
    // BENCH_ETCD_METRICS=1: etcd's watch counters after the run (events sent, and sent late).
    if (process.env.BENCH_ETCD_METRICS) {
      const text = await (await fetch(`${server.endpoint}/metrics`)).text();
      const lines = text
        .split('\n')
        .filter((l) => /^etcd_debugging_mvcc_(events|pending_events)_total/.test(l));
      process.stderr.write(`  etcd: ${lines.join(', ')}\n`);
    }
    // BENCH_ENGINE_OUT=FILE: the engine's whole stdout (e.g. with BENCH_ENGINE_NODE_ARGS=--trace-gc).
    if (process.env.BENCH_ENGINE_OUT) writeFileSync(process.env.BENCH_ENGINE_OUT, out);
    const cpu = {
      engine: cpuSeconds(proc.pid!) - engineCpu0,
      etcd: etcdCpu() - cpu0.etcd,
      bench: benchCpu() - cpu0.bench,
    };
    // BENCH_ENGINE_LOG=1: the engine's passes and writes (from its stdout), one summary line.
    if (process.env.BENCH_ENGINE_LOG) {
      const lines = out.split('\n').filter((l) => l.startsWith('{'));
      const events = lines.map(
        (l) => JSON.parse(l) as { event: string; t: number; ms?: number; decisions?: number },
      );
      const planned = events.filter((e) => e.event === 'planned');
      const applied = events.filter((e) => e.event === 'applied');
      const sum = (xs: { ms?: number }[]) => Math.round(xs.reduce((n, x) => n + (x.ms ?? 0), 0));
      process.stderr.write(
        `  engine: ${planned.length} passes (${sum(planned)} ms planning; decisions ${planned.map((p) => p.decisions).join(',')}), ${applied.length} applies (${sum(applied)} ms)\n`,
      );
      // When each pass and write ended, in ms from the clock's start.
      const at = (e: { t: number }) => e.t - (wallStart + (t0 - tStart));
      const timeline = events
        .filter((e) => e.event === 'planned' || e.event === 'applied')
        .map((e) => `${e.event === 'planned' ? 'P' : 'A'}${e.decisions}@${Math.round(at(e))}`);
      process.stderr.write(`  timeline (P: planned, A: applied, decisions@ms): ${timeline.join(' ')}\n`);
    }
    if (!cold)
      process.stderr.write(
        `  submit took ${Math.round(submitted)} ms; all assigned after ${Math.round(ms)} ms\n`,
      );
    return { perSec: UNITS / (ms / 1000), ms, rss, cpu };
  } finally {
    await watcher.cancel().catch(() => undefined);
    proc.kill('SIGTERM');
    await exited;
  }
}

/**
 * Raw etcd: put transactions of assignment-sized values, IN_FLIGHT at a time: 128 plain puts, or
 * (fenced) the engine's shape: 127 puts and the fence compare.
 */
async function rawRun(client: Etcd3, prefix: string, fenced: boolean): Promise<number> {
  const value = JSON.stringify({
    unit: 'u00000.service',
    machineId: machineId(0),
    body: body(0),
    hash: 'x'.repeat(64),
    desiredState: 'launched',
  });
  const per = fenced ? 127 : 128;
  const txns = Math.ceil(UNITS / per);
  await client.put(`${prefix}raw-fence`).value('x');
  const rev = (await client.kv.range({ key: Buffer.from(`${prefix}raw-fence`) })).kvs[0]!.create_revision;
  const cmp = {
    key: Buffer.from(`${prefix}raw-fence`),
    target: 'Create' as const,
    result: 'Equal' as const,
    create_revision: rev,
  };
  const t0 = performance.now();
  await pool(txns, IN_FLIGHT, async (t) => {
    const success = Array.from({ length: per }, (_, j) => ({
      request_put: {
        key: Buffer.from(
          `${prefix}${fenced ? 'raw-fenced' : 'raw'}/${machineId((t * per + j) % MACHINES)}/u${t * per + j}.service`,
        ),
        value: Buffer.from(value),
      },
    }));
    const compare = fenced ? [cmp] : [];
    await client.kv.txn({ compare, success, failure: [] });
  });
  return (txns * per) / ((performance.now() - t0) / 1000);
}

/** A model of `machines` machines (the simulated ones' metadata) and no units. */
function machinesModel(machines: number): ClusterModel {
  const m = new ClusterModel();
  for (let i = 0; i < machines; i++) {
    m.putMachine({ id: machineId(i), metadata: { rack: String(i % 10) }, draining: false });
  }
  return m;
}

/**
 * A model of `machines` machines and UNITS units (none placed), read as the engine reads them;
 * `add(i)` puts unit u<i> and returns its name.
 */
function benchModel(machines: number): { m: ClusterModel; add: (i: number) => string } {
  const m = machinesModel(machines);
  const cache = new ParseCache();
  const reader = new UnitReader(cache);
  const add = (i: number): string => {
    const b = body(i);
    const v = cache.check(b);
    if (!v.ok) throw new Error(v.reason);
    const name = `u${i}.service`;
    m.putUnit(reader.read({ name, body: b, hash: v.hash, desiredState: 'launched' }));
    return name;
  };
  for (let i = 0; i < UNITS; i++) add(i);
  return { m, add };
}

/** The planner alone: a model of `machines` machines and UNITS units, one pass, decisions/s. */
function plannerRun(machines: number): { perSec: number; usPerDecision: number } {
  const { m } = benchModel(machines);
  const t0 = performance.now();
  const p = plan(m, 0);
  const ms = performance.now() - t0;
  if (p.decisions.length !== UNITS) throw new Error(`bench: the planner placed ${p.decisions.length}`);
  return { perSec: UNITS / (ms / 1000), usPerDecision: (ms * 1000) / UNITS };
}

/**
 * The planner after a few changes: UNITS units placed on `machines` machines, then rounds of
 * `batch` new units, each planned by a Planner that remembers the last pass (what the engine does
 * while units keep coming). Median ms per pass.
 */
function scopedRun(machines: number, batch: number): number {
  const { m, add } = benchModel(machines);
  const planner = new Planner();
  applyDecisions(m, planner.plan(m, 0).decisions);
  const times: number[] = [];
  let next = UNITS;
  for (let round = 0; round < 25; round++) {
    const changed = Array.from({ length: batch }, () => add(next++));
    const t0 = performance.now();
    const p = planner.plan(m, 0, changed);
    times.push(performance.now() - t0);
    if (p.decisions.length !== batch) throw new Error(`bench: a scoped pass placed ${p.decisions.length}`);
    applyDecisions(m, p.decisions);
  }
  return median(times.slice(5));
}

/** Compacts and defragments between runs, so runs start from the same etcd state. */
async function compact(client: Etcd3): Promise<void> {
  const rev = (await client.kv.range({ key: Buffer.from('/'), limit: 1 })).header.revision;
  await client.kv.compact({ revision: rev, physical: true });
  await client.maintenance.defragment({});
}

/**
 * The engine's own work per unit, in memory, as at once: the stored values of UNITS units (as
 * Registry.submitUnits writes them) are decoded and read (JSON, parse, hash, [X-Fleet]) into the
 * model 127 at a time (an etcd watch response of one submit transaction), each batch planned by a
 * Planner that remembers the last pass, and each placement's write encoded (value, validation,
 * key and value bytes). No etcd, gRPC, streams or pending writes: what is left is our code.
 * Returns µs per unit for each step.
 */
function pathRun(machines: number): { ingest: number; plan: number; encode: number } {
  const m = machinesModel(machines);
  const cache = new ParseCache();
  const reader = new UnitReader(cache);
  const keys = new Keys('/bench/');
  const at = new Date().toISOString();
  const values = Array.from({ length: UNITS }, (_, i) => {
    const d = validateUnit(
      {
        name: `u${i}.service`,
        body: body(i),
        hash: '',
        desiredState: 'launched',
        createdAt: at,
        updatedAt: at,
      },
      cache.check,
    );
    if (!d.ok) throw new Error(d.reason);
    return d.value;
  });
  const planner = new Planner();
  const ms = { ingest: 0, plan: 0, encode: 0 };
  for (let first = 0; first < UNITS; first += 127) {
    const t0 = performance.now();
    const changed: string[] = [];
    for (let i = first; i < Math.min(first + 127, UNITS); i++) {
      const name = `u${i}.service`;
      const d = decodeUnit(name, values[i]!, cache.check);
      if (!d.ok) throw new Error(d.reason);
      const r = d.record;
      m.putUnit(reader.read({ name, body: r.body, hash: r.hash, desiredState: r.desiredState }));
      changed.push(name);
    }
    const t1 = performance.now();
    const p = planner.plan(m, 0, changed);
    const t2 = performance.now();
    for (const dec of p.decisions) {
      const u = m.units.get(dec.unit)!;
      assignmentPut(keys, {
        unit: u.name,
        machineId: dec.machineId,
        body: u.body,
        hash: u.hash,
        desiredState: 'launched',
      });
    }
    applyDecisions(m, p.decisions);
    const t3 = performance.now();
    ms.ingest += t1 - t0;
    ms.plan += t2 - t1;
    ms.encode += t3 - t2;
  }
  const us = (x: number) => (x * 1000) / UNITS;
  return { ingest: us(ms.ingest), plan: us(ms.plan), encode: us(ms.encode) };
}

/** The engine's path alone (pathRun), RUNS times. */
function pathOnly(): void {
  for (let r = 0; r < RUNS; r++) {
    const p = pathRun(MACHINES);
    process.stderr.write(
      `engine path: ${(p.ingest + p.plan + p.encode).toFixed(2)} µs per unit (take in ${p.ingest.toFixed(2)}, plan ${p.plan.toFixed(2)}, encode the write ${p.encode.toFixed(2)})\n`,
    );
  }
}

/** The planner rows alone: a full pass and a pass after 250 new units, at MACHINES machines. */
function plannerOnly(): void {
  for (let r = 0; r < RUNS; r++) {
    const full = plannerRun(MACHINES);
    const scoped = scopedRun(MACHINES, 250);
    process.stderr.write(
      `planner: full pass ${full.usPerDecision.toFixed(2)} µs/decision; after 250 new units ${scoped.toFixed(2)} ms\n`,
    );
  }
}

async function main(): Promise<void> {
  if (ONLY_PLANNER) return plannerOnly();
  if (ONLY_PATH) return pathOnly();
  const server = await EtcdServer.start();
  // Interrupted: still stop the etcd this bench started (by PID) and remove its data.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const p of engines) p.kill('SIGTERM');
      void server.remove().finally(() => process.exit(130));
    });
  }
  const client = createEtcdClient({ etcdServers: [server.endpoint], etcdRequestTimeoutMs: 60000 });
  const engine: EngineResult[] = [];
  const cold: EngineResult[] = [];
  const raw: number[] = [];
  const fenced: number[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const prefix = `/bench-${r}/`;
      if (ONLY_COLD) {
        cold.push(await engineRun(server, client, `${prefix}cold/`, true));
        process.stderr.write(
          `cold: ${fmt(cold[r]!.perSec)} placements/s, CPU ${cpuLine(cold[r]!)}, engine RSS peak ${mib(cold[r]!.rss.peak)} MiB\n`,
        );
        continue;
      }
      if (ONLY_ONCE) {
        engine.push(await engineRun(server, client, `${prefix}live/`, false));
        await client.delete().prefix(prefix).exec();
        await compact(client);
        process.stderr.write(
          `at once: ${fmt(engine[r]!.perSec)} placements/s, CPU ${cpuLine(engine[r]!)}, engine RSS peak ${mib(engine[r]!.rss.peak)} MiB\n`,
        );
        continue;
      }
      // Plain and fenced writes, each on keys of its own, in alternating order from run to run.
      // Each write run, like each engine run, starts from a compacted, defragmented etcd: the
      // second of a pair ran at a third of the first's rate right after the first's 100,000 keys
      // were deleted (35,000-40,000 against 80,000-105,000 keys/s).
      for (const f of r % 2 === 0 ? [false, true] : [true, false]) {
        (f ? fenced : raw).push(await rawRun(client, prefix, f));
        await client.delete().prefix(prefix).exec();
        await compact(client);
      }
      engine.push(await engineRun(server, client, `${prefix}live/`, false));
      await client.delete().prefix(prefix).exec();
      await compact(client);
      cold.push(await engineRun(server, client, `${prefix}cold/`, true));
      await client.delete().prefix(prefix).exec();
      await compact(client);
      process.stderr.write(
        `run ${r + 1}/${RUNS}: engine ${fmt(engine[r]!.perSec)} (cold ${fmt(cold[r]!.perSec)}) placements/s, raw ${fmt(raw[r]!)} / fenced ${fmt(fenced[r]!)} keys/s; CPU at once ${cpuLine(engine[r]!)}; cold ${cpuLine(cold[r]!)}\n`,
      );
    }
  } finally {
    client.close();
    await server.remove();
  }
  if (ONLY_COLD || ONLY_ONCE) return;
  const planner = [0, 1, 2].map(() => plannerRun(MACHINES));
  const scale = [100, 1000, 10000].map((n) => ({ n, r: plannerRun(n) }));
  const scoped = [100, 1000, 10000].map((n) => ({ n, ms: scopedRun(n, 250) }));

  const e = median(engine.map((x) => x.perSec));
  const c = median(cold.map((x) => x.perSec));
  const rw = median(raw);
  const rf = median(fenced);
  const cmd = `node dist/bench/schedule.js --runs=${RUNS} --machines=${MACHINES} --units=${UNITS} --in-flight=${IN_FLIGHT}`;
  console.log(`\n$ ${cmd}`);
  console.log(
    `(medians of ${RUNS} runs; one etcd started by the bench on this machine; ${MACHINES} machines, ${fmt(UNITS)} units)\n`,
  );
  console.log('| measure | how | result |');
  console.log('|---|---|--:|');
  console.log(
    `| engine placements/s | ${fmt(UNITS)} units submitted at once (Registry.submitUnits calls of ${fmt(SUBMIT_BATCH)} units, ${IN_FLIGHT} at a time) to one engine process; clock from submit start to the last unit assigned (schedule watch) | ${fmt(e)} /s (${(median(engine.map((x) => x.ms)) / 1000).toFixed(1)} s) |`,
  );
  console.log(
    `| engine placements/s, cold start | ${fmt(UNITS)} units already submitted; clock from spawning the engine process (it lists everything, is elected, plans, writes) to the last unit assigned | ${fmt(c)} /s (${(median(cold.map((x) => x.ms)) / 1000).toFixed(1)} s) |`,
  );
  const med = (rs: EngineResult[], k: keyof EngineResult['cpu']) =>
    median(rs.map((x) => x.cpu[k])).toFixed(1);
  console.log(
    `| CPU used while placing (submitted at once; cold start) | CPU-seconds from the clock's start to the last assignment: engine process, etcd, this bench (submit and watch); the host has ${availableParallelism()} cores | engine ${med(engine, 'engine')}, etcd ${med(engine, 'etcd')}, bench ${med(engine, 'bench')}; engine ${med(cold, 'engine')}, etcd ${med(cold, 'etcd')}, bench ${med(cold, 'bench')} |`,
  );
  console.log(
    `| raw etcd batched writes | 128 puts per txn, ${IN_FLIGHT} in flight, assignment-sized values, etcd3 client | ${fmt(rw)} keys/s |`,
  );
  console.log(
    `| raw etcd, the engine's txn shape | 127 puts + the fence compare per txn, ${IN_FLIGHT} in flight | ${fmt(rf)} keys/s |`,
  );
  console.log(
    `| engine / raw etcd (submitted at once; cold start) | | ${(e / rw).toFixed(2)}; ${(c / rw).toFixed(2)} |`,
  );
  console.log(
    `| planner alone (in memory) | one pass placing ${fmt(UNITS)} units on ${MACHINES} machines | ${fmt(median(planner.map((p) => p.perSec)))} decisions/s |`,
  );
  for (const { n, r } of scale) {
    console.log(
      `| planner per decision | ${fmt(UNITS)} units, ${fmt(n)} machines | ${r.usPerDecision.toFixed(2)} µs |`,
    );
  }
  for (const { n, ms } of scoped) {
    console.log(
      `| planner, a pass after 250 new units, ${fmt(n)} machines | ${fmt(UNITS)} units placed; the pass looks only at what changed | ${ms.toFixed(1)} ms (${((ms * 1000) / 250).toFixed(1)} µs per decision) |`,
    );
  }
  console.log(
    `| engine RSS | engine process after placing everything (submitted at once): peak (VmHWM) / now (VmRSS) | ${mib(median(engine.map((x) => x.rss.peak)))} / ${mib(median(engine.map((x) => x.rss.now)))} MiB |`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
