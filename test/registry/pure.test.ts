import { expect } from 'chai';
import fc from 'fast-check';
import {
  Keys,
  chunkItems,
  decodeAssignment,
  decodeMachine,
  decodeSchema,
  decodeUnit,
  decodeUnitState,
  duplicateKeys,
  encodeUnit,
  prefixEnd,
  memoizeCheck,
  markMemoized,
  encodeAssignment,
  validateAssignment,
  validateUnit,
  MAX_VALUE_BYTES,
  type UnitRecord,
  type AssignmentRecord,
  nextPageSize,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  putOp,
  type TxnItem,
  type UnitBodyCheck,
} from '../../lib/registry/index.js';

const check: UnitBodyCheck = (b) =>
  b.includes('[') ? { ok: true, hash: `h${b.length}` } : { ok: false, reason: 'no section' };

describe('lib/registry pure parts', () => {
  describe('memoizeCheck', () => {
    it('answers like the check, calls it once per body while it is remembered, and stays bounded', () => {
      const calls = new Map<string, number>();
      const counted: UnitBodyCheck = (b) => {
        calls.set(b, (calls.get(b) ?? 0) + 1);
        return check(b);
      };
      const m = memoizeCheck(counted, 4);
      for (let round = 0; round < 3; round++) {
        expect(m('[a]')).to.deep.equal(check('[a]'));
        expect(m('b')).to.deep.equal(check('b'));
      }
      expect(calls.get('[a]')).to.equal(1);
      expect(calls.get('b')).to.equal(1);
      // Many other bodies: '[a]' is still used (hits keep it), 'x0' is long forgotten.
      for (let i = 0; i < 100; i++) {
        m(`x${i}`);
        m('[a]');
      }
      expect(calls.get('[a]')).to.equal(1);
      m('x0');
      expect(calls.get('x0')).to.equal(2);
    });

    it('leaves a check that remembers its own answers as it is (no second memo)', () => {
      const own = markMemoized((b) => check(b));
      expect(memoizeCheck(own)).to.equal(own);
      const plain: UnitBodyCheck = (b) => check(b);
      const memo = memoizeCheck(plain);
      expect(memo).to.not.equal(plain);
      expect(memoizeCheck(memo)).to.equal(memo);
    });
  });

  describe('nextPageSize', () => {
    it('grows pages of small values up to the cap, keeps pages of big values small, never shrinks', () => {
      expect(nextPageSize(DEFAULT_PAGE_SIZE, 256, 256 * 100)).to.equal(MAX_PAGE_SIZE);
      expect(nextPageSize(DEFAULT_PAGE_SIZE, 256, 256 * 190 * 1024)).to.equal(DEFAULT_PAGE_SIZE);
      const mid = nextPageSize(16, 16, 16 * 10_000);
      expect(mid).to.be.above(16).and.below(MAX_PAGE_SIZE);
      // Even values four times the average fit in the client's 64 MiB receive limit.
      expect(mid * 10_000 * 4).to.be.at.most(64 * 1024 * 1024);
      expect(nextPageSize(100, 0, 0)).to.equal(100);
    });
  });

  describe('keys', () => {
    const k = new Keys('/fleet/');

    it('names and parses every kind of key', () => {
      expect(k.unit('a.service')).to.equal('/fleet/units/a.service');
      expect(k.assignment('m1', 'a.service')).to.equal('/fleet/schedule/m1/a.service');
      expect(k.schedulePrefix('m1')).to.equal('/fleet/schedule/m1/');
      expect(k.state('m1', 'a.service')).to.equal('/fleet/states/m1/a.service');
      expect(k.machine('m1')).to.equal('/fleet/machines/m1');
      expect(k.parse('/fleet/schema')).to.deep.equal({ kind: 'schema' });
      expect(k.parse(k.unit('a@1.service'))).to.deep.equal({ kind: 'unit', unit: 'a@1.service' });
      expect(k.parse(k.assignment('m1', 'a.service'))).to.deep.equal({
        kind: 'assignment',
        machineId: 'm1',
        unit: 'a.service',
      });
      expect(k.parse(k.state('m1', 'a.service'))).to.deep.equal({
        kind: 'state',
        machineId: 'm1',
        unit: 'a.service',
      });
      expect(k.parse(k.machine('m1'))).to.deep.equal({ kind: 'machine', machineId: 'm1' });
    });

    it('says why a key is not one of ours', () => {
      for (const bad of [
        '/other/units/a.service',
        '/fleet/units/a/b.service',
        '/fleet/units/',
        '/fleet/junk/x',
        '/fleet/schedule/m1',
        '/fleet/units/noext',
      ]) {
        const p = k.parse(bad);
        expect(p.kind, bad).to.equal('unknown');
        expect((p as { reason: string }).reason, bad)
          .to.be.a('string')
          .and.not.equal('');
      }
    });

    it('computes the exclusive end of a prefix range', () => {
      expect(prefixEnd('/fleet/').toString()).to.equal('/fleet0');
      expect(prefixEnd('/a/b/').toString()).to.equal('/a/b0');
    });

    it('round-trips any unit/machine name it accepts (property)', () => {
      fc.assert(
        fc.property(
          fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
          fc.stringMatching(/^[A-Za-z0-9@:_.-]{1,30}\.(service|socket|timer)$/),
          (m, u) => {
            expect(k.parse(k.assignment(m, u))).to.deep.equal({ kind: 'assignment', machineId: m, unit: u });
          },
        ),
      );
    });
  });

  describe('decoders never throw and name the field', () => {
    it('units', () => {
      const ok = decodeUnit(
        'a.service',
        JSON.stringify({ body: '[Service]', desiredState: 'launched' }),
        check,
      );
      expect(ok).to.deep.equal({
        ok: true,
        record: { name: 'a.service', body: '[Service]', hash: 'h9', desiredState: 'launched' },
      });
      const cases: [string, string][] = [
        ['', 'not JSON'],
        ['[]', 'not a JSON object'],
        ['null', 'not a JSON object'],
        ['{"desiredState":"launched"}', '"body" must be a string'],
        ['{"body":"[S]","desiredState":"up"}', '"desiredState" must be one of'],
        ['{"body":"plain","desiredState":"loaded"}', 'not a valid unit file: no section'],
        ['{"body":"[S]","desiredState":"loaded","hash":"h0"}', 'body hashes to h3'],
        [
          '{"body":"[S]","desiredState":"loaded","createdAt":"yesterday"}',
          '"createdAt" must be an ISO-8601 time',
        ],
        ['{"name":"b.service","body":"[S]","desiredState":"loaded"}', '"name" must be "a.service"'],
      ];
      for (const [raw, why] of cases) {
        const d = decodeUnit('a.service', raw, check);
        expect(d.ok, raw).to.equal(false);
        expect((d as { reason: string }).reason, raw).to.contain(why);
      }
    });

    it('checks every time, also right after a valid one (the last valid time is remembered)', () => {
      const at = (t: string) =>
        decodeUnit('a.service', JSON.stringify({ body: '[S]', desiredState: 'loaded', createdAt: t }), check);
      const good = new Date(5).toISOString();
      expect(at(good).ok).to.equal(true);
      expect(at(good).ok).to.equal(true);
      expect(at(`${good}x`)).to.deep.include({ ok: false });
      expect(at('2026-13-45T99:99:99.000Z')).to.deep.include({ ok: false });
      expect(at(good).ok).to.equal(true);
    });

    it('encodeUnit output decodes to the same record', () => {
      const rec = {
        name: 'a.service',
        body: '[X]',
        hash: 'h3',
        desiredState: 'loaded' as const,
        source: 's',
        createdAt: new Date(0).toISOString(),
      };
      expect(decodeUnit('a.service', encodeUnit(rec), check)).to.deep.equal({ ok: true, record: rec });
    });

    it('assignments, machines, states, schema', () => {
      expect(
        decodeAssignment(
          'm1',
          'a.service',
          '{"unit":"a.service","machineId":"m2","body":"[S]","hash":"h3","desiredState":"launched"}',
          check,
        ),
      ).to.deep.include({ ok: false });
      expect(
        decodeAssignment(
          'm1',
          'a.service',
          '{"unit":"a.service","machineId":"m1","body":"[S]","hash":"h3","desiredState":"inactive"}',
          check,
        ),
      ).to.deep.include({ ok: false });
      expect(decodeMachine('m1', '{"id":"m1","draining":"yes"}')).to.deep.equal({
        ok: false,
        reason: '"draining" must be true or false',
      });
      expect(decodeMachine('m1', '{"id":"m1"}')).to.deep.equal({
        ok: true,
        record: { id: 'm1', publicIp: '', metadata: {}, version: '', draining: false },
      });
      expect(
        decodeUnitState(
          'm1',
          'a.service',
          '{"unit":"a.service","machineId":"m1","loadState":"loaded","activeState":"","subState":"x","hash":""}',
        ),
      ).to.deep.equal({ ok: false, reason: '"activeState" cannot be empty' });
      expect(decodeSchema('{"version":1.5}')).to.deep.equal({
        ok: false,
        reason: '"version" must be a positive integer',
      });
    });

    it('survive arbitrary input (property)', () => {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.json()), (raw) => {
          for (const d of [
            decodeUnit('a.service', raw, check),
            decodeMachine('m', raw),
            decodeUnitState('m', 'a.service', raw),
            decodeAssignment('m', 'a.service', raw, check),
          ]) {
            expect(d.ok === true || typeof (d as { reason: string }).reason === 'string').to.equal(true);
          }
        }),
      );
    });
  });

  describe('validateAssignment', () => {
    it('says what decodeAssignment says of the encoded record (property)', () => {
      const rec = fc.record({
        unit: fc.constantFrom('a.service', 'b.service'),
        machineId: fc.constantFrom('m', 'n'),
        body: fc.oneof(
          fc.string(),
          fc.constant('[Service]\nExecStart=/bin/true\n'),
          fc.constant('x'.repeat(MAX_VALUE_BYTES)),
        ),
        hash: fc.oneof(fc.string(), fc.constantFrom('h0', 'h32')),
        desiredState: fc.constantFrom('loaded', 'launched', 'inactive', 'bogus'),
      });
      fc.assert(
        fc.property(rec, (r) => {
          const a = r as unknown as AssignmentRecord;
          const direct = validateAssignment(a, check);
          const viaJson = decodeAssignment(a.machineId, a.unit, encodeAssignment(a), check);
          expect(direct).to.deep.equal(viaJson);
        }),
      );
      const good: AssignmentRecord = {
        unit: 'a.service',
        machineId: 'm',
        body: '[x]',
        hash: 'h3',
        desiredState: 'launched',
      };
      expect(validateAssignment(good, check)).to.deep.equal({ ok: true, record: good });
      expect(validateAssignment({ ...good, hash: 'h4' }, check).ok).to.equal(false);
    });
  });

  describe('validateUnit', () => {
    const rec = fc.record({
      name: fc.constantFrom('a.service', 'b.service'),
      body: fc.oneof(
        fc.string(),
        fc.constant('[Service]\nExecStart=/bin/true\n'),
        fc.constant(`[${'x'.repeat(MAX_VALUE_BYTES)}`),
      ),
      hash: fc.oneof(fc.string({ minLength: 1 }), fc.constantFrom('h0', 'h32')),
      desiredState: fc.constantFrom('loaded', 'launched', 'inactive', 'bogus'),
      source: fc.option(fc.string(), { nil: undefined }),
      createdAt: fc.option(fc.constantFrom('2026-11-25T00:00:00.000Z', 'yesterday'), { nil: undefined }),
    });

    it('says what decodeUnit says of the encoded record (property)', () => {
      fc.assert(
        fc.property(rec, (r) => {
          const u = r as unknown as UnitRecord;
          const direct = validateUnit(u, check);
          const viaJson = decodeUnit(u.name, encodeUnit(u), check);
          if (!direct.ok) {
            expect(direct).to.deep.equal(viaJson);
          } else {
            expect({ ok: true, record: direct.record }).to.deep.equal(viaJson);
            expect(direct.value).to.equal(encodeUnit(direct.record));
          }
        }),
      );
    });

    it('fills in an empty hash from the body, and refuses what cannot be stored', () => {
      const u: UnitRecord = { name: 'a.service', body: '[x]', hash: '', desiredState: 'launched' };
      const filled = { ...u, hash: 'h3' };
      expect(validateUnit(u, check)).to.deep.equal({ ok: true, record: filled, value: encodeUnit(filled) });
      expect(validateUnit({ ...u, body: 'no section' }, check)).to.deep.equal({
        ok: false,
        reason: '"body" is not a valid unit file: no section',
      });
      // The body fits, but not with the record around it.
      const big = validateUnit({ ...u, body: `[${'\u0001'.repeat(MAX_VALUE_BYTES / 6 + 100)}` }, check);
      expect(big).to.deep.equal({ ok: false, reason: `the value is larger than ${MAX_VALUE_BYTES} bytes` });
    });
  });

  describe('chunking', () => {
    const item = (n: number, compares = 0): TxnItem => ({
      compares: Array.from({ length: compares }, () => ({ key: Buffer.from('c') })),
      ops: Array.from({ length: n }, (_, i) => putOp(`k${i}`, 'v')),
    });

    it('keeps every chunk within the op and compare limits, in order, never splitting an item (property)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ ops: fc.integer({ min: 0, max: 5 }), cmps: fc.integer({ min: 0, max: 3 }) }), {
            maxLength: 200,
          }),
          fc.integer({ min: 6, max: 40 }),
          fc.integer({ min: 0, max: 2 }),
          (specs, max, fixed) => {
            const items = specs.map((s) => item(s.ops, s.cmps));
            const chunks = chunkItems(items, max, fixed);
            expect(chunks.flat()).to.deep.equal(items);
            for (const c of chunks) {
              expect(c.reduce((n, i) => n + i.ops.length, 0)).to.be.at.most(max);
              expect(c.reduce((n, i) => n + i.compares.length, fixed)).to.be.at.most(max);
            }
          },
        ),
      );
    });

    it('packs 10,000 single-op items into ceil(10000/128) chunks', () => {
      expect(
        chunkItems(
          Array.from({ length: 10_000 }, () => item(1)),
          128,
        ),
      ).to.have.length(79);
      expect(
        chunkItems(
          Array.from({ length: 10_000 }, () => item(1)),
          128,
          1,
        ),
      ).to.have.length(79);
      expect(
        chunkItems(
          Array.from({ length: 10_000 }, () => item(1, 1)),
          128,
          1,
        ),
      ).to.have.length(79);
    });

    it('also cuts by bytes, and never splits an item', () => {
      const fat = (n: number): TxnItem => ({ compares: [], ops: [putOp(`k${n}`, 'x'.repeat(400))] });
      const chunks = chunkItems(
        Array.from({ length: 10 }, (_, i) => fat(i)),
        128,
        0,
        1000,
      );
      expect(chunks.map((c) => c.length)).to.deep.equal([2, 2, 2, 2, 2]);
      expect(
        chunkItems(
          [fat(1), { compares: [], ops: [putOp('huge', 'x'.repeat(5000))] }, fat(2)],
          128,
          0,
          1000,
        ).map((c) => c.length),
      ).to.deep.equal([1, 1, 1]);
    });

    it('refuses an item too big for one transaction', () => {
      expect(() => chunkItems([item(129)], 128)).to.throw(RangeError);
    });

    it('finds keys written twice', () => {
      expect(duplicateKeys([item(2), item(1)])).to.deep.equal(['k0']);
    });
  });
});
