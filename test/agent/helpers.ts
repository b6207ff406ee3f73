/**
 * Test helpers for the agent: the test plays the engine (elected, fenced schedule writes, as the
 * engine will), on a real etcd, against agents running inside fleet-lab machines.
 */
import type { Etcd3 } from 'etcd3';
import {
  defaultUnitBodyCheck,
  type Fence,
  type Registry,
  type UnitStateRecord,
} from '../../lib/registry/index.js';

/** Elects the test as engine leader; returns its fence and how to resign. */
export async function electEngine(
  reg: Registry,
  name = 'test-engine',
): Promise<{ fence: Fence; resign: () => Promise<void> }> {
  const campaign = reg.engineElection(30).campaign(name);
  await new Promise<void>((resolve, reject) => campaign.on('elected', () => resolve()).on('error', reject));
  return { fence: await reg.fenceFor(await campaign.getCampaignKey()), resign: () => campaign.resign() };
}

export class TestEngine {
  constructor(
    readonly reg: Registry,
    readonly fence: Fence,
    private readonly resign: () => Promise<void>,
  ) {}

  static async start(reg: Registry): Promise<TestEngine> {
    const e = await electEngine(reg);
    return new TestEngine(reg, e.fence, e.resign);
  }

  /** Resigns the leadership (its lease's keep-alive would keep the process running). */
  async stop(): Promise<void> {
    await this.resign().catch(() => undefined);
  }

  /** Submits (or replaces) the units and assigns them to the machine, in one schedule write. */
  async assign(
    machineId: string,
    units: { name: string; body: string; desiredState?: 'loaded' | 'launched' }[],
  ): Promise<void> {
    const changes = [];
    for (const u of units) {
      const state = u.desiredState ?? 'launched';
      const existing = await this.reg.getUnit(u.name);
      const stored = existing
        ? await this.reg.replaceUnit({ name: u.name, body: u.body, desiredState: state })
        : await this.reg.submitUnit({ name: u.name, body: u.body, desiredState: state, source: 'test' });
      changes.push({
        type: 'put' as const,
        record: {
          unit: u.name,
          machineId,
          body: stored.record.body,
          hash: stored.record.hash,
          desiredState: state,
        },
      });
    }
    await this.reg.applySchedule(this.fence, changes);
  }

  /**
   * Assigns without writing the unit key: what the engine may write in a race with a destroy (or
   * a new file) of the unit.
   */
  async assignWithoutUnit(machineId: string, units: { name: string; body: string }[]): Promise<void> {
    await this.reg.applySchedule(
      this.fence,
      units.map((u) => {
        const c = defaultUnitBodyCheck(u.body);
        if (!c.ok) throw new Error(c.reason);
        return {
          type: 'put' as const,
          record: { unit: u.name, machineId, body: u.body, hash: c.hash, desiredState: 'launched' as const },
        };
      }),
    );
  }

  async unassign(machineId: string, units: string[]): Promise<void> {
    await this.reg.applySchedule(
      this.fence,
      units.map((unit) => ({ type: 'delete' as const, machineId, unit })),
    );
  }
}

export { until } from '../fixtures/until.js';

export async function stateOf(
  reg: Registry,
  machineId: string,
  unit: string,
): Promise<UnitStateRecord | undefined> {
  const l = await reg.listUnitStates(machineId);
  return l.items.find((s) => s.record.unit === unit)?.record;
}

export async function machineKeyExists(client: Etcd3, reg: Registry, machineId: string): Promise<boolean> {
  return client.get(reg.keys.machine(machineId)).exists();
}
