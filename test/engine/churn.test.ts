/**
 * 10,000 units on a real etcd with simulated machines, then churn (destroys, stops, starts, new
 * units, machines dying, joining and draining, and a leader change in the middle): the schedule
 * must converge to exactly what the rules say, with no unit ever on two machines.
 */
import { expect } from 'chai';
import { Engine } from '../../engine/engine.js';
import { Registry, type UnitInput } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { SimMachine, eventually, unitBody, watchDoubles } from './cluster.js';

const fast = { backoff: () => new Promise<void>((r) => setTimeout(r, 20)) };

function units(from: number, n: number): UnitInput[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    // Every 10th unit wants region=eu; every 50th conflicts with its neighbour.
    const x = [
      i % 10 === 0 ? 'MachineMetadata=region=eu' : '',
      i % 50 === 1 ? `Conflicts=c${i + 1}.service` : '',
    ]
      .filter(Boolean)
      .join('\n');
    return { name: `c${i}.service`, body: unitBody(i, x), desiredState: 'launched' as const };
  });
}

/** Problems of the schedule against the registry's units and machines ([] when converged). */
async function problems(reg: Registry): Promise<string[]> {
  const [us, ms, sched] = await Promise.all([reg.listUnits(), reg.listMachines(), reg.listSchedule()]);
  const machines = new Map(ms.items.map((m) => [m.record.id, m.record]));
  const wanted = new Map(
    us.items.filter((u) => u.record.desiredState !== 'inactive').map((u) => [u.id, u.record]),
  );
  const where = new Map<string, string[]>();
  for (const s of sched.items)
    (where.get(s.record.unit) ?? where.set(s.record.unit, []).get(s.record.unit)!).push(s.record.machineId);
  const out: string[] = [];
  for (const [unit, at] of where) {
    if (!wanted.has(unit)) out.push(`${unit} assigned but not wanted`);
    if (at.length !== 1) out.push(`${unit} on ${at.length} machines`);
    const m = machines.get(at[0]!);
    if (!m) out.push(`${unit} on missing machine ${at[0]}`);
    else if (m.draining) out.push(`${unit} on draining ${m.id}`);
    else if (wanted.get(unit)?.body.includes('region=eu') && m.metadata.region !== 'eu')
      out.push(`${unit} not in eu`);
  }
  for (const unit of wanted.keys()) if (!where.has(unit)) out.push(`${unit} not placed`);
  return out;
}

describe('engine: 10,000-unit churn on a real etcd', function () {
  this.timeout(90000);
  const etcd = useEtcd();

  it('converges after churn and a leader change, never placing a unit twice', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    const sims = new Map<string, SimMachine>();
    const join = async (id: string, metadata: Record<string, string> = {}) =>
      sims.set(id, await SimMachine.start(etcd.newClient(), reg, id, { metadata }));
    for (let i = 0; i < 20; i++) await join(`m${i}`, i % 4 === 0 ? { region: 'eu' } : {});
    const a = new Engine({
      registry: reg,
      candidate: 'a',
      leaseTtlSeconds: 2,
      reconcileIntervalMs: 60000,
      ...fast,
    });
    const regB = new Registry(etcd.newClient(), { prefix: etcd.prefix });
    const b = new Engine({
      registry: regB,
      candidate: 'b',
      leaseTtlSeconds: 2,
      reconcileIntervalMs: 60000,
      ...fast,
    });
    a.on('error', () => undefined);
    b.on('error', () => undefined);
    const doubles = await watchDoubles(reg);
    try {
      await a.start();
      await eventually(async () => a.isLeader, 'a elected');
      await b.start();
      const t0 = Date.now();
      await reg.submitUnits(units(0, 10000));
      await eventually(async () => (await problems(reg)).length === 0, '10,000 placed', 30000);
      const placedMs = Date.now() - t0;

      // Churn, all at once.
      const churn: Promise<unknown>[] = [];
      // Destroys, ten at a time.
      churn.push(
        (async () => {
          for (let i = 0; i < 30; i += 10) {
            await Promise.all(
              Array.from({ length: 10 }, (_, k) => reg.destroyUnit(`c${(i + k) * 3}.service`)),
            );
          }
        })(),
      );
      for (let i = 0; i < 300; i++) churn.push(reg.setDesiredState(`c${i * 3 + 1}.service`, 'inactive'));
      churn.push(reg.submitUnits(units(10000, 1000)));
      for (const id of ['m1', 'm2', 'm3']) churn.push(sims.get(id)!.die());
      churn.push(join('m20', { region: 'eu' }), join('m21'));
      const drain = etcd.newClient().lease(10);
      churn.push(
        drain
          .grant()
          .then((l) =>
            reg.putMachine({ id: 'm5', publicIp: '', metadata: {}, version: 't', draining: true }, l),
          ),
      );
      await Promise.all(churn);
      // And the leader goes away in the middle of it.
      await a.stop();
      await eventually(async () => b.isLeader, 'b elected', 5000);
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => reg.setDesiredState(`c${i * 3 + 1}.service`, 'launched')),
      );
      await eventually(async () => (await problems(reg)).length === 0, 'converged after churn', 30000);
      await drain.revoke();
      expect(doubles.doubles).to.deep.equal([]);
      expect(placedMs).to.be.below(30000);
      console.log(`      (10,000 units placed in ${placedMs} ms)`);
    } finally {
      await doubles.stop();
      await a.stop();
      await b.stop();
      await Promise.all([...sims.values()].map((m) => m.die()));
    }
  });
});
