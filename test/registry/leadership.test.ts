import { expect } from 'chai';
import {
  EngineCampaign,
  StaleFenceError,
  type Fence,
  type ScheduleChange,
} from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { BODY, caught, registry } from './helpers.js';

function elected(c: EngineCampaign): Promise<Fence> {
  return new Promise((resolve) => c.once('elected', resolve));
}

describe('lib/registry engine leadership (fenced) against a real etcd', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  const fast = { backoff: () => new Promise<void>((r) => setTimeout(r, 20)) };

  async function change(reg: ReturnType<typeof registry>['reg']): Promise<ScheduleChange> {
    const u = (await reg.getUnit('x.service')) ?? (await reg.submitUnit({ name: 'x.service', body: BODY }));
    const hash = u.record.hash;
    return {
      type: 'put',
      record: { unit: 'x.service', machineId: 'm1', body: BODY, hash, desiredState: 'launched' },
    };
  }

  it('elects one candidate; when it stops, the next is elected and the old fence is refused', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const { reg: regB } = registry(etcd.newClient(), etcd.prefix);
    const a = new EngineCampaign(reg, { candidate: 'a', ttlSeconds: 5, ...fast });
    const b = new EngineCampaign(regB, { candidate: 'b', ttlSeconds: 5, ...fast });
    try {
      const aElected = elected(a);
      a.start();
      const fenceA = await aElected;
      expect(a.fence).to.deep.equal(fenceA);
      let bFence: Fence | undefined;
      b.on('elected', (f) => (bFence = f));
      b.start();
      await new Promise((r) => setTimeout(r, 300));
      expect(bFence).to.equal(undefined);
      await reg.applySchedule(fenceA, [await change(reg)]);

      const bElected = elected(b);
      await a.stop();
      const fenceB = await bElected;
      expect(fenceB.key).to.not.equal(fenceA.key);
      expect(a.fence).to.equal(undefined);
      const err = await caught(reg.applySchedule(fenceA, [await change(reg)]));
      expect(err).to.be.instanceOf(StaleFenceError);
      await regB.applySchedule(fenceB, [{ type: 'delete', machineId: 'm1', unit: 'x.service' }]);
      expect((await reg.listSchedule()).items).to.have.length(0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('reports a lost lease as deposed, campaigns again, and only the new fence writes', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const a = new EngineCampaign(reg, { candidate: 'a', ttlSeconds: 3, ...fast });
    const deposed: string[] = [];
    a.on('deposed', (e) => deposed.push(e.message));
    try {
      const first = elected(a);
      a.start();
      const fence1 = await first;
      const leaseId = fence1.key.slice(fence1.key.lastIndexOf('/') + 1);
      const again = elected(a);
      // Someone (an operator, or etcd after the TTL) ends the lease under the leader.
      await etcd.newClient().leaseClient.leaseRevoke({ ID: leaseId });
      const fence2 = await again;
      expect(deposed).to.have.length(1);
      expect(fence2.key).to.not.equal(fence1.key);
      expect(await caught(reg.applySchedule(fence1, [await change(reg)]))).to.be.instanceOf(StaleFenceError);
      await reg.applySchedule(fence2, [await change(reg)]);
    } finally {
      await a.stop();
    }
  });

  it('restart() after a StaleFenceError drops the fence and wins a new one', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const a = new EngineCampaign(reg, { candidate: 'a', ttlSeconds: 5, ...fast });
    try {
      const first = elected(a);
      a.start();
      const fence1 = await first;
      // The election key vanishes behind the engine's back; it only learns from a refused write.
      await etcd.client.delete().key(fence1.key);
      const err = await caught(reg.applySchedule(fence1, [await change(reg)]));
      expect(err).to.be.instanceOf(StaleFenceError);
      const again = elected(a);
      await a.restart(err as StaleFenceError);
      expect(a.fence).to.equal(undefined);
      const fence2 = await again;
      await reg.applySchedule(fence2, [await change(reg)]);
    } finally {
      await a.stop();
    }
  });
});
