import { expect } from 'chai';
import { Registry } from '../../lib/registry/index.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { useEtcd } from '../fixtures/etcd.js';
import { encodePageToken } from '../../fleetd/api/paging.js';
import { addMachine, call, place, recordReasons, serveApi, type Served } from './helpers.js';

const OPTS = [
  { section: 'Unit', name: 'Description', value: 'hello' },
  { section: 'Service', name: 'ExecStart', value: '/bin/sleep 1000' },
];

describe('fleetd API against a real etcd', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  let reg: Registry;
  let s: Served;

  beforeEach(async () => {
    reg = new Registry(etcd.client, { prefix: etcd.prefix });
    s = await serveApi({ registry: reg, tokenLimit: 2 });
  });
  afterEach(async () => {
    await s.close();
  });

  const put = (name: string, body: unknown) =>
    call(s.base, 'PUT', `/fleet/v1/units/${encodeURIComponent(name)}`, body);

  describe('units', () => {
    it("PUT with options creates (201); GET shows fleet's Unit; the body is stored as a unit file", async () => {
      const r = await put('hello.service', {
        name: 'hello.service',
        desiredState: 'launched',
        options: OPTS,
      });
      expect(r.status).to.equal(201);
      expect(r.text).to.equal('');
      const g = await call(s.base, 'GET', '/fleet/v1/units/hello.service');
      expect(g.status).to.equal(200);
      expect(g.headers.get('content-type')).to.equal('application/json');
      expect(g.json).to.deep.equal({
        name: 'hello.service',
        options: OPTS,
        desiredState: 'launched',
        currentState: 'inactive',
        source: 'api',
      });
      const stored = await reg.getUnit('hello.service');
      expect(stored?.record.body).to.equal(
        '[Unit]\nDescription=hello\n\n[Service]\nExecStart=/bin/sleep 1000\n',
      );
      expect(stored?.record.source).to.equal('api');
    });

    it('shows the scheduled machine and state (currentState, machineID)', async () => {
      await put('a.service', { desiredState: 'launched', options: OPTS });
      await addMachine(etcd.client, reg, 'm1');
      await place(reg, [{ unit: 'a.service', machineId: 'm1', desiredState: 'launched' }]);
      const g = await call(s.base, 'GET', '/fleet/v1/units/a.service');
      expect(g.json).to.include({ currentState: 'launched', machineID: 'm1', desiredState: 'launched' });
      const l = await call(s.base, 'GET', '/fleet/v1/units');
      expect((l.json as { units: unknown[] }).units[0]).to.include({ machineID: 'm1' });
    });

    it('PUT with only desiredState changes the state of an existing unit (204)', async () => {
      await put('a.service', { options: OPTS });
      expect((await reg.getUnit('a.service'))?.record.desiredState).to.equal('inactive');
      const r = await put('a.service', { name: 'a.service', desiredState: 'loaded' });
      expect(r.status).to.equal(204);
      expect((await reg.getUnit('a.service'))?.record.desiredState).to.equal('loaded');
      // the same options again are accepted (fleet clients may send them)
      expect((await put('a.service', { desiredState: 'launched', options: OPTS })).status).to.equal(204);
    });

    it("refuses, with fleet's codes, and writes nothing", async () => {
      const cases: [string, unknown, number, string][] = [
        ['new.service', { desiredState: 'launched' }, 409, 'does not exist and options field empty'],
        ['bad name.service', { options: OPTS }, 400, 'invalid unit name'],
        ['a.bogus', { options: OPTS }, 400, 'invalid unit name'],
        ['a.service', { name: 'b.service', options: OPTS }, 400, 'differs from unit name in request body'],
        ['a.service', { options: OPTS, desiredState: 'running' }, 400, 'unknown desired state "running"'],
        ['a.service', { options: OPTS, desiredState: 5 }, 400, 'unknown desired state 5'],
        [
          'a.service',
          { options: [{ section: 'Unit', name: 'X' }] },
          400,
          'needs string section, name and value',
        ],
        ['a.service', { options: 'x' }, 400, '"options" must be an array'],
        ['a.service', [], 400, 'expected a JSON object'],
        [
          'a.service',
          { options: [...OPTS, { section: 'Service', name: 'ExecStop', value: 'a\nb' }] },
          400,
          'cannot hold a line break',
        ],
        [
          'g.service',
          {
            options: [
              ...OPTS,
              { section: 'X-Fleet', name: 'Global', value: 'true' },
              { section: 'X-Fleet', name: 'MachineID', value: 'abc' },
            ],
          },
          400,
          'MachineID',
        ],
        [
          'p.service',
          {
            options: [
              ...OPTS,
              { section: 'X-Fleet', name: 'MachineOf', value: 'db.service' },
              { section: 'X-Fleet', name: 'Conflicts', value: 'db*' },
            ],
          },
          400,
          'unresolvable requirements',
        ],
        ['t@.service', { options: OPTS, desiredState: 'launched' }, 400, 'cannot activate template'],
      ];
      for (const [name, body, status, msg] of cases) {
        const r = await put(name, body);
        expect(r.status, `${name} ${JSON.stringify(body)}: ${r.text}`).to.equal(status);
        const err = (r.json as { error: { code: number; message: string } }).error;
        expect(err.code).to.equal(status);
        expect(err.message).to.contain(msg);
      }
      expect((await reg.listUnits()).items).to.have.length(0);
    });

    it('malformed JSON is 400, a wrong or missing Content-Type 415, a huge body 413', async () => {
      const bad = await call(s.base, 'PUT', '/fleet/v1/units/a.service', '{"options": [', {
        'Content-Type': 'application/json',
      });
      expect(bad.status).to.equal(400);
      expect(bad.json).to.have.nested.property('error.message').that.contains('unable to decode body');
      const wrong = await call(
        s.base,
        'PUT',
        '/fleet/v1/units/a.service',
        JSON.stringify({ options: OPTS }),
        {
          'Content-Type': 'text/plain',
        },
      );
      expect(wrong.status).to.equal(415);
      expect(wrong.json).to.deep.equal({
        error: { code: 415, message: 'only acceptable Content-Type is application/json (got "text/plain")' },
      });
      const charset = await call(
        s.base,
        'PUT',
        '/fleet/v1/units/a.service',
        { options: OPTS },
        {
          'Content-Type': 'application/json; charset=utf-8',
        },
      );
      expect(charset.status).to.equal(201);
      const none = await fetch(`${s.base}/fleet/v1/units/b.service`, {
        method: 'PUT',
        body: new Blob([JSON.stringify({ options: OPTS })]),
      });
      expect(none.status).to.equal(415);
      const huge = await put('c.service', {
        options: [...OPTS, { section: 'Unit', name: 'Documentation', value: 'x'.repeat(2 * 1024 * 1024) }],
      });
      expect(huge.status).to.equal(413);
      expect(huge.json).to.have.nested.property('error.message').that.contains('larger than 1048576 bytes');
      const big = await put('d.service', {
        options: [...OPTS, { section: 'Unit', name: 'Documentation', value: 'x'.repeat(100 * 1024) }],
      });
      expect(big.status).to.equal(400);
      expect(big.json).to.have.nested.property('error.message').that.contains('65536');
      expect((await reg.listUnits()).items.map((u) => u.id)).to.deep.equal(['a.service']);
    });

    it('an existing unit: PUT without desiredState is 409, with other options 409', async () => {
      await put('a.service', { options: OPTS });
      const r = await put('a.service', {});
      expect(r.status).to.equal(409);
      expect(r.json).to.have.nested.property('error.message').that.contains('must provide desiredState');
      const other = await put('a.service', {
        desiredState: 'launched',
        options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }],
      });
      expect(other.status).to.equal(409);
      expect(other.json)
        .to.have.nested.property('error.message')
        .that.contains('already exists with different options');
      expect((await reg.getUnit('a.service'))?.record.desiredState).to.equal('inactive');
    });

    it('a template: created inactive, never launched; its instances can be', async () => {
      expect((await put('t@.service', { options: OPTS })).status).to.equal(201);
      const r = await put('t@.service', { desiredState: 'loaded' });
      expect(r.status).to.equal(400);
      expect(r.json)
        .to.have.nested.property('error.message')
        .that.contains('cannot activate template "t@.service"');
      expect((await put('t@1.service', { options: OPTS, desiredState: 'launched' })).status).to.equal(201);
    });

    it('concurrent PUTs of the same unit: exactly one creates, the rest apply atomically or conflict', async () => {
      const states = ['loaded', 'launched', 'inactive', 'launched', 'loaded', 'launched'];
      const rs = await Promise.all(
        states.map((st) => put('race.service', { desiredState: st, options: OPTS })),
      );
      const codes = rs.map((r) => r.status);
      expect(codes.filter((c) => c === 201)).to.have.length(1);
      expect(
        codes.every((c) => c === 201 || c === 204 || c === 409),
        codes.join(','),
      ).to.equal(true);
      const u = await reg.getUnit('race.service');
      expect(u?.record.hash).to.have.length(64);
      // different files: one wins, the others are refused with a clear conflict
      const bodies = [1, 2, 3, 4].map((n) => [
        { section: 'Service', name: 'ExecStart', value: `/bin/sleep ${n}` },
      ]);
      const rs2 = await Promise.all(bodies.map((o) => put('race2.service', { options: o })));
      expect(rs2.filter((r) => r.status === 201)).to.have.length(1);
      for (const r of rs2.filter((x) => x.status !== 201)) {
        expect(r.status).to.equal(409);
        expect((r.json as { error: { message: string } }).error.message).to.match(
          /different options|same time/,
        );
      }
      expect((await reg.listUnits()).items.map((x) => x.id)).to.deep.equal(['race.service', 'race2.service']);
    });

    it("DELETE: 204, then 404; GET of a missing unit: 404 in fleet's error body", async () => {
      await put('a.service', { options: OPTS });
      expect((await call(s.base, 'DELETE', '/fleet/v1/units/a.service')).status).to.equal(204);
      const again = await call(s.base, 'DELETE', '/fleet/v1/units/a.service');
      expect(again.status).to.equal(404);
      expect(again.json).to.deep.equal({ error: { code: 404, message: 'unit a.service does not exist' } });
      const g = await call(s.base, 'GET', '/fleet/v1/units/a.service');
      expect(g.status).to.equal(404);
      expect(g.json).to.deep.equal({ error: { code: 404, message: 'unit a.service does not exist' } });
    });

    it("lists in pages of token_limit with fleet's tokens; bad tokens are 400", async () => {
      for (const n of [1, 2, 3, 4, 5]) await put(`u${n}.service`, { options: OPTS });
      const names: string[] = [];
      let path = '/fleet/v1/units';
      let pages = 0;
      for (;;) {
        const r = await call(s.base, 'GET', path);
        expect(r.status).to.equal(200);
        const j = r.json as { units: { name: string }[]; nextPageToken?: string };
        names.push(...j.units.map((u) => u.name));
        pages++;
        if (!j.nextPageToken) break;
        path = `/fleet/v1/units?nextPageToken=${encodeURIComponent(j.nextPageToken)}`;
      }
      expect(names).to.deep.equal(['u1.service', 'u2.service', 'u3.service', 'u4.service', 'u5.service']);
      expect(pages).to.equal(3);
      expect(encodePageToken({ limit: 2, page: 2 })).to.equal('AgACAA==');
      const wrongLimit = await call(
        s.base,
        'GET',
        `/fleet/v1/units?nextPageToken=${encodePageToken({ limit: 100, page: 2 })}`,
      );
      expect(wrongLimit.status).to.equal(400);
      expect(wrongLimit.json).to.deep.equal({ error: { code: 400, message: 'token limit must be 2' } });
      for (const q of [
        'nextPageToken=%25%25',
        'nextPageToken=AA==',
        `nextPageToken=${encodePageToken({ limit: 2, page: 0 })}`,
        'nextPageToken=AgACAA==&nextPageToken=AgACAA==',
      ]) {
        expect((await call(s.base, 'GET', `/fleet/v1/units?${q}`)).status, q).to.equal(400);
      }
    });

    it('?pageSize=N (fleet-ts extension): pages of N, tokens carry N; bad sizes are 400', async () => {
      for (const n of [1, 2, 3, 4, 5]) await put(`u${n}.service`, { options: OPTS });
      const all = await call(s.base, 'GET', '/fleet/v1/units?pageSize=10000');
      const j = all.json as { units: { name: string }[]; nextPageToken?: string };
      expect(j.units).to.have.length(5);
      expect(j.nextPageToken).to.equal(undefined);
      const first = (await call(s.base, 'GET', '/fleet/v1/units?pageSize=3')).json as {
        units: unknown[];
        nextPageToken: string;
      };
      expect(first.units).to.have.length(3);
      const tok = encodeURIComponent(first.nextPageToken);
      const second = await call(s.base, 'GET', `/fleet/v1/units?pageSize=3&nextPageToken=${tok}`);
      expect((second.json as { units: unknown[] }).units).to.have.length(2);
      // The token is for pages of 3: without the same pageSize it is refused, as fleet's.
      expect((await call(s.base, 'GET', `/fleet/v1/units?nextPageToken=${tok}`)).status).to.equal(400);
      for (const q of ['pageSize=0', 'pageSize=65536', 'pageSize=ten']) {
        const r = await call(s.base, 'GET', `/fleet/v1/state?${q}`);
        expect(r.status, q).to.equal(400);
        expect((r.json as { error: { message: string } }).error.message).to.contain('pageSize=');
      }
    });
  });

  describe('listings from the watch-fed cache', () => {
    it('are never older than etcd: writes by others show at once; invalid values fall back to etcd', async () => {
      await put('a.service', { options: OPTS });
      const names = async () => {
        const out: string[] = [];
        let path = '/fleet/v1/units';
        for (;;) {
          const j = (await call(s.base, 'GET', path)).json as {
            units: { name: string; desiredState: string }[];
            nextPageToken?: string;
          };
          out.push(...j.units.map((u) => `${u.name}:${u.desiredState}`));
          if (!j.nextPageToken) return out;
          path = `/fleet/v1/units?nextPageToken=${j.nextPageToken}`;
        }
      };
      expect(await names()).to.deep.equal(['a.service:inactive']);
      // another writer (fleetctl, etcdctl) changes etcd: the next listing has it, each time
      for (let i = 0; i < 5; i++) {
        await reg.submitUnit({ name: `x${i}.service`, body: '[Service]\nExecStart=/bin/true\n' });
        await reg.setDesiredState('a.service', i % 2 ? 'loaded' : 'launched');
        const got = await names();
        expect(got).to.have.length(i + 2);
        expect(got[0]).to.equal(`a.service:${i % 2 ? 'loaded' : 'launched'}`);
      }
      await reg.destroyUnit('x0.service');
      expect(await names()).to.not.include('x0.service:inactive');
      expect(s.api.served.units.cache).to.be.greaterThan(4);
      const direct = s.api.served.units.direct;
      // a hand-written invalid value: the stream skips it, so the view answers from etcd directly
      await etcd.client.put(`${etcd.prefix}units/junk.service`).value('{"body":1}');
      const t0 = Date.now();
      expect(await names()).to.have.length(5);
      expect(Date.now() - t0, 'no waiting for a cache that cannot match').to.be.lessThan(500);
      expect(s.api.served.units.direct).to.be.greaterThan(direct);
    });
  });

  describe('state and machines', () => {
    beforeEach(async () => {
      const l1 = await addMachine(etcd.client, reg, 'm1', { ip: '10.0.0.1', metadata: { region: 'eu' } });
      const l2 = await addMachine(etcd.client, reg, 'm2', { ip: '10.0.0.2' });
      const st = (unit: string, machineId: string) => ({
        unit,
        machineId,
        loadState: 'loaded',
        activeState: 'active',
        subState: 'running',
        hash: `h-${unit}`,
      });
      await reg.putUnitStates([st('a.service', 'm1'), st('b.service', 'm1')], l1);
      await reg.putUnitStates([st('a.service', 'm2')], l2);
    });

    it("GET /state lists fleet's UnitState, filtered by machineID and unitName", async () => {
      const all = await call(s.base, 'GET', '/fleet/v1/state');
      const j = all.json as { states: unknown[]; nextPageToken?: string };
      expect(j.states).to.have.length(2);
      expect(j.states[0]).to.deep.equal({
        name: 'a.service',
        hash: 'h-a.service',
        machineID: 'm1',
        systemdLoadState: 'loaded',
        systemdActiveState: 'active',
        systemdSubState: 'running',
      });
      expect(j.nextPageToken).to.be.a('string');
      const m1 = await call(s.base, 'GET', '/fleet/v1/state?machineID=m1');
      expect((m1.json as { states: { name: string }[] }).states.map((x) => x.name)).to.deep.equal([
        'a.service',
        'b.service',
      ]);
      const a = await call(s.base, 'GET', '/fleet/v1/state?unitName=a.service');
      expect((a.json as { states: { machineID: string }[] }).states.map((x) => x.machineID)).to.deep.equal([
        'm1',
        'm2',
      ]);
      const both = await call(s.base, 'GET', '/v1-alpha/state?unitName=a.service&machineID=m2');
      expect((both.json as { states: unknown[] }).states).to.have.length(1);
      const two = await call(s.base, 'GET', '/fleet/v1/state?machineID=m1&machineID=m2');
      expect(two.status).to.equal(400);
      const bad = await call(s.base, 'GET', '/fleet/v1/state?machineID=..%2F');
      expect(bad.status).to.equal(400);
      expect(bad.json).to.have.nested.property('error.message').that.contains('bad machine ID');
    });

    it('GET /state answers from its watch-fed cache, never older than etcd', async () => {
      const count = async () =>
        ((await call(s.base, 'GET', '/fleet/v1/state?unitName=c.service')).json as { states: unknown[] })
          .states.length;
      expect(await count()).to.equal(0);
      const lease = etcd.client.lease(30, { autoKeepAlive: false });
      const id = await lease.grant();
      await reg.putUnitStates(
        [
          {
            unit: 'c.service',
            machineId: 'm2',
            loadState: 'loaded',
            activeState: 'failed',
            subState: 'failed',
            hash: 'h',
          },
        ],
        id,
      );
      expect(await count()).to.equal(1); // written just before: the listing has it
      await lease.revoke();
      expect(await count()).to.equal(0);
      expect(s.api.served.states.cache).to.be.greaterThan(0);
    });

    it("GET /machines lists fleet's Machine; PATCH edits metadata as fleet does", async () => {
      const l = await call(s.base, 'GET', '/fleet/v1/machines');
      expect(l.json).to.deep.equal({
        machines: [
          { id: 'm1', primaryIP: '10.0.0.1', metadata: { region: 'eu' } },
          { id: 'm2', primaryIP: '10.0.0.2' },
        ],
        nextPageToken: encodePageToken({ limit: 2, page: 2 }),
      });
      const p = await call(s.base, 'PATCH', '/fleet/v1/machines', [
        { op: 'add', path: '/m1/metadata/disk', value: 'ssd' },
        { op: 'replace', path: '/m1/metadata/region', value: 'us' },
        { op: 'add', path: '/m2/metadata/gpu', value: 'yes' },
        { op: 'remove', path: '/m2/metadata/gpu' },
      ]);
      expect(p.status, p.text).to.equal(204);
      const ms = (await reg.listMachines()).items;
      expect(ms.map((m) => m.record.metadata)).to.deep.equal([{ region: 'us', disk: 'ssd' }, {}]);
      // the record stays on the agent's lease
      expect(ms[0]!.lease).to.not.equal('0');
    });

    it('PATCH refuses bad ops, paths, values and unknown machines before writing anything', async () => {
      const cases: [unknown, number, string][] = [
        [[{ op: 'move', path: '/m1/metadata/a', value: 'b' }], 400, 'invalid op'],
        [[{ op: 'add', path: '/m1/meta/a', value: 'b' }], 400, 'machine metadata path invalid'],
        [[{ op: 'add', path: '/m1/metadata/a' }], 400, 'require a string value'],
        [[{ op: 'add', path: '/m1/metadata/a', value: 'has space' }], 400, 'metadata value'],
        [{ op: 'add' }, 400, 'expected a JSON array'],
        [
          [
            { op: 'add', path: '/m1/metadata/a', value: 'b' },
            { op: 'add', path: '/nope/metadata/a', value: 'b' },
          ],
          404,
          'nope not in the cluster; nothing was changed',
        ],
      ];
      for (const [body, status, msg] of cases) {
        const r = await call(s.base, 'PATCH', '/fleet/v1/machines', body);
        expect(r.status, JSON.stringify(body)).to.equal(status);
        expect(r.json).to.have.nested.property('error.message').that.contains(msg);
      }
      expect((await reg.listMachines()).items[0]!.record.metadata).to.deep.equal({ region: 'eu' });
      expect(
        (await call(s.base, 'PATCH', '/fleet/v1/machines', '[', { 'Content-Type': 'application/json' }))
          .status,
      ).to.equal(400);
    });

    it('draining: PUT /machines/{id}/draining, GET it, and via PATCH', async () => {
      const r = await call(s.base, 'PUT', '/fleet/v1/machines/m2/draining', { draining: true });
      expect(r.status).to.equal(204);
      expect((await call(s.base, 'GET', '/fleet/v1/machines/m2/draining')).json).to.deep.equal({
        machineID: 'm2',
        draining: true,
      });
      expect(
        (
          await call(
            s.base,
            'GET',
            '/fleet/v1/machines?nextPageToken=' + encodePageToken({ limit: 2, page: 1 }),
          )
        ).json,
      ).to.have.nested.property('machines[1].draining', true);
      await call(s.base, 'PATCH', '/fleet/v1/machines', [
        { op: 'replace', path: '/m2/draining', value: 'false' },
      ]);
      expect((await reg.listMachines()).items[1]!.record.draining).to.equal(false);
      expect(
        (await call(s.base, 'PUT', '/fleet/v1/machines/m2/draining', { draining: 'yes' })).status,
      ).to.equal(400);
      expect(
        (await call(s.base, 'PUT', '/fleet/v1/machines/m9/draining', { draining: true })).status,
      ).to.equal(404);
    });
  });

  describe('why, discovery, metrics, routing', () => {
    it("GET /units/{name}/why: inactive, not placed (with the engine's reasons), placed", async () => {
      await put('a.service', { options: OPTS });
      let w = await call(s.base, 'GET', '/fleet/v1/units/a.service/why');
      expect(w.json).to.deep.include({ placed: false, desiredState: 'inactive', machineIDs: [] });
      expect((w.json as { reasons: string[] }).reasons[0]).to.contain('inactive');
      await put('a.service', { desiredState: 'launched' });
      w = await call(s.base, 'GET', '/fleet/v1/units/a.service/why');
      expect((w.json as { reasons: string[] }).reasons[0]).to.contain(
        'not placed: the engine has recorded no reason',
      );
      s.api.setExplainer((u) => [`${u}: machine m1: MachineMetadata region=us not met`]);
      w = await call(s.base, 'GET', '/fleet/v1/units/a.service/why');
      expect((w.json as { reasons: string[] }).reasons).to.deep.equal([
        'a.service: machine m1: MachineMetadata region=us not met',
      ]);
      // the engine leader's reasons in the registry come first
      await recordReasons(reg, 'a.service', [
        'no machine has region=us',
        '1 machine excluded by Conflicts=db*',
      ]);
      w = await call(s.base, 'GET', '/fleet/v1/units/a.service/why');
      expect(w.json).to.deep.include({
        placed: false,
        reasons: ['no machine has region=us', '1 machine excluded by Conflicts=db*'],
        since: '2026-11-25T14:00:00.000Z',
      });
      await addMachine(etcd.client, reg, 'm1');
      await place(reg, [{ unit: 'a.service', machineId: 'm1', desiredState: 'launched' }]);
      w = await call(s.base, 'GET', '/fleet/v1/units/a.service/why');
      expect(w.json).to.deep.include({
        placed: true,
        machineIDs: ['m1'],
        reasons: ['scheduled on machine m1'],
      });
      expect((await call(s.base, 'GET', '/fleet/v1/units/zz.service/why')).status).to.equal(404);
    });

    it('discovery under both prefixes; wrong methods 405 with Allow; unknown paths 404', async () => {
      for (const p of ['/fleet/v1/discovery', '/v1-alpha/discovery']) {
        const d = await call(s.base, 'GET', p);
        expect(d.status).to.equal(200);
        expect(d.json).to.have.property('kind', 'discovery#restDescription');
        expect(d.json).to.have.nested.property('resources.Units.methods.Set.httpMethod', 'PUT');
        expect(d.json).to.have.nested.property('schemas.UnitState.properties.systemdSubState');
      }
      const m = await call(s.base, 'POST', '/fleet/v1/units');
      expect(m.status).to.equal(405);
      expect(m.headers.get('allow')).to.equal('GET');
      expect(m.json).to.deep.equal({
        error: { code: 405, message: 'only GET supported against this resource' },
      });
      expect((await call(s.base, 'POST', '/fleet/v1/units/a.service')).headers.get('allow')).to.equal(
        'GET, PUT, DELETE',
      );
      expect((await call(s.base, 'DELETE', '/fleet/v1/machines')).status).to.equal(405);
      expect((await call(s.base, 'GET', '/fleet/v1')).status).to.equal(405);
      expect((await call(s.base, 'GET', '/')).status).to.equal(405);
      expect((await call(s.base, 'GET', '/fleet/v2/units')).status).to.equal(404);
      expect((await call(s.base, 'GET', '/fleet/v1/nothing')).status).to.equal(404);
      expect((await call(s.base, 'GET', '/fleet/v1/units/a/b/c')).status).to.equal(404);
      expect((await call(s.base, 'GET', '/fleet/v1/units/%E0%A4%A')).status).to.equal(400);
      expect((await call(s.base, 'GET', '/fleet/v1/units')).headers.get('server')).to.match(/^fleetd\//);
    });

    it('/metrics: units by desired and current state, machines, requests', async () => {
      await put('a.service', { options: OPTS, desiredState: 'launched' });
      await put('b.service', { options: OPTS });
      await addMachine(etcd.client, reg, 'm1', { draining: true });
      await place(reg, [{ unit: 'a.service', machineId: 'm1', desiredState: 'launched' }]);
      const m = await call(s.base, 'GET', '/metrics');
      expect(m.status).to.equal(200);
      expect(m.headers.get('content-type')).to.contain('text/plain; version=0.0.4');
      expect(m.text).to.contain('fleet_units{desired_state="launched"} 1\n');
      expect(m.text).to.contain('fleet_units{desired_state="inactive"} 1\n');
      expect(m.text).to.contain('fleet_units_current{current_state="launched"} 1\n');
      expect(m.text).to.contain('fleet_machines 1\n');
      expect(m.text).to.contain('fleet_machines_draining 1\n');
      expect(m.text).to.match(/fleet_api_requests_total\{method="PUT",code="201"\} 2/);
      expect(m.text).to.contain('fleet_etcd_errors_total 0');
    });
  });

  describe("the exact requests of fleet's Go client (client/http.go via schema/v1-gen.go)", () => {
    it('create, start, list pages, get, state, machines, destroy', async () => {
      const h = { 'Content-Type': 'application/json', 'User-Agent': 'google-api-go-client/0.5' };
      const go = (method: string, path: string, body?: unknown) => call(s.base, method, path, body, h);
      // CreateUnit: PUT units/{name} with name, desiredState inactive, options
      let r = await go('PUT', '/fleet/v1/units/web%40.service?alt=json', {
        name: 'web@.service',
        desiredState: 'inactive',
        options: OPTS,
      });
      expect(r.status).to.equal(201);
      r = await go('PUT', '/fleet/v1/units/web%401.service?alt=json', {
        name: 'web@1.service',
        desiredState: 'inactive',
        options: OPTS,
      });
      expect(r.status).to.equal(201);
      r = await go('PUT', '/fleet/v1/units/db.service?alt=json', {
        name: 'db.service',
        desiredState: 'inactive',
        options: OPTS,
      });
      expect(r.status).to.equal(201);
      // SetUnitTargetState: name + desiredState only
      r = await go('PUT', '/fleet/v1/units/web%401.service?alt=json', {
        name: 'web@1.service',
        desiredState: 'launched',
      });
      expect(r.status).to.equal(204);
      // Units(): List, following nextPageToken
      const seen: string[] = [];
      let path = '/fleet/v1/units?alt=json';
      for (;;) {
        r = await go('GET', path);
        expect(r.status).to.equal(200);
        const page = r.json as { units: { name: string; desiredState: string }[]; nextPageToken?: string };
        seen.push(...page.units.map((u) => `${u.name}:${u.desiredState}`));
        if (!page.nextPageToken) break;
        path = `/fleet/v1/units?alt=json&nextPageToken=${encodeURIComponent(page.nextPageToken)}`;
      }
      expect(seen).to.deep.equal(['db.service:inactive', 'web@.service:inactive', 'web@1.service:launched']);
      // Unit(name): Get, 404 is "no such unit" for the client
      expect((await go('GET', '/fleet/v1/units/web%401.service?alt=json')).json).to.include({
        name: 'web@1.service',
      });
      expect((await go('GET', '/fleet/v1/units/none.service?alt=json')).status).to.equal(404);
      // UnitStates(): state list; Machines(): machines list
      expect((await go('GET', '/fleet/v1/state?alt=json')).json).to.deep.equal({ states: [] });
      expect((await go('GET', '/fleet/v1/machines?alt=json')).json).to.deep.equal({ machines: [] });
      // DestroyUnit
      expect((await go('DELETE', '/fleet/v1/units/db.service?alt=json')).status).to.equal(204);
      expect((await reg.listUnits()).items.map((u) => u.id)).to.deep.equal(['web@.service', 'web@1.service']);
    });
  });

  describe('etcd unavailable', () => {
    it("answers 503 with a message naming the endpoint, never etcd's raw error", async () => {
      const dead = createEtcdClient(
        { etcdServers: ['http://127.0.0.1:9'], etcdRequestTimeoutMs: 300 },
        {
          policy: { initialRetryDelayMs: 10, maxRetryDelayMs: 20 },
        },
      );
      const down = await serveApi({
        registry: new Registry(dead, {
          prefix: etcd.prefix,
          errorContext: { endpoints: ['http://127.0.0.1:9'] },
        }),
      });
      try {
        const r = await call(down.base, 'GET', '/fleet/v1/units');
        expect(r.status).to.equal(503);
        const msg = (r.json as { error: { message: string } }).error.message;
        expect(msg).to.contain('the cluster store is unavailable');
        expect(msg).to.contain('127.0.0.1:9');
        expect(msg).to.not.match(/\n\s+at /);
        const p = await call(down.base, 'PUT', '/fleet/v1/units/a.service', { options: OPTS });
        expect(p.status).to.equal(503);
        const m = await call(down.base, 'GET', '/metrics');
        expect(m.text).to.match(/fleet_etcd_errors_total [3-9]/);
      } finally {
        await down.close();
        dead.close();
      }
    });
  });
});
