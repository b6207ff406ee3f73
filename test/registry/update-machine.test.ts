import { expect } from 'chai';
import { MachineNotFoundError, InvalidInputError } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { caught, registry } from './helpers.js';

describe('lib/registry updateMachine and prefixWatermark', function () {
  this.timeout(20000);
  const etcd = useEtcd();

  it('changes the record in place and keeps it on the agent lease', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const lease = etcd.client.lease(10, { autoKeepAlive: false });
    const id = await lease.grant();
    await reg.putMachine(
      { id: 'm1', publicIp: '10.0.0.1', metadata: { a: '1' }, version: 'v', draining: false },
      id,
    );
    const s = await reg.updateMachine('m1', 'drain m1', (m) => ({
      ...m,
      draining: true,
      metadata: { b: '2' },
    }));
    expect(s.record).to.deep.include({
      id: 'm1',
      draining: true,
      metadata: { b: '2' },
      publicIp: '10.0.0.1',
    });
    const listed = (await reg.listMachines()).items[0]!;
    expect(listed.record.draining).to.equal(true);
    expect(BigInt(listed.lease)).to.equal(BigInt(id));
    await lease.revoke();
    expect((await reg.listMachines()).items).to.have.length(0);
  });

  it('refuses a missing machine, an invalid result, and retries a lost race', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const e = await caught(reg.updateMachine('m0', 'x', (m) => m));
    expect(e).to.be.instanceOf(MachineNotFoundError);
    expect((e as Error).message).to.contain('machine m0 is not in the cluster');
    const lease = etcd.client.lease(10, { autoKeepAlive: false });
    const id = await lease.grant();
    await reg.putMachine({ id: 'm1', publicIp: '', metadata: {}, version: 'v', draining: false }, id);
    const bad = await caught(
      reg.updateMachine('m1', 'break m1', (m) => ({ ...m, metadata: { k: 5 as unknown as string } })),
    );
    expect(bad).to.be.instanceOf(InvalidInputError);
    // a writer that changes the record between our read and write: we read again and win
    let raced = false;
    const s = await reg.updateMachine('m1', 'tag m1', async (m) => {
      if (!raced) {
        raced = true;
        await etcd.client
          .put(`${etcd.prefix}machines/m1`)
          .value(JSON.stringify({ ...m, metadata: { other: 'x' } }))
          .lease(id)
          .exec();
      }
      return { ...m, metadata: { ...m.metadata, tag: 'y' } };
    });
    // the second attempt saw the other writer's record
    expect(s.record.metadata).to.deep.equal({ other: 'x', tag: 'y' });
    await lease.revoke();
  });

  it('prefixWatermark: key count and highest mod revision under a prefix', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    expect(await reg.prefixWatermark('units')).to.deep.include({ count: 0, maxModRevision: '0' });
    const a = await reg.submitUnit({ name: 'a.service', body: '[Service]\nExecStart=/bin/true\n' });
    const b = await reg.submitUnit({ name: 'b.service', body: '[Service]\nExecStart=/bin/true\n' });
    const w = await reg.prefixWatermark('units');
    expect(w).to.deep.include({ count: 2, maxModRevision: b.modRevision });
    const a2 = await reg.setDesiredState('a.service', 'loaded');
    expect((await reg.prefixWatermark('units')).maxModRevision).to.equal(a2.modRevision);
    expect(BigInt(a2.modRevision) > BigInt(a.modRevision)).to.equal(true);
    await reg.destroyUnit('b.service');
    expect(await reg.prefixWatermark('units')).to.deep.include({ count: 1 });
    expect(await reg.prefixWatermark('schedule')).to.deep.include({ count: 0 });
  });
});
