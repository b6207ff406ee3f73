/**
 * The batched writes behind fleetctl's multi-unit commands: what is left to do after the files are
 * written (transitionSteps, pure), and lib/registry's getUnits / setDesiredStates / destroyUnits on
 * a real etcd, with tiny transactions (maxTxnOps 4) so that a few units cross several chunks.
 */
import { expect } from 'chai';
import { transitionSteps } from '../../fleetctl/commands/transition.js';
import type { Plan } from '../../fleetctl/lazy.js';
import { InvalidInputError, Registry, type ScheduleChange } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';

const BODY = '[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/sleep 1000\n';

describe('fleetctl transitionSteps (pure)', () => {
  const plan = (name: string, over: Partial<Plan>): Plan => ({
    name,
    action: 'exists',
    global: false,
    ...over,
  });
  const none = { created: [], replaced: [], raced: [] };

  it('a created unit is already in the target state: waited for, never set', () => {
    const steps = transitionSteps(
      [
        plan('a.service', { action: 'create', body: BODY }),
        plan('g.service', { action: 'create', global: true }),
      ],
      'launched',
      { ...none, created: ['a.service', 'g.service'] },
    );
    expect(steps).to.deep.equal({ set: [], triggeredGlobal: ['g.service'], wait: ['a.service'] });
  });

  it('an existing unit is set when its state differs, else left alone unless its file was replaced', () => {
    const steps = transitionSteps(
      [
        plan('loaded.service', { desiredState: 'loaded' }),
        plan('done.service', { desiredState: 'launched' }),
        plan('new-file.service', { action: 'replace', desiredState: 'launched' }),
        plan('new-file-loaded.service', { action: 'replace', desiredState: 'loaded' }),
      ],
      'launched',
      { ...none, replaced: ['new-file.service', 'new-file-loaded.service'] },
    );
    expect(steps).to.deep.equal({
      set: ['loaded.service', 'new-file-loaded.service'],
      triggeredGlobal: [],
      wait: ['loaded.service', 'new-file.service', 'new-file-loaded.service'],
    });
  });

  it('a unit someone else created meanwhile (raced) is set: its state is unknown', () => {
    const steps = transitionSteps([plan('r.service', { action: 'create' })], 'loaded', {
      ...none,
      raced: ['r.service'],
    });
    expect(steps).to.deep.equal({ set: ['r.service'], triggeredGlobal: [], wait: ['r.service'] });
  });
});

describe('lib/registry batch reads and writes for fleetctl (real etcd, 4-op transactions)', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  const names = (n: number) => Array.from({ length: n }, (_, i) => `u${i}.service`);
  const small = () => new Registry(etcd.client, { prefix: etcd.prefix, maxTxnOps: 4 });

  it('getUnits reads only the named units that exist, across chunks, skipping an invalid value', async () => {
    const reg = small();
    await reg.submitUnits(names(9).map((name) => ({ name, body: BODY })));
    await etcd.client.put(reg.keys.unit('bad.service')).value('{not json');
    const got = await reg.getUnits([...names(12), 'bad.service']);
    expect([...got.keys()].sort()).to.deep.equal(names(9).sort());
    expect(got.get('u3.service')?.record.body).to.equal(BODY);
  });

  it('setDesiredStates sets every unit across chunks and returns the missing ones', async () => {
    const reg = small();
    await reg.submitUnits(names(10).map((name) => ({ name, body: BODY })));
    const r = await reg.setDesiredStates([
      ...names(10).map((name) => ({ name, state: 'launched' as const })),
      { name: 'ghost.service', state: 'launched' },
    ]);
    expect(r.missing).to.deep.equal(['ghost.service']);
    const after = await reg.getUnits(names(10));
    expect([...after.values()].map((u) => u.record.desiredState)).to.deep.equal(Array(10).fill('launched'));
  });

  it('setDesiredStates refuses a unit holding an invalid value before writing anything', async () => {
    const reg = small();
    await reg.submitUnits(names(3).map((name) => ({ name, body: BODY })));
    await etcd.client.put(reg.keys.unit('bad.service')).value('{not json');
    const err = await reg
      .setDesiredStates(
        ['u0.service', 'bad.service', 'u2.service'].map((name) => ({ name, state: 'loaded' })),
      )
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(InvalidInputError);
    expect((err as Error).message).to.contain('unit bad.service holds an invalid value');
    const after = await reg.getUnits(names(3));
    expect([...after.values()].map((u) => u.record.desiredState)).to.deep.equal(Array(3).fill('inactive'));
  });

  it('destroyUnits removes units with their assignments (one going alone: more than fit), naming the missing', async () => {
    const reg = small();
    await reg.submitUnits(names(6).map((name) => ({ name, body: BODY, desiredState: 'launched' as const })));
    const units = await reg.getUnits(names(6));
    const campaign = reg.engineElection(30).campaign('batch-test');
    await new Promise<void>((ok, ko) => campaign.on('elected', ok).on('error', ko));
    try {
      const fence = await reg.fenceFor(await campaign.getCampaignKey());
      const machines = ['m1', 'm2', 'm3', 'm4', 'm5'].map((m) => m.padEnd(32, '0'));
      // u0 on five machines (more than a 4-op transaction holds with its unit), the others on one.
      const changes: ScheduleChange[] = [...units.values()].flatMap((u) =>
        (u.id === 'u0.service' ? machines : machines.slice(0, 1)).map((machineId) => ({
          type: 'put' as const,
          unitCreateRevision: u.createRevision,
          record: {
            unit: u.id,
            machineId,
            body: BODY,
            hash: u.record.hash,
            desiredState: 'launched' as const,
          },
        })),
      );
      await reg.applySchedule(fence, changes);
      expect((await reg.listSchedule()).items).to.have.length(10);
      const r = await reg.destroyUnits([...names(6), 'ghost.service']);
      expect(r.destroyed.sort()).to.deep.equal(names(6).sort());
      expect(r.missing).to.deep.equal(['ghost.service']);
      expect((await reg.listUnits()).items).to.have.length(0);
      expect((await reg.listSchedule()).items).to.have.length(0);
    } finally {
      await campaign.resign();
    }
  });
});
