/**
 * Functional: network partitions on 3 real machines (agent_ttl 3 s, engine_lease_ttl 3 s). A
 * sampler reads every machine's systemd (over its D-Bus, which the host reaches also while the
 * machine is cut off) in a tight loop for the whole file: no unit may ever run on two machines.
 *
 * - A cut machine stops its units (fencing) BEFORE they start elsewhere; healed, it rejoins clean.
 * - The engine leader's machine is cut, and healed the moment its lease is gone from etcd (the
 *   machine re-registers while a new leader may still be re-placing its units): still never twice.
 */
import { expect } from 'chai';
import { DoubleRunSampler, FunctionalLab, svc, until } from './helpers.js';

describe('functional: network partitions on real machines, sampled for double runs', function () {
  this.timeout(120000);
  let f: FunctionalLab;
  let sampler: DoubleRunSampler;
  const units = Array.from({ length: 9 }, (_, i) => `part${i}.service`);

  const placement = async (): Promise<Record<string, string>> => {
    const on = await f.runningOn(units);
    const out: Record<string, string> = {};
    for (const [u, ms] of on) {
      expect(ms, `${u} runs on exactly one machine`).to.have.length(1);
      out[u] = ms[0]!;
    }
    return out;
  };
  const onceEach = async (machines: string[], what: string) =>
    until(
      async () => {
        const on = await f.runningOn(units);
        return [...on.values()].every((ms) => ms.length === 1 && machines.includes(ms[0]!)) || undefined;
      },
      what,
      60000,
      50,
    );
  /** The healed machine holds files only for what is assigned to it. */
  const cleanOn = async (m: string) => {
    const assigned = (await f.reg.listSchedule(f.machineId(m))).items.map((i) => i.record.unit).sort();
    await until(
      async () => {
        const files = (await f.sh(m, 'ls /run/fleet/units')).split('\n').filter(Boolean).sort();
        return files.join() === assigned.join() || undefined;
      },
      `${m}'s unit files = its assignments (${assigned.join(', ')})`,
      30000,
    );
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // fleet-lab needs root (namespaces, cgroups)
    this.timeout(180000);
    f = await FunctionalLab.up('fp', { machines: 3, agentTtl: 3, engineTtl: 3 });
    await f.ok('start', '--no-block', ...units.map((u) => f.file(u, svc(u))));
    await onceEach(['m1', 'm2', 'm3'], 'the units running once each');
    sampler = new DoubleRunSampler(
      f,
      () => units,
      () => ['m1', 'm2', 'm3'],
    );
    sampler.start();
  });

  after(async () => {
    await sampler?.stop();
    await f?.down();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && f) console.log(await f.journals());
  });

  it('a cut machine stops its units before they start elsewhere; healed, it rejoins clean', async () => {
    const leader = await until(() => f.engineLeader(), 'an engine leader');
    const before = await placement();
    const m = ['m1', 'm2', 'm3'].find((x) => x !== leader && Object.values(before).includes(x))!;
    const mine = units.filter((u) => before[u] === m);
    const others = ['m1', 'm2', 'm3'].filter((x) => x !== m);
    const t0 = Date.now();
    await f.lab.cut(m);
    const sd = await f.systemd(m);
    await until(
      async () => {
        const s = await sd.list(mine);
        return mine.every((u) => s.get(u)?.activeState === 'inactive') || undefined;
      },
      `${m} stopped ${mine.join(', ')} (fencing)`,
      30000,
      20,
    );
    const fencedAt = Date.now() - t0;
    await onceEach(others, `the units running on ${others.join(', ')}`);
    console.log(
      `      cut ${m}: its ${mine.length} units stopped there after ${fencedAt} ms, running elsewhere after ${Date.now() - t0} ms`,
    );
    await f.lab.heal(m);
    await f.waitMachines([m]);
    await new Promise((r) => setTimeout(r, 3000));
    await placement();
    await cleanOn(m);
    expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
  });

  it('the engine leader’s machine cut and healed as soon as its lease expired: never twice', async () => {
    for (let round = 1; round <= 2; round++) {
      const leader = await until(() => f.engineLeader(), 'an engine leader');
      const before = await placement();
      const mine = units.filter((u) => before[u] === leader);
      const t0 = Date.now();
      await f.lab.cut(leader);
      await until(
        async () =>
          !(await f.reg.listMachines()).items.some((i) => i.id === f.machineId(leader)) || undefined,
        `${leader}'s record gone (lease expired)`,
        30000,
        20,
      );
      const expiredAt = Date.now() - t0;
      await f.lab.heal(leader);
      await f.waitMachines([leader]);
      await onceEach(['m1', 'm2', 'm3'], 'every unit once after the heal');
      await new Promise((r) => setTimeout(r, 3000));
      const after = await placement();
      await cleanOn(leader);
      const moved = mine.filter((u) => after[u] !== leader).length;
      console.log(
        `      round ${round}: leader ${leader} cut; its lease gone after ${expiredAt} ms; healed; ${moved}/${mine.length} of its units moved; leader now ${await f.engineLeader()}`,
      );
      expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
    }
    expect(sampler.samples, 'the sampler ran').to.be.greaterThan(20);
  });
});
