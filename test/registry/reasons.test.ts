import { expect } from 'chai';
import {
  EngineCampaign,
  Keys,
  StaleFenceError,
  decodeReasons,
  type Fence,
} from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { caught, registry } from './helpers.js';

describe('lib/registry placement reasons (engine only, fenced)', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  const fast = { backoff: () => new Promise<void>((r) => setTimeout(r, 20)) };

  it('parses reasons keys and validates their values', () => {
    const k = new Keys('/fleet/');
    expect(k.parse(k.reasons('a.service'))).to.deep.equal({ kind: 'reasons', unit: 'a.service' });
    expect(k.parse('/fleet/reasons/a/b').kind).to.equal('unknown');
    expect(decodeReasons('a.service', '{"unit":"a.service","reasons":["x"]}')).to.deep.equal({
      ok: true,
      record: { unit: 'a.service', reasons: ['x'] },
    });
    expect(decodeReasons('a.service', '{"unit":"a.service","reasons":[1]}').ok).to.equal(false);
    expect(decodeReasons('a.service', '{"unit":"b.service","reasons":[]}').ok).to.equal(false);
  });

  it('writes, lists, reads and deletes reasons with the leader fence; a stale fence writes nothing', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const c = new EngineCampaign(reg, { candidate: 'e', ttlSeconds: 3, ...fast });
    try {
      const fence = await new Promise<Fence>((resolve) => {
        c.once('elected', resolve);
        c.start();
      });
      const since = '2026-11-25T15:00:00.000Z';
      await reg.applyReasons(fence, [
        { type: 'put', record: { unit: 'a.service', reasons: ['no machine has region=eu-west'], since } },
        { type: 'put', record: { unit: 'b.service', reasons: ['2 machines excluded by Conflicts=web*'] } },
      ]);
      expect((await reg.listReasons()).items.map((i) => i.record.unit)).to.deep.equal([
        'a.service',
        'b.service',
      ]);
      expect((await reg.getReasons('a.service'))!.record).to.deep.equal({
        unit: 'a.service',
        reasons: ['no machine has region=eu-west'],
        since,
      });
      await reg.applyReasons(fence, [{ type: 'delete', unit: 'a.service' }]);
      expect(await reg.getReasons('a.service')).to.equal(undefined);
      const leaseId = fence.key.slice(fence.key.lastIndexOf('/') + 1);
      await etcd.newClient().leaseClient.leaseRevoke({ ID: leaseId });
      const err = await caught(reg.applyReasons(fence, [{ type: 'delete', unit: 'b.service' }]));
      expect(err).to.be.instanceOf(StaleFenceError);
      expect((await reg.listReasons()).items).to.have.length(1);
    } finally {
      await c.stop();
    }
  });
});
