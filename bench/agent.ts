/**
 * The agent applying 100 units on one real systemd machine (fleet-lab): time from the engine's
 * schedule write to every unit active/running as reported in etcd, and D-Bus calls per unit.
 * The agent runs in this process and drives the machine's systemd over its D-Bus socket
 * (/proc/<PID1>/root/run/dbus/system_bus_socket), so its calls can be counted.
 *
 *   npm run build && node dist/bench/agent.js [--runs=5] [--units=100]
 *
 * Prints one table (median, min, max over the runs). Not part of `npm test`.
 */
import { performance } from 'node:perf_hooks';
import { Agent } from '../agent/agent.js';
import { Lab } from '../lab/lab.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { createLogger } from '../lib/log.js';
import { Registry, type ScheduleChange } from '../lib/registry/index.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
const RUNS = Number(args.get('runs') || 5);
const UNITS = Number(args.get('units') || 100);

const body = (i: number) =>
  `[Unit]\nDescription=bench ${i}\n\n[Service]\nExecStart=/bin/sleep ${100000 + i}\n`;

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(n < 10 ? 2 : 0);
  return `${f(s[Math.floor(s.length / 2)]!)} (min ${f(s[0]!)}, max ${f(s[s.length - 1]!)})`;
}

async function main(): Promise<void> {
  const lab = await Lab.up({ name: `bench${process.pid}`, machines: 1, fleetd: false, agentTtl: 10 });
  const client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
  let agent: Agent | undefined;
  let resign: (() => Promise<void>) | undefined;
  try {
    const reg = new Registry(client);
    await reg.checkSchema();
    const machineId = lab.state.machines[0]!.machineId;
    agent = new Agent({
      client,
      registry: reg,
      machineId,
      ttlSeconds: 10,
      unitsDirectory: '/run/fleet/units',
      busAddress: lab.busAddress('m1'),
      filesRoot: `/proc/${lab.pid1('m1')}/root`,
      log: createLogger({ component: 'agent', write: () => undefined }),
    });
    await agent.start();
    const campaign = reg.engineElection(30).campaign('bench');
    await new Promise<void>((resolve, reject) => campaign.on('elected', () => resolve()).on('error', reject));
    resign = () => campaign.resign();
    const fence = await reg.fenceFor(await campaign.getCampaignKey());
    const names = Array.from({ length: UNITS }, (_, i) => `bench-${i}.service`);
    await reg.submitUnits(names.map((name, i) => ({ name, body: body(i), desiredState: 'launched' })));
    const stored = new Map((await reg.listUnits()).items.map((u) => [u.id, u]));
    const puts: ScheduleChange[] = names.map((name) => {
      const u = stored.get(name)!;
      return {
        type: 'put',
        record: { unit: name, machineId, body: u.record.body, hash: u.record.hash, desiredState: 'launched' },
      };
    });
    const dels: ScheduleChange[] = names.map((unit) => ({ type: 'delete', machineId, unit }));

    const states = reg.watchUnitStates(machineId);
    const running = new Set<string>();
    let waiter: (() => void) | undefined;
    states.on('put', (e) => {
      const r = e.item.record;
      if (r.activeState === 'active' && r.subState === 'running') running.add(r.unit);
      else running.delete(r.unit);
      if (running.size === UNITS || (running.size === 0 && states.snapshot().length === 0)) waiter?.();
    });
    states.on('delete', (e) => {
      running.delete(e.prev.record.unit);
      if (states.snapshot().length === 0) waiter?.();
    });
    await states.start();
    const wait = (done: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no convergence within 60 s')), 60000);
        const check = () => {
          if (done()) {
            clearTimeout(t);
            waiter = undefined;
            resolve();
          }
        };
        waiter = check;
        check();
      });

    const startMs: number[] = [];
    const stopMs: number[] = [];
    const callsStart: number[] = [];
    const callsStop: number[] = [];
    const sd = agent.systemdClient!;
    for (let r = 0; r < RUNS; r++) {
      let c0 = sd.callCount;
      let t0 = performance.now();
      await reg.applySchedule(fence, puts);
      await wait(() => running.size === UNITS);
      startMs.push(performance.now() - t0);
      await agent.idle();
      callsStart.push((sd.callCount - c0) / UNITS);

      c0 = sd.callCount;
      t0 = performance.now();
      await reg.applySchedule(fence, dels);
      await wait(() => states.snapshot().length === 0);
      stopMs.push(performance.now() - t0);
      await agent.idle();
      callsStop.push((sd.callCount - c0) / UNITS);
    }
    await states.stop();
    const byMethod = [...sd.calls].map(([m, n]) => `${m}=${n}`).join(' ');
    console.log(
      `agent bench: ${UNITS} units on one fleet-lab machine, ${RUNS} runs (systemd 252, in-process agent)`,
    );
    console.log('| what | ms (median, min, max) | D-Bus calls per unit |');
    console.log('|---|---|---|');
    console.log(`| assign -> all active/running in etcd | ${stats(startMs)} | ${stats(callsStart)} |`);
    console.log(
      `| unassign -> all stopped, unloaded, states gone | ${stats(stopMs)} | ${stats(callsStop)} |`,
    );
    console.log(`D-Bus calls by method over the whole bench: ${byMethod}`);
  } finally {
    await agent?.stop().catch(() => undefined);
    await resign?.().catch(() => undefined);
    client.close();
    await lab.down();
  }
}

main().catch((e: unknown) => {
  console.error(`bench/agent: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
