/**
 * fleetd fence on real machines (fleet-lab, 3 machines, real fleetd with ExecStopPost=fleetd fence):
 *
 * - kill -9 of a machine's fleetd: fence stops that machine's units, THEN revokes its lease, so they
 *   run elsewhere without waiting for agent_ttl, and a sampler of every machine's systemd never sees
 *   a unit active on two machines;
 * - `systemctl restart fleetd` still restarts nothing (fence sees SERVICE_RESULT=success);
 * - `systemctl stop fleetd` still leaves cleanly (and fence does nothing after it).
 */
import { expect } from 'chai';
import { parseLeaseFile } from '../../agent/lease-file.js';
import { DoubleRunSampler, FunctionalLab, svc, until } from '../functional/helpers.js';

const TTL_MS = 4000;
const LEASE_FILE = '/run/fleet/units.lease';

describe('fleetd fence in a fleet-lab cluster (kill -9 never leaves a unit running twice)', function () {
  this.timeout(180000);
  let f: FunctionalLab;
  const units = Array.from({ length: 20 }, (_, i) => `fence${i}.service`);

  /** unit -> the one machine it runs on (fails if any runs twice or not at all). */
  const placement = async (): Promise<Record<string, string>> => {
    const on = await f.runningOn(units);
    const out: Record<string, string> = {};
    for (const [u, ms] of on) {
      expect(ms, `${u} runs on exactly one machine`).to.have.length(1);
      out[u] = ms[0]!;
    }
    return out;
  };
  const unitsOn = (p: Record<string, string>, m: string) => Object.keys(p).filter((u) => p[u] === m);
  const everyUnitOnce = () =>
    until(
      async () => [...(await f.runningOn(units)).values()].every((ms) => ms.length === 1) || undefined,
      'every unit running exactly once',
      60000,
    );
  const journal = (m: string) => f.sh(m, 'journalctl -u fleetd --no-pager -o cat | tail -n 300');
  const mainPid = (m: string) => f.sh(m, 'systemctl show --property=MainPID --value fleetd.service');

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // fleet-lab needs root (namespaces, cgroups)
    f = await FunctionalLab.up('fence', { machines: 3, agentTtl: TTL_MS / 1000, engineTtl: 3 });
    await f.ok('start', '--no-block', ...units.map((u) => f.file(u, svc(u))));
    await everyUnitOnce();
  });

  after(async () => {
    await f?.down();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && f) console.log(await f.journals(80));
  });

  it('each agent keeps its current lease in the lease file', async () => {
    for (const m of f.liveMachines()) {
      const text = await f.sh(m, `cat ${LEASE_FILE}`);
      const r = parseLeaseFile(text, `${m}:${LEASE_FILE}`);
      expect(r.kind, text).to.equal('lease');
      if (r.kind !== 'lease') continue;
      expect(r.record.machineId).to.equal(f.machineId(m));
      // the machine's record in etcd is on that lease
      const live = await f.client.leaseClient.leaseTimeToLive({ ID: r.record.leaseId, keys: true });
      expect(Number(live.TTL), `lease ${r.record.leaseId} of ${m} alive`).to.be.above(0);
      expect(live.keys.length, `keys on lease ${r.record.leaseId} of ${m}`).to.be.above(0);
    }
  });

  it('systemctl restart fleetd still restarts nothing (fence sees a clean stop)', async () => {
    const before = await placement();
    const m = Object.values(before)[0]!;
    const mine = unitsOn(before, m);
    const facts = await Promise.all(mine.map((u) => f.facts(m, u)));
    const pid = await mainPid(m);
    const sampler = new DoubleRunSampler(f, () => units);
    sampler.start();
    try {
      await f.sh(m, 'systemctl restart fleetd.service');
      expect(await f.sh(m, 'systemctl is-active fleetd.service')).to.equal('active');
      await f.waitMachines([m]);
    } finally {
      await sampler.stop();
    }
    expect(await mainPid(m)).to.not.equal(pid);
    expect(
      await Promise.all(mine.map((u) => f.facts(m, u))),
      'MainPID and start time unchanged',
    ).to.deep.equal(facts);
    expect(await placement()).to.deep.equal(before);
    const j = await journal(m);
    expect(j).to.contain('fleetd stopped cleanly');
    expect(j).to.not.contain('fence: units stopped');
    expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
  });

  it('kill -9: fence stops the units there, then revokes the lease; they run elsewhere, never twice', async () => {
    const leader = await f.engineLeader();
    const before = await placement();
    const m = f.liveMachines().find((x) => x !== leader && unitsOn(before, x).length > 0)!;
    expect(m, 'a machine with units that does not lead the engine').to.be.a('string');
    const mine = unitsOn(before, m);
    const others = f.liveMachines().filter((x) => x !== m);
    // Its engine campaigns once its streams are listed (a fleetd restarted by the test above may
    // not have yet): then there is a candidacy for fence to end.
    const id = f.lab.state.machines.find((x) => x.name === m)!.machineId;
    await until(async () => (await f.reg.engineCandidacies(id)).length > 0 || undefined, `${m} campaigns`);
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
        `${mine.join(', ')} running on ${others.join(', ')}`,
        TTL_MS + 60000,
        50,
      );
      took = Date.now() - t0;
    } finally {
      await sampler.stop();
    }
    console.log(
      `      kill -9: ${mine.length} units stopped on ${m} and running elsewhere ${took} ms after the kill (agent_ttl ${TTL_MS} ms; ${sampler.samples} samples of 3 machines, no unit seen twice)`,
    );
    expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
    expect(sampler.samples, 'the sampler sampled').to.be.above(5);
    // stopped on the killed machine (no fleetd runs there now)
    expect(await f.sh(m, 'systemctl is-active fleetd.service || true')).to.not.equal('active');
    const on = await f.runningOn(mine, [m]);
    for (const u of mine) expect(on.get(u), `${u} on ${m}`).to.deep.equal([]);
    for (const u of mine)
      expect(await f.assignedTo(u))
        .to.have.length(1)
        .and.not.include(m);
    const j = await journal(m);
    expect(j).to.contain('SERVICE_RESULT=signal');
    expect(j).to.contain('fence: units stopped');
    expect(j).to.match(/fence: lease \S+ of machine \S+ revoked/);
    // Every fleetd is an engine candidate: the dead one leaves the election queue too.
    expect(j).to.match(/fence: engine candidacy of \S+ ended/);
    // stopped before revoked
    const lines = j.split('\n');
    const stoppedAt = lines.findIndex((l) => l.includes('fence: units stopped'));
    const revokedAt = lines.findIndex((l) => /fence: lease \S+ of machine \S+ revoked/.test(l));
    expect(stoppedAt, 'units stopped, then the lease revoked').to.be.within(0, revokedAt - 1);
    for (const u of mine) expect(lines[stoppedAt]).to.contain(u);
    expect(await f.sh(m, `test -e ${LEASE_FILE} && echo present || echo gone`)).to.equal('gone');
    expect(took).to.be.below(TTL_MS + 60000);

    // fleetd comes back: it registers again and gets what the engine assigns; every unit once
    await f.sh(m, 'systemctl start fleetd.service');
    await f.waitMachines([m]);
    await everyUnitOnce();
  });

  it('systemctl stop fleetd still leaves cleanly (fence sees success and does nothing)', async () => {
    const before = await placement();
    const leader = await f.engineLeader();
    const withUnits = f.liveMachines().filter((x) => unitsOn(before, x).length > 0);
    const m = withUnits.find((x) => x !== leader) ?? withUnits[0]!;
    const mine = unitsOn(before, m);
    const sampler = new DoubleRunSampler(f, () => units);
    sampler.start();
    try {
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
    } finally {
      await sampler.stop();
    }
    expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
    expect(await f.sh(m, 'systemctl show --property=Result --value fleetd.service')).to.equal('success');
    const j = await journal(m);
    expect(j).to.contain('left the cluster: units stopped');
    // the journal holds the earlier kill -9's fence too: only the last fence line counts
    const last = j
      .split('\n')
      .filter((l) => /\bfence: /.test(l))
      .pop();
    expect(last).to.contain('fleetd stopped cleanly');
    expect(await f.sh(m, `test -e ${LEASE_FILE} && echo present || echo gone`)).to.equal('gone');
    await f.sh(m, 'systemctl start fleetd.service');
    await f.waitMachines([m]);
    await everyUnitOnce();
  });
});
