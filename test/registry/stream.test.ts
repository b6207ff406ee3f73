import { expect } from 'chai';
import type { IKeyValue } from 'etcd3';
import type { UnitRecord } from '../../lib/registry/index.js';
import type { StreamEvent, SyncedInfo } from '../../lib/registry/stream.js';
import { useEtcd } from '../fixtures/etcd.js';
import { BODY, body, gate, record, registry, until } from './helpers.js';

/** "put a.service" / "delete b.service", in order. */
function lines(events: StreamEvent<UnitRecord>[]): string[] {
  return events.map((e) => (e.type === 'put' ? `put ${e.item.id}` : `delete ${e.prev.id}`));
}

describe('lib/registry list-then-watch streams against a real etcd', function () {
  this.timeout(30000);
  const etcd = useEtcd();

  it('lists, then emits each later change exactly once, in order', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    await reg.submitUnit({ name: 'a.service', body: body('a') });
    await reg.submitUnit({ name: 'b.service', body: body('b') });
    const stream = reg.watchUnits();
    const events = record(stream);
    const synced: SyncedInfo[] = [];
    stream.on('synced', (s) => synced.push(s));
    await stream.start();
    try {
      expect(lines(events)).to.deep.equal(['put a.service', 'put b.service']);
      expect(synced.map((s) => s.reason)).to.deep.equal(['initial']);
      await reg.submitUnit({ name: 'c.service', body: body('c') });
      await reg.setDesiredState('a.service', 'launched');
      await reg.destroyUnit('b.service');
      await until(() => events.length === 5, 'three more events');
      expect(lines(events).slice(2)).to.deep.equal(['put c.service', 'put a.service', 'delete b.service']);
      const upd = events[3]!;
      expect(upd.type === 'put' && upd.prev?.record.desiredState).to.equal('inactive');
      expect(upd.type === 'put' && upd.item.record.desiredState).to.equal('launched');
      expect(stream.snapshot().map((s) => s.id)).to.deep.equal(['a.service', 'c.service']);
      // A resync against an unchanged store emits nothing.
      await stream.resync();
      expect(events).to.have.length(5);
      expect(synced.map((s) => s.reason)).to.deep.equal(['initial', 'resync']);
    } finally {
      await stream.stop();
    }
  });

  it('watches one machine only', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const u = await reg.submitUnit({ name: 'w.service', body: BODY, desiredState: 'launched' });
    const c = reg.engineElection(10).campaign('e');
    await new Promise<void>((ok, ko) => c.on('elected', ok).on('error', ko));
    const fence = await reg.fenceFor(await c.getCampaignKey());
    const rec = (m: string) => ({
      type: 'put' as const,
      record: {
        unit: 'w.service',
        machineId: m,
        body: BODY,
        hash: u.record.hash,
        desiredState: 'launched' as const,
      },
    });
    const stream = reg.watchSchedule('m1');
    const seen: string[] = [];
    stream.on('put', (e) => seen.push(e.item.id));
    await stream.start();
    try {
      await reg.applySchedule(fence, [rec('m10'), rec('m2'), rec('m1')]);
      await until(() => seen.length >= 1, 'the m1 assignment');
      await reg.applySchedule(fence, [rec('m3')]);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).to.deep.equal(['m1/w.service']);
    } finally {
      await stream.stop();
      await c.resign();
    }
  });

  it('stops on abort: no event after stop', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const ac = new AbortController();
    const stream = reg.watchUnits({ signal: ac.signal });
    const events = record(stream);
    await stream.start();
    ac.abort();
    await stream.stop();
    await reg.submitUnit({ name: 'late.service', body: BODY });
    await new Promise((r) => setTimeout(r, 150));
    expect(events).to.have.length(0);
  });

  it('delivers changes made across an etcd kill -9 + restart exactly once', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    await reg.submitUnit({ name: 'u0.service', body: body(0) });
    const g = gate();
    const stream = reg.watchUnits({ backoff: g.backoff });
    const events = record(stream);
    let disconnected = 0;
    let reconnected = 0;
    stream.on('disconnected', () => disconnected++);
    stream.on('reconnected', () => reconnected++);
    await stream.start();
    try {
      await reg.submitUnit({ name: 'u1.service', body: body(1) });
      await until(() => events.length === 2, 'u1');
      await etcd.kill9AndRestart(() => until(() => disconnected === 1, 'the stream to notice etcd is gone'));
      // etcd is back; the stream is still waiting in its backoff. Change things meanwhile.
      const writer = registry(etcd.newClient(), etcd.prefix).reg;
      await writer.submitUnit({ name: 'u2.service', body: body(2) });
      await writer.setDesiredState('u1.service', 'launched');
      await writer.destroyUnit('u0.service');
      await writer.submitUnit({ name: 'u3.service', body: body(3) });
      g.open();
      await until(() => events.length === 6, 'the four changes');
      await writer.submitUnit({ name: 'u4.service', body: body(4) });
      await until(() => events.length === 7, 'a change after reconnecting');
      await new Promise((r) => setTimeout(r, 200));
      expect(lines(events)).to.deep.equal([
        'put u0.service',
        'put u1.service',
        'put u2.service',
        'put u1.service',
        'delete u0.service',
        'put u3.service',
        'put u4.service',
      ]);
      expect(reconnected).to.equal(1);
      expect(stream.snapshot().map((s) => s.id)).to.deep.equal([
        'u1.service',
        'u2.service',
        'u3.service',
        'u4.service',
      ]);
    } finally {
      await stream.stop();
    }
  });

  it('resumes by itself (default backoff) after a graceful etcd restart, no gap, no duplicate', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const stream = reg.watchUnits();
    // A second stream on the same client shares etcd3's watch connection.
    const twin = reg.watchUnits();
    const events = record(stream);
    const twinEvents = record(twin);
    let reconnected = 0;
    stream.on('reconnected', () => reconnected++);
    await stream.start();
    await twin.start();
    try {
      await reg.submitUnit({ name: 'before.service', body: body(1) });
      await until(() => events.length === 1 && twinEvents.length === 1, 'before');
      await etcd.restartEtcd();
      const writer = registry(etcd.newClient(), etcd.prefix).reg;
      for (let i = 0; i < 5; i++) await writer.submitUnit({ name: `after${i}.service`, body: body(i) });
      await until(
        () => events.length === 6 && twinEvents.length === 6,
        'five changes after the restart',
        15000,
      );
      await new Promise((r) => setTimeout(r, 200));
      const expected = ['put before.service', ...[0, 1, 2, 3, 4].map((i) => `put after${i}.service`)];
      expect(lines(events)).to.deep.equal(expected);
      expect(lines(twinEvents)).to.deep.equal(expected);
      expect(reconnected).to.equal(1);
    } finally {
      await stream.stop();
      await twin.stop();
    }
  });

  it('catches up on more than 4 MiB of changes after a disconnect (watch responses fragmented)', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const g = gate();
    const stream = reg.watchUnits({ backoff: g.backoff });
    let puts = 0;
    let disconnected = 0;
    stream.on('put', () => puts++);
    stream.on('disconnected', () => disconnected++);
    await stream.start();
    try {
      await etcd.kill9AndRestart(() => until(() => disconnected === 1, 'the stream to notice etcd is gone'));
      const pad = (i: number) => String(i).repeat(60_000 / String(i).length);
      const writer = registry(etcd.newClient(), etcd.prefix).reg;
      const r = await writer.submitUnits(
        Array.from({ length: 100 }, (_, i) => ({
          name: `big${i}.service`,
          body: `[Service]\nExecStart=/bin/true\nEnvironment=PAD=${pad(i + 1)}\n`,
        })),
      );
      expect(r.created).to.have.length(100);
      g.open();
      await until(() => puts === 100, '100 big units', 15000);
      await new Promise((res) => setTimeout(res, 200));
      expect(puts).to.equal(100);
      expect(disconnected).to.equal(1);
    } finally {
      await stream.stop();
    }
  });

  it('re-lists after a compaction past its revision and emits only the difference', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    for (const n of ['a', 'b', 'c']) await reg.submitUnit({ name: `${n}.service`, body: body(n) });
    const g = gate();
    const stream = reg.watchUnits({ backoff: g.backoff });
    const events = record(stream);
    const synced: SyncedInfo[] = [];
    stream.on('synced', (s) => synced.push(s));
    let disconnected = 0;
    stream.on('disconnected', () => disconnected++);
    await stream.start();
    try {
      expect(events).to.have.length(3);
      await etcd.kill9AndRestart(() => until(() => disconnected === 1, 'the stream to notice etcd is gone'));
      const client = etcd.newClient();
      const writer = registry(client, etcd.prefix).reg;
      await writer.destroyUnit('a.service');
      await writer.setDesiredState('b.service', 'launched');
      await writer.submitUnit({ name: 'd.service', body: body('d') });
      await writer.submitUnit({ name: 'tmp.service', body: body('t') });
      await writer.destroyUnit('tmp.service'); // created and gone: the re-list never sees it
      const rev = (await writer.listUnits()).revision;
      await client.kv.compact({ revision: rev, physical: true });
      g.open();
      await until(() => synced.length === 2, 'the re-list');
      expect(synced[1]).to.deep.equal({ revision: rev, reason: 'compacted' });
      expect(lines(events).slice(3).sort()).to.deep.equal([
        'delete a.service',
        'put b.service',
        'put d.service',
      ]);
      // Watching again from the re-list's revision: the next change arrives, once.
      await writer.submitUnit({ name: 'e.service', body: body('e') });
      await until(() => events.length === 7, 'e');
      await new Promise((r) => setTimeout(r, 200));
      expect(lines(events).slice(6)).to.deep.equal(['put e.service']);
    } finally {
      await stream.stop();
    }
  });

  it('skips hand-written garbage, reporting each bad value once with its key', async () => {
    const { reg, invalid } = registry(etcd.client, etcd.prefix);
    const p = etcd.prefix;
    await etcd.client
      .put(`${p}units/good.service`)
      .value(JSON.stringify({ body: BODY, desiredState: 'launched' }));
    await etcd.client.put(`${p}units/notjson.service`).value('hello {');
    await etcd.client
      .put(`${p}units/state.service`)
      .value(JSON.stringify({ body: BODY, desiredState: 'running' }));
    await etcd.client
      .put(`${p}units/nobody.service`)
      .value(JSON.stringify({ body: 'just text', desiredState: 'loaded' }));
    await etcd.client
      .put(`${p}units/hash.service`)
      .value(JSON.stringify({ body: BODY, hash: 'f00', desiredState: 'loaded' }));
    await etcd.client.put(`${p}units/deep/er.service`).value('{}');
    await etcd.client
      .put(`${p}units/other.service`)
      .value(JSON.stringify({ name: 'x.service', body: BODY, desiredState: 'loaded' }));

    const listed = await reg.listUnits();
    expect(listed.items.map((i) => i.id)).to.deep.equal(['good.service']);
    const byKey = new Map(invalid.map((r) => [r.key.slice(p.length), r]));
    expect([...byKey.keys()].sort()).to.deep.equal([
      'units/deep/er.service',
      'units/hash.service',
      'units/nobody.service',
      'units/notjson.service',
      'units/other.service',
      'units/state.service',
    ]);
    expect(byKey.get('units/notjson.service')!.reason).to.contain('not JSON');
    expect(byKey.get('units/state.service')!.reason).to.contain('"desiredState" must be one of');
    expect(byKey.get('units/hash.service')!.reason).to.contain('omit "hash"');
    expect(byKey.get('units/other.service')!.reason).to.contain('"name" must be "other.service"');
    expect(byKey.get('units/notjson.service')!.message).to.contain(`${p}units/notjson.service`);
    expect(invalid).to.have.length(6);

    // Read again, and through a stream: nothing is reported twice.
    await reg.listUnits();
    const stream = reg.watchUnits();
    const events = record(stream);
    await stream.start();
    try {
      expect(lines(events)).to.deep.equal(['put good.service']);
      expect(invalid).to.have.length(6);
      // A good unit overwritten with garbage: reported once, the last good record stays.
      await etcd.client.put(`${p}units/good.service`).value('[1,2,3]');
      await until(() => invalid.length === 7, 'the report');
      expect(invalid[6]!.key).to.equal(`${p}units/good.service`);
      expect(stream.get(`${p}units/good.service`)?.record.desiredState).to.equal('launched');
      // Fixed by hand: a put event with the new value.
      await etcd.client
        .put(`${p}units/good.service`)
        .value(JSON.stringify({ body: BODY, desiredState: 'loaded' }));
      await until(() => events.length === 2, 'the fixed value');
      expect((events[1] as { item: { record: UnitRecord } }).item.record.desiredState).to.equal('loaded');
      // Garbage in the schedule and machines: skipped the same way.
      await etcd.client.put(`${p}schedule/m1/z.service`).value('null');
      await etcd.client.put(`${p}machines/m1`).value(JSON.stringify({ id: 'm1', metadata: { a: 1 } }));
      expect((await reg.listSchedule('m1')).items).to.have.length(0);
      expect((await reg.listMachines()).items).to.have.length(0);
      expect(invalid.slice(7).map((r) => r.key.slice(p.length))).to.deep.equal([
        'schedule/m1/z.service',
        'machines/m1',
      ]);
      expect(invalid[8]!.reason).to.contain('"metadata.a" must be a string');
      expect(invalid).to.have.length(9);
    } finally {
      await stream.stop();
    }
  });

  it('reads back a raw kv untouched by the registry exactly like its own writes', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const mine = await reg.submitUnit({
      name: 'mine.service',
      body: BODY,
      desiredState: 'launched',
      source: 'x',
    });
    const raw: IKeyValue | undefined = (await etcd.client.kv.range({ key: Buffer.from(mine.key) })).kvs[0];
    await etcd.client
      .put(`${etcd.prefix}units/copy.service`)
      .value(raw!.value.toString().replace('mine.service', 'copy.service'));
    const copy = (await reg.getUnit('copy.service'))!;
    expect({ ...copy.record, name: 'mine.service' }).to.deep.equal(mine.record);
  });
});
