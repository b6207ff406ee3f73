import { expect } from 'chai';
import { ApiError, errorBody, mapError } from '../../fleetd/api/errors.js';
import { encodePageToken, pageOf, pageTokenFrom } from '../../fleetd/api/paging.js';
import {
  applyMachineChanges,
  decidePut,
  machineToApi,
  parseMachinePatch,
  parsePutUnit,
  unitTextOf,
  unitToApi,
} from '../../fleetd/api/shapes.js';
import { MetricsRegistry } from '../../fleetd/metrics.js';
import { EtcdClientError } from '../../lib/etcd-errors.js';
import {
  ConflictError,
  UnitExistsError,
  UnitNotFoundError,
  InvalidInputError,
} from '../../lib/registry/errors.js';
import type { UnitRecord } from '../../lib/registry/records.js';

const OPTS = [
  { section: 'Unit', name: 'Description', value: 'x' },
  { section: 'Service', name: 'ExecStart', value: '/bin/true' },
];

function refusal(f: () => unknown): ApiError {
  try {
    f();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

describe('fleetd/api (pure parts)', () => {
  describe('page tokens (fleet: two little-endian uint16, URL-safe base64)', () => {
    it('encodes as fleet does and round-trips', () => {
      expect(encodePageToken({ limit: 100, page: 2 })).to.equal('ZAACAA==');
      expect(pageTokenFrom(['ZAACAA=='], 100)).to.deep.equal({ limit: 100, page: 2 });
      expect(pageTokenFrom([], 100)).to.equal(undefined);
      const t = encodePageToken({ limit: 0xfbff, page: 0xffff });
      expect(t).to.match(/^[A-Za-z0-9_-]+=*$/);
      expect(pageTokenFrom([t], 0xfbff)).to.deep.equal({ limit: 0xfbff, page: 0xffff });
    });

    it("pages with fleet's arithmetic: a full last page still gets a token, then an empty page", () => {
      const all = [1, 2, 3, 4];
      expect(pageOf(all, { limit: 2, page: 1 })).to.deep.equal({
        items: [1, 2],
        next: encodePageToken({ limit: 2, page: 2 }),
      });
      expect(pageOf(all, { limit: 2, page: 2 })).to.deep.equal({
        items: [3, 4],
        next: encodePageToken({ limit: 2, page: 3 }),
      });
      expect(pageOf(all, { limit: 2, page: 3 })).to.deep.equal({ items: [], next: undefined });
      expect(pageOf(all, { limit: 3, page: 2 })).to.deep.equal({ items: [4], next: undefined });
      expect(pageOf([], { limit: 3, page: 1 })).to.deep.equal({ items: [], next: undefined });
    });

    it('refuses other limits, page 0, bad base64, several tokens (400)', () => {
      for (const [v, msg] of [
        [['ZAACAA=='], 'token limit must be 5'],
        [[encodePageToken({ limit: 5, page: 0 })], 'greater than zero'],
        [['***'], 'not URL-safe base64'],
        [['AAA='], 'too short'],
        [['a', 'b'], 'too many values'],
      ] as const) {
        const e = refusal(() => pageTokenFrom(v, 5));
        expect(e.status).to.equal(400);
        expect(e.message).to.contain(msg);
      }
    });
  });

  describe('errors', () => {
    it('maps typed errors to fleet status codes; hides anything unknown', () => {
      expect(mapError(new UnitNotFoundError('a.service', '/k')).status).to.equal(404);
      expect(mapError(new UnitExistsError('a.service', '/k')).status).to.equal(409);
      expect(mapError(new ConflictError('unit a', '/k')).status).to.equal(409);
      expect(mapError(new InvalidInputError('bad')).status).to.equal(400);
      const etcd = mapError(
        new EtcdClientError('ETCD_UNAVAILABLE', 'cannot reach etcd at http://x:1', { retryable: true }),
      );
      expect(etcd).to.deep.include({ status: 503, etcd: true });
      expect(etcd.headers).to.deep.equal({ 'Retry-After': '1' });
      const raw = mapError(new Error('14 UNAVAILABLE: secret internals'));
      expect(raw).to.deep.include({ status: 500, internal: true });
      expect(raw.message).to.not.contain('secret');
      expect(errorBody(404, 'x')).to.deep.equal({ error: { code: 404, message: 'x' } });
    });
  });

  describe('shapes', () => {
    it('Unit: currentState from the schedule; machineID only for one machine', () => {
      const rec: UnitRecord = {
        name: 'a.service',
        body: '[Service]\nExecStart=/bin/true\n',
        hash: 'h',
        desiredState: 'launched',
      };
      const a = (m: string) => ({
        unit: 'a.service',
        machineId: m,
        body: '',
        hash: 'h',
        desiredState: 'launched' as const,
      });
      expect(unitToApi(rec, [])).to.deep.equal({
        name: 'a.service',
        options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }],
        desiredState: 'launched',
        currentState: 'inactive',
      });
      expect(unitToApi(rec, [a('m1')])).to.include({ currentState: 'launched', machineID: 'm1' });
      expect(unitToApi(rec, [a('m1'), a('m2')])).to.not.have.property('machineID');
    });

    it('Machine: empty fields left out, draining only when set', () => {
      expect(
        machineToApi({ id: 'm', publicIp: '', metadata: {}, version: '', draining: false }),
      ).to.deep.equal({ id: 'm' });
      expect(
        machineToApi({ id: 'm', publicIp: '1.2.3.4', metadata: { a: 'b' }, version: '', draining: true }),
      ).to.deep.equal({
        id: 'm',
        primaryIP: '1.2.3.4',
        metadata: { a: 'b' },
        draining: true,
      });
    });

    it('PUT bodies: Go-style case-insensitive fields; name from the URL when absent', () => {
      expect(
        parsePutUnit(
          'a.service',
          JSON.stringify({ DesiredState: 'loaded', Options: [{ Section: 'S', Name: 'N', Value: 'V' }] }),
        ),
      ).to.deep.equal({
        name: 'a.service',
        desiredState: 'loaded',
        options: [{ section: 'S', name: 'N', value: 'V' }],
      });
      expect(refusal(() => parsePutUnit('a.service', '{')).message).to.contain('unable to decode body');
    });

    it('options print as a unit file that parses back to them', () => {
      const text = unitTextOf('a.service', [...OPTS, { section: 'Unit', name: 'After', value: 'b.service' }]);
      expect(text).to.equal('[Unit]\nDescription=x\nAfter=b.service\n\n[Service]\nExecStart=/bin/true\n');
      expect(
        refusal(() => unitTextOf('a.service', [{ section: 'A]', name: 'n', value: 'v' }])).status,
      ).to.equal(400);
      expect(
        refusal(() => unitTextOf('a.service', [{ section: 'A', name: 'n=m', value: 'v' }])).status,
      ).to.equal(400);
    });

    it("decidePut: fleet's rules", () => {
      const existing: UnitRecord = {
        name: 'a.service',
        body: unitTextOf('a.service', OPTS),
        hash: '',
        desiredState: 'inactive',
      };
      const req = (
        o: Partial<{ options: typeof OPTS; desiredState: 'loaded' | 'launched' | 'inactive' }>,
      ) => ({
        name: 'a.service',
        options: o.options ?? [],
        desiredState: o.desiredState,
      });
      expect(decidePut(req({ options: OPTS }), undefined)).to.deep.include({
        kind: 'create',
        desiredState: 'inactive',
      });
      expect(refusal(() => decidePut(req({ desiredState: 'loaded' }), undefined)).status).to.equal(409);
      expect(decidePut(req({ desiredState: 'loaded' }), existing)).to.deep.equal({
        kind: 'set-state',
        name: 'a.service',
        desiredState: 'loaded',
      });
      expect(refusal(() => decidePut(req({}), existing)).status).to.equal(409);
      const t = { name: 't@.service', options: OPTS, desiredState: 'launched' as const };
      expect(refusal(() => decidePut(t, undefined)).message).to.contain('cannot activate template');
    });

    it('machine PATCH ops, applied in order', () => {
      const ops = parseMachinePatch(
        JSON.stringify([
          { op: 'add', path: '/m1/metadata/a', value: '1' },
          { op: 'replace', path: '/m1/metadata/a', Value: { value: '2' } },
          { op: 'remove', path: '/m1/metadata/b' },
          { op: 'replace', path: '/m1/draining', value: 'true' },
        ]),
      );
      expect(ops).to.have.length(4);
      const out = applyMachineChanges(
        { id: 'm1', publicIp: '', metadata: { b: 'x', c: 'y' }, version: '', draining: false },
        ops,
      );
      expect(out.metadata).to.deep.equal({ c: 'y', a: '2' });
      expect(out.draining).to.equal(true);
    });
  });

  describe('metrics', () => {
    it('renders Prometheus text: counters, gauges with labels, histograms, collectors', async () => {
      const m = new MetricsRegistry();
      const c = m.counter('x_total', 'Things.', ['kind']);
      c.inc({ kind: 'a"b' });
      c.inc({ kind: 'a"b' }, 2);
      const g = m.gauge('y', 'Level.');
      m.addCollector(() => g.set({}, 7));
      const h = m.histogram('z_seconds', 'Time.', [], [0.1, 1]);
      h.observe(0.05);
      h.observe(0.5);
      m.addCollector(() => {
        throw new Error('broken');
      });
      const text = await m.render();
      expect(text).to.contain('# TYPE x_total counter\nx_total{kind="a\\"b"} 3\n');
      expect(text).to.contain('y 7\n');
      expect(text).to.contain(
        'z_seconds_bucket{le="0.1"} 1\nz_seconds_bucket{le="1"} 2\nz_seconds_bucket{le="+Inf"} 2\nz_seconds_sum 0.55\nz_seconds_count 2\n',
      );
      expect(text).to.contain('fleet_metrics_collector_errors_total 1');
      expect(() => m.gauge('x_total', 'again')).to.throw('already a counter');
      expect(() => c.inc({ nope: '1' })).to.throw('has no label nope');
    });
  });
});
