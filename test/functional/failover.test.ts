/**
 * Functional: losing a machine, an agent or the engine leader, on 4 real machines running fleetd
 * (agent_ttl 3 s, engine_lease_ttl 3 s). Times are measured and logged, and asserted only with
 * generous bounds (the host is shared); the exactly-once checks are strict.
 *
 * - `systemctl restart fleetd`: nothing restarts (MainPID and ActiveEnterTimestamp unchanged), nothing
 *   moves, also after the old lease expired.
 * - `systemctl stop fleetd` (SIGTERM, leaving): the machine's units are stopped and re-placed at
 *   once, never running twice.
 * - kill -9 of a machine's fleetd: fleetd.service's ExecStopPost (`fleetd fence`) stops its units
 *   there, then revokes its lease, so they run elsewhere at once and never twice; the restarted
 *   fleetd finds nothing to stop.
 * - kill -9 of the engine leader's fleetd: another candidate leads; new units are placed.
 * - power-off: its units run elsewhere.
 */
import { expect } from 'chai';
import { DoubleRunSampler, FunctionalLab, svc, until } from './helpers.js';

const TTL_MS = 3000;

describe('functional: machine, agent and engine loss on real machines', function () {
  this.timeout(120000);
  let f: FunctionalLab;
  const units = Array.from({ length: 12 }, (_, i) => `work${i}.service`);

  /** unit -> the one machine it runs on (fails if any runs twice or not at all). */
  const placement = async (names = units): Promise<Record<string, string>> => {
    const on = await f.runningOn(names);
    const out: Record<string, string> = {};
    for (const [u, ms] of on) {
      expect(ms, `${u} runs on exactly one machine`).to.have.length(1);
      out[u] = ms[0]!;
    }
    return out;
  };
  const unitsOn = (p: Record<string, string>, m: string) => Object.keys(p).filter((u) => p[u] === m);
  const startFleetd = async (m: string) => {
    await f.sh(m, 'systemctl start fleetd.service');
    await f.waitMachines([m]);
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // fleet-lab needs root (namespaces, cgroups)
    this.timeout(180000);
    f = await FunctionalLab.up('ff', { machines: 4, agentTtl: TTL_MS / 1000, engineTtl: 3 });
    await f.ok('start', '--no-block', ...units.map((u) => f.file(u, svc(u))));
    await until(
      async () => {
        const on = await f.runningOn(units);
        return [...on.values()].every((ms) => ms.length === 1) || undefined;
      },
      'the 12 units running once each',
      60000,
    );
  });

  after(async () => {
    await f?.down();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && f) console.log(await f.journals());
  });

  it('systemctl restart fleetd restarts and moves nothing, also after the old lease expired', async () => {
    const before = await placement();
    const m = Object.values(before)[0]!;
    const mine = unitsOn(before, m);
    const facts = await Promise.all(mine.map((u) => f.facts(m, u)));
    const sampler = new DoubleRunSampler(f, () => units);
    sampler.start();
    try {
      await f.sh(m, 'systemctl restart fleetd.service');
      expect(await f.sh(m, 'systemctl is-active fleetd.service')).to.equal('active');
      // past the old lease's expiry: its keys are gone, ours must still be there
      await new Promise((r) => setTimeout(r, TTL_MS + 1500));
      await f.waitMachines([m]);
    } finally {
      await sampler.stop();
    }
    expect(
      await Promise.all(mine.map((u) => f.facts(m, u))),
      'MainPID and start time unchanged',
    ).to.deep.equal(facts);
    expect(await placement()).to.deep.equal(before);
    for (const u of mine) expect(await f.assignedTo(u)).to.deep.equal([m]);
    const journal = await f.sh(m, 'journalctl -u fleetd --no-pager -o cat | tail -n 200');
    expect(journal).to.contain('systemd is restarting fleetd');
    expect(journal).to.contain('adopted running units');
    // the states are reported on the new lease (list-units shows them after the old one expired)
    const list = await f.ok('list-units', '--no-legend', '--full');
    for (const u of mine)
      expect(list).to.match(new RegExp(`${u.replace('.', '\\.')}\\s+${f.machineId(m)}/\\S+\\s+active`));
    expect(sampler.doubles).to.deep.equal([]);
  });

  it('systemctl stop fleetd leaves: its units stop there and run elsewhere at once, never twice', async () => {
    const before = await placement();
    const m = Object.values(before)[1]!;
    const mine = unitsOn(before, m);
    const sampler = new DoubleRunSampler(f, () => units);
    sampler.start();
    let took: number;
    try {
      const t0 = Date.now();
      await f.sh(m, 'systemctl stop fleetd.service');
      const others = f.liveMachines().filter((x) => x !== m);
      await until(
        async () => {
          const on = await f.runningOn(mine);
          return mine.every((u) => on.get(u)!.length === 1 && others.includes(on.get(u)![0]!)) || undefined;
        },
        `${mine.join(', ')} running on other machines`,
        60000,
      );
      took = Date.now() - t0;
    } finally {
      await sampler.stop();
    }
    console.log(`      left: ${mine.length} units running elsewhere ${took} ms after systemctl stop fleetd`);
    expect(took, 'at once: well before a lease could expire').to.be.below(TTL_MS + 20000);
    expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
    await startFleetd(m);
  });

  it('kill -9 of a machine’s fleetd: fence stops its units there first, they run elsewhere, never twice', async () => {
    const leader = await f.engineLeader();
    const before = await placement();
    const m = f.liveMachines().find((x) => x !== leader && unitsOn(before, x).length > 0)!;
    const mine = unitsOn(before, m);
    const others = f.liveMachines().filter((x) => x !== m);
    // The killed machine's systemd is sampled too: its copies must be gone before others start.
    const sampler = new DoubleRunSampler(f, () => units);
    sampler.start();
    let took: number;
    try {
      const t0 = Date.now();
      await f.lab.killFleetd(m);
      await until(
        async () => {
          const on = await f.runningOn(mine);
          return mine.every((u) => on.get(u)!.length === 1 && others.includes(on.get(u)![0]!)) || undefined;
        },
        `${mine.join(', ')} stopped on ${m} and running on ${others.join(', ')}`,
        60000,
        50,
      );
      took = Date.now() - t0;
    } finally {
      await sampler.stop();
    }
    console.log(
      `      kill -9: ${mine.length} units stopped on ${m} and running elsewhere after ${took} ms (agent_ttl ${TTL_MS} ms)`,
    );
    expect(took).to.be.below(TTL_MS + 30000);
    expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
    // fleetd comes back: nothing was left to stop, every unit still runs once
    await startFleetd(m);
    await until(
      async () => {
        const on = await f.runningOn(units);
        return [...on.values()].every((ms) => ms.length === 1) || undefined;
      },
      'every unit once again',
      30000,
    );
    const after = await placement();
    for (const u of mine) expect(after[u]).to.not.equal(m);
  });

  it('kill -9 of the engine leader’s fleetd: another machine leads and new units are placed', async () => {
    const leader = await until(() => f.engineLeader(), 'an engine leader');
    const t0 = Date.now();
    await f.lab.killFleetd(leader);
    const p = f.file('after-leader.service', svc('placed by the next leader', `MachineMetadata=nope!=x`));
    await f.ok('start', '--no-block', p);
    const where = await until(
      async () => {
        const on = await f.runningOn(['after-leader.service']);
        const ms = on.get('after-leader.service')!;
        return ms.length === 1 ? ms[0] : undefined;
      },
      'after-leader.service running',
      60000,
      50,
    );
    const took = Date.now() - t0;
    const next = await f.engineLeader();
    console.log(
      `      engine leader ${leader} killed: a new unit ran on ${where} after ${took} ms (engine TTL 3 s); leader now ${next}`,
    );
    expect(next).to.not.equal(leader);
    expect(took).to.be.below(3000 + 30000);
    // fence (ExecStopPost) ended its candidacy: the next leader did not wait for engine_lease_ttl.
    const journal = await f.sh(leader, 'journalctl -u fleetd --no-pager -o cat | tail -n 200');
    expect(journal).to.match(/engine candidacy of \S+ ended/);
    // the dead leader's machine is also gone (its agent died with fleetd): no unit ran there
    expect(where).to.not.equal(leader);
    await startFleetd(leader);
    await until(
      async () => {
        const on = await f.runningOn([...units, 'after-leader.service']);
        return [...on.values()].every((ms) => ms.length === 1) || undefined;
      },
      'every unit once',
      30000,
    );
  });

  it('power-off: the machine’s units run on the others', async () => {
    const before = await placement();
    const leader = await f.engineLeader();
    const m = f.liveMachines().find((x) => x !== leader && unitsOn(before, x).length > 0)!;
    const mine = unitsOn(before, m);
    const others = f.liveMachines().filter((x) => x !== m);
    const t0 = Date.now();
    // systemd in the machine shuts down: fleetd gets SIGTERM (a stop job: it leaves), then the rest
    const off = f.lab.poweroff(m);
    await until(
      async () => {
        const on = await f.runningOn(mine, others);
        return mine.every((u) => on.get(u)!.length === 1) || undefined;
      },
      `${mine.join(', ')} running on the other machines`,
      60000,
      50,
    );
    console.log(`      power-off: ${mine.length} units running elsewhere after ${Date.now() - t0} ms`);
    await off;
    const after = await placement();
    for (const u of mine) expect(after[u]).to.not.equal(m);
  });
});
