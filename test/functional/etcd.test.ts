/**
 * Functional: etcd restarts and short outages on 3 real machines running fleetd. Nothing may stop,
 * move or restart: each unit keeps its MainPID and ActiveEnterTimestamp, the schedule and the
 * machines' leases stay the same, and no agent fences.
 *
 * The TTL rule: an agent stops its units when no renewal succeeded by lastRenewalSent + TTL -
 * margin (agent/fencing.ts: renew every TTL/3, margin TTL/4). An etcd outage is therefore survived
 * without a stop only when it is shorter than about TTL - TTL/4 - TTL/3 = 0.42 x TTL (counting the
 * renewal that was due just before it began). With agent_ttl 3 s that is ~1.2 s, less than a
 * single-member etcd takes to stop, start and answer on this shared host; so this file runs at
 * agent_ttl 10 s (~4 s of outage allowed) and keeps each outage (down time + restart) under 3 s.
 */
import { expect } from 'chai';
import { FunctionalLab, svc, until } from './helpers.js';

describe('functional: etcd restarts and short outages stop, move and restart nothing', function () {
  this.timeout(120000);
  let f: FunctionalLab;
  const units = Array.from({ length: 6 }, (_, i) => `steady${i}.service`);

  /** unit@machine -> MainPID and start time; plus the schedule and each machine's lease. */
  const snapshot = async () => {
    const on = await f.runningOn(units);
    const facts: Record<string, string> = {};
    for (const [u, ms] of on) {
      expect(ms, `${u} runs on exactly one machine`).to.have.length(1);
      facts[`${u}@${ms[0]}`] = await f.facts(ms[0]!, u);
    }
    const schedule = (await f.reg.listSchedule()).items
      .map((i) => `${i.record.unit}@${i.record.machineId}`)
      .sort();
    const leases = (await f.reg.listMachines()).items.map((i) => `${i.id}:${i.lease}`).sort();
    return { facts, schedule, leases };
  };
  const journalsSay = async (text: string) => {
    const hits: string[] = [];
    for (const m of ['m1', 'm2', 'm3'])
      if ((await f.sh(m, 'journalctl -u fleetd --no-pager -o cat')).includes(text)) hits.push(m);
    return hits;
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // fleet-lab needs root (namespaces, cgroups)
    this.timeout(180000);
    f = await FunctionalLab.up('fe', { machines: 3, agentTtl: 10 });
    await f.ok('start', '--no-block', ...units.map((u) => f.file(u, svc(u))));
    await until(
      async () => [...(await f.runningOn(units)).values()].every((ms) => ms.length === 1) || undefined,
      'the units running once each',
      60000,
    );
  });

  after(async () => {
    await f?.down();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && f) console.log(await f.journals());
  });

  for (const [title, opts] of [
    ['an etcd restart (clean stop, start again)', {}],
    ['an etcd kill -9, down for 1 s, start again', { kill9: true, downForMs: 1000 }],
  ] as const) {
    it(`${title}: nothing stops, moves or restarts`, async () => {
      const before = await snapshot();
      const t0 = Date.now();
      await f.lab.etcdRestart(undefined, opts);
      const outage = Date.now() - t0;
      // give the agents and the engine time to notice anything (a renewal round and more)
      await new Promise((r) => setTimeout(r, 5000));
      await f.waitMachines(['m1', 'm2', 'm3']);
      const after = await snapshot();
      console.log(`      ${title}: etcd unavailable for ~${outage} ms`);
      expect(after.facts, 'MainPID and ActiveEnterTimestamp of every unit').to.deep.equal(before.facts);
      expect(after.schedule, 'the schedule').to.deep.equal(before.schedule);
      expect(after.leases, 'every machine kept its lease (no re-registration)').to.deep.equal(before.leases);
      expect(await journalsSay('fenced'), 'no agent fenced').to.deep.equal([]);
    });
  }
});
