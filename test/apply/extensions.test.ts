/**
 * What apply and the invalid marks added to shared parts: fleetd's API ("source" and
 * ?replace=true on a PUT, "source" and "invalid" in a Unit), the engine's pure reasons merge,
 * the name of an invalid key, and the registry stream's 'invalid'/'cleared' events (real etcd).
 */
import { expect } from 'chai';
import { withInvalidUnits, reasonsChanges } from '../../engine/reasons.js';
import { decidePut, parsePutUnit } from '../../fleetd/api/shapes.js';
import { Keys, Registry, invalidUnitKeyName, type InvalidKeyEvent } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { until } from '../fixtures/until.js';
import { call, serveApi, type Served } from '../fleetd/helpers.js';

const OPTS = [{ section: 'Service', name: 'ExecStart', value: '/bin/sleep 1' }];
const OPTS2 = [{ section: 'Service', name: 'ExecStart', value: '/bin/sleep 2' }];

describe('apply: extensions of shared parts', function () {
  this.timeout(30000);

  it('invalidUnitKeyName: a unit name stays; anything else becomes one key segment ending .invalid', () => {
    expect(invalidUnitKeyName('a.service')).to.equal('a.service');
    expect(invalidUnitKeyName('bad name.service')).to.equal('bad%20name%2Eservice.invalid');
    expect(invalidUnitKeyName('a/b')).to.equal('a%2Fb.invalid');
    expect(invalidUnitKeyName('noext')).to.equal('noext.invalid');
    const k = new Keys('/fleet/');
    for (const raw of ['bad name.service', 'a/b', 'noext', '', 'x'.repeat(400)]) {
      const n = invalidUnitKeyName(raw);
      expect(k.parse(k.reasons(n)), raw).to.deep.equal({ kind: 'reasons', unit: n });
    }
  });

  it('engine reasons: an invalid key replaces what the plan says of the unit, and is recorded once', () => {
    const merged = withInvalidUnits(
      [
        { unit: 'a.service', reasons: ['no machine has region=eu'] },
        { unit: 'b.service', reasons: ['1 machine draining'] },
      ],
      [{ unit: 'a.service', key: '/fleet/units/a.service', reason: 'not JSON' }],
    );
    expect(merged).to.deep.equal([
      { unit: 'b.service', reasons: ['1 machine draining'] },
      {
        unit: 'a.service',
        reasons: [
          '/fleet/units/a.service is invalid: not JSON; fix or delete the key (see docs/etcd-schema.md)',
        ],
        invalid: 'not JSON',
      },
    ]);
    const first = reasonsChanges(new Map(), merged, 0);
    expect(first.map((c) => c.type)).to.deep.equal(['put', 'put']);
    const recorded = new Map(
      first.map((c) => (c.type === 'put' ? [c.record.unit, c.record] : ['', undefined!])),
    );
    expect(reasonsChanges(recorded, merged, 1000)).to.deep.equal([]);
    expect(reasonsChanges(recorded, [], 2000).map((c) => c.type)).to.deep.equal(['delete', 'delete']);
  });

  it("API shapes: PUT's source is read and checked; ?replace=true swaps a different file", () => {
    const req = parsePutUnit('a.service', JSON.stringify({ options: OPTS2, source: 'dir:h:/d' }));
    expect(req).to.include({ source: 'dir:h:/d' });
    expect(() => parsePutUnit('a.service', JSON.stringify({ options: OPTS, source: 7 }))).to.throw(
      /"source"/,
    );
    const existing = {
      name: 'a.service',
      body: '[Service]\nExecStart=/bin/sleep 1\n',
      hash: 'x',
      desiredState: 'launched' as const,
    };
    expect(decidePut(req, existing, true)).to.include({ kind: 'replace', name: 'a.service' });
    expect(() => decidePut(req, existing)).to.throw(/already exists with different options/);
  });

  describe('on a real etcd', () => {
    const etcd = useEtcd();
    let s: Served | undefined;
    afterEach(async () => {
      await s?.close();
      s = undefined;
    });

    it("fleetd's API records the source, shows it, and replaces a file in place", async () => {
      const reg = new Registry(etcd.client, { prefix: etcd.prefix });
      s = await serveApi({ registry: reg });
      const put = (body: unknown, query = '') =>
        call(s!.base, 'PUT', `/fleet/v1/units/a.service${query}`, body);
      expect((await put({ options: OPTS, desiredState: 'loaded', source: 'dir:h:/d' })).status).to.equal(201);
      const before = await reg.getUnit('a.service');
      expect(before!.record.source).to.equal('dir:h:/d');
      const g = await call(s.base, 'GET', '/fleet/v1/units/a.service');
      expect(g.json).to.include({ source: 'dir:h:/d', desiredState: 'loaded' });
      expect((await put({ options: OPTS2 }, '?replace=true')).status).to.equal(204);
      const after = await reg.getUnit('a.service');
      expect(after!.createRevision).to.equal(before!.createRevision);
      expect(after!.record.body).to.include('/bin/sleep 2');
      expect(after!.record).to.include({ source: 'dir:h:/d', desiredState: 'loaded' });
    });

    it('the units stream reports an invalid key and clears it when fixed or deleted', async () => {
      const reg = new Registry(etcd.client, { prefix: etcd.prefix });
      const stream = reg.watchUnits();
      const invalid: InvalidKeyEvent[] = [];
      const cleared: string[] = [];
      stream.on('invalid', (e) => invalid.push(e));
      stream.on('cleared', (e) => cleared.push(e.key));
      const key = (n: string) => `${etcd.prefix}units/${n}`;
      await etcd.client.put(key('x.service')).value('nope');
      await stream.start();
      try {
        expect(invalid.map((e) => e.key)).to.deep.equal([key('x.service')]);
        expect(invalid[0]!.reason).to.match(/not JSON/);
        await etcd.client.put(key('y')).value('{}');
        await until(() => invalid.some((e) => e.key === key('y')), 'y reported');
        expect(
          stream
            .invalidValues()
            .map((e) => e.key)
            .sort(),
        ).to.deep.equal([key('x.service'), key('y')]);
        await etcd.client
          .put(key('x.service'))
          .value(JSON.stringify({ body: '[Service]\nExecStart=/bin/true\n', desiredState: 'inactive' }));
        await etcd.client.delete().key(key('y'));
        await until(() => cleared.length === 2, 'both cleared');
        expect(cleared.sort()).to.deep.equal([key('x.service'), key('y')]);
        expect(stream.invalidValues()).to.deep.equal([]);
      } finally {
        await stream.stop();
      }
    });
  });
});
