/**
 * Functional: 1,000 units on 5 real machines converge (each running exactly once); then a churn of
 * starts, stops, unloads, destroys and re-submissions on 200 of them while the engine leader's
 * fleetd is killed (kill -9) again and again. At the end every unit is where its desired state says,
 * exactly once, and every machine holds unit files for exactly what is assigned to it.
 *
 * Units are written with the registry (the public etcd contract automation uses), not one fleetctl
 * process per unit. A killed fleetd also takes its machine's agent with it: that machine's units
 * are re-placed after agent_ttl and, until the fleetd is started again, keep running there too (no
 * agent is left to stop them); so exactly-once is checked after every fleetd runs again.
 */
import { expect } from 'chai';
import type { DesiredState } from '../../lib/registry/index.js';
import { FunctionalLab, svc, until } from './helpers.js';

const N = 1000;
const CHURNED = 200;
const name = (i: number) => `big${String(i).padStart(4, '0')}.service`;

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('functional: 1,000 units on 5 machines, and churn while the engine leader is killed', function () {
  this.timeout(300000);
  let f: FunctionalLab;
  const all = Array.from({ length: N }, (_, i) => name(i));
  const machines = ['m1', 'm2', 'm3', 'm4', 'm5'];

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // fleet-lab needs root (namespaces, cgroups)
    this.timeout(180000);
    f = await FunctionalLab.up('fb', { machines: 5, agentTtl: 3, engineTtl: 3 });
  });

  after(async () => {
    await f?.down();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && f) console.log(await f.journals(20));
  });

  it('1,000 units converge: each runs exactly once, spread over the 5 machines', async () => {
    const t0 = Date.now();
    await f.reg.submitUnits(all.map((u) => ({ name: u, body: svc(u), desiredState: 'launched' as const })));
    let last = new Map<string, string[]>();
    await until(
      async () => {
        last = await f.runningOn(all);
        return [...last.values()].every((ms) => ms.length === 1) || undefined;
      },
      `${N} units running once each`,
      240000,
      500,
    ).catch((e: Error) => {
      const counts = [0, 1, 2].map((k) => [...last.values()].filter((ms) => ms.length === k).length);
      throw new Error(`${e.message}; running nowhere ${counts[0]}, once ${counts[1]}, twice ${counts[2]}`);
    });
    const took = Date.now() - t0;
    const per = machines.map((m) => [...last.values()].filter((ms) => ms[0] === m).length);
    console.log(`      ${N} units running once each after ${took} ms; per machine ${per.join('/')}`);
    for (const k of per) expect(k).to.be.within(N / 5 - 5, N / 5 + 5); // least-loaded placement
  });

  it('churn with the engine leader killed 3 times: every unit ends where its desired state says, once', async () => {
    if (process.env.FLEET_FUNCTIONAL_DEBUG) {
      for (const m of machines) {
        await f.sh(
          m,
          "echo 'verbosity=1' >> /etc/fleet/fleet.conf; systemctl kill --signal=HUP fleetd.service",
        );
      }
    }
    const rnd = prng(0xf1ee7);
    // undefined: destroyed
    const want = new Map<string, DesiredState | undefined>(all.map((u) => [u, 'launched']));
    const kills: string[] = [];
    const killed: string[] = [];
    const ops = { launched: 0, loaded: 0, inactive: 0, destroy: 0, submit: 0 };
    for (let round = 0; round < 6; round++) {
      if (round % 2 === 0) {
        const leader = await until(() => f.engineLeader(), 'an engine leader', 30000);
        await f.lab.killFleetd(leader);
        kills.push(leader);
        killed.push(leader);
      }
      // 40 distinct units a round (two writes to one unit at once would race each other)
      const picked = new Set<string>();
      while (picked.size < 40) picked.add(name(Math.floor(rnd() * CHURNED)));
      await Promise.all(
        [...picked].map(async (u) => {
          const r = rnd();
          const cur = want.get(u);
          if (cur === undefined) {
            const state: DesiredState = r < 0.5 ? 'launched' : 'loaded';
            want.set(u, state);
            ops.submit++;
            await f.reg.submitUnit({ name: u, body: svc(u), desiredState: state });
          } else if (r < 0.2) {
            want.set(u, undefined);
            ops.destroy++;
            await f.reg.destroyUnit(u);
          } else {
            const state: DesiredState = r < 0.5 ? 'launched' : r < 0.8 ? 'loaded' : 'inactive';
            want.set(u, state);
            ops[state]++;
            await f.reg.setDesiredState(u, state);
          }
        }),
      );
      // fleetd killed two rounds ago comes back (the last ones after the churn)
      if (round % 2 === 1) {
        const m = killed.shift()!;
        await f.sh(m, 'systemctl start fleetd.service');
      }
      await new Promise((r) => setTimeout(r, 700));
    }
    for (const m of killed) await f.sh(m, 'systemctl start fleetd.service');
    await f.waitMachines(machines);
    console.log(`      churn: ${JSON.stringify(ops)}; engine leaders killed: ${kills.join(', ')}`);
    expect(new Set(kills).size, 'the leadership moved each time').to.be.greaterThan(1);

    // what the test wrote is what etcd holds
    for (const u of all.slice(0, CHURNED))
      expect((await f.reg.getUnit(u))?.record.desiredState, u).to.equal(want.get(u));

    const problems = async (): Promise<string[]> => {
      const on = await f.runningOn(all, machines);
      const schedule = (await f.reg.listSchedule()).items;
      const assigned = new Map<string, string[]>();
      for (const i of schedule)
        assigned.set(i.record.unit, [...(assigned.get(i.record.unit) ?? []), f.nameOf(i.record.machineId)]);
      const out: string[] = [];
      for (const u of all) {
        const w = want.get(u);
        const at = assigned.get(u) ?? [];
        const runs = on.get(u) ?? [];
        if (w === 'launched') {
          if (at.length !== 1 || runs.join() !== at.join())
            out.push(`${u} launched: assigned ${at} running ${runs}`);
        } else if (w === 'loaded') {
          if (at.length !== 1 || runs.length !== 0) out.push(`${u} loaded: assigned ${at} running ${runs}`);
        } else if (at.length !== 0 || runs.length !== 0) {
          out.push(`${u} ${w ?? 'destroyed'}: assigned ${at} running ${runs}`);
        }
      }
      for (const m of machines) {
        const files = (await f.sh(m, 'ls /run/fleet/units')).split('\n').filter(Boolean);
        const mine = new Set(
          schedule.filter((i) => i.record.machineId === f.machineId(m)).map((i) => i.record.unit),
        );
        const extra = files.filter((u) => !mine.has(u));
        const missing = [...mine].filter((u) => !files.includes(u));
        if (extra.length + missing.length > 0)
          out.push(
            `${m}: unit files not assigned there: [${extra.join(' ')}], assigned without a file: [${missing.join(' ')}]`,
          );
      }
      return out;
    };
    let last: string[] = [];
    const t0 = Date.now();
    let lastLog = t0;
    let dumped = false;
    await until(
      async () => {
        last = await problems();
        if (Date.now() - lastLog > 10000 && last.length > 0) {
          lastLog = Date.now();
          console.log(`      still ${last.length} problems, e.g. ${last.slice(0, 4).join('; ')}`);
          if (process.env.FLEET_FUNCTIONAL_DEBUG && !dumped) {
            dumped = true;
            const p = /assigned (\S*) running (\S*)/.exec(last[0]!);
            const m = p
              ? p[2]!.split(',').find((x) => x !== '' && x !== p[1]) || p[1]
              : /^(m\d):/.exec(last[0]!)?.[1];
            const unit = /^(\S+\.service)/.exec(last[0]!)?.[1];
            if (m && unit)
              console.log(
                await f.sh(
                  m,
                  `systemctl status --no-pager ${unit}; systemctl list-jobs --no-pager | grep -v waiting | head -n 20; journalctl --no-pager -o short-precise -n 60 | grep -v fleetd`,
                ),
              );
            if (m)
              console.log(
                await f.sh(
                  m,
                  'journalctl -u fleetd --no-pager -o short-precise | grep -v LimitsExc | tail -n 400',
                ),
              );
          }
        }
        return last.length === 0 || undefined;
      },
      'every unit where its desired state says, exactly once',
      // 1-2 s since the agent stopped asking systemd about units it collected (agent/systemd.ts,
      // UnitRemoved); ~90 s before, when stop jobs starved behind that traffic.
      30000,
      1000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${last.length} problems, e.g. ${last.slice(0, 8).join('; ')}`);
    });
    console.log(`      converged ${Date.now() - t0} ms after the last fleetd came back`);
  });
});
