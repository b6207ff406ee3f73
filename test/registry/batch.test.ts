import { expect } from 'chai';
import { rangePrefix, type AssignmentRecord, type ScheduleChange } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { body, caught, registry, until } from './helpers.js';

describe('lib/registry batches of 10,000 writes against a real etcd', function () {
  this.timeout(40000);
  const etcd = useEtcd();
  const N = 10_000;

  it('etcd really refuses a transaction over 128 operations (the limit the chunks respect)', async () => {
    const ops = Array.from({ length: 129 }, (_, i) => ({
      request_put: { key: Buffer.from(`${etcd.prefix}x/${i}`), value: Buffer.from('1') },
    }));
    const err = await caught(etcd.client.kv.txn({ compare: [], success: ops, failure: [] }));
    expect(String(err)).to.contain('too many operations');
  });

  it('submits 10,000 units in 127-unit transactions, create-only per unit (nested only for a chunk where one exists), and a watcher sees each once', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const watcher = reg.watchUnits();
    const seen = new Map<string, number>();
    watcher.on('put', (e) => seen.set(e.item.id, (seen.get(e.item.id) ?? 0) + 1));
    await watcher.start();
    try {
      await reg.submitUnit({ name: 'u00042.service', body: body('pre') });
      const inputs = Array.from({ length: N }, (_, i) => ({
        name: `u${String(i).padStart(5, '0')}.service`,
        body: body(i),
        desiredState: 'launched' as const,
      }));
      const kv = etcd.client.kv;
      const txn = kv.txn.bind(kv);
      let sent = 0;
      kv.txn = (req) => {
        sent++;
        return txn(req);
      };
      let r;
      try {
        r = await reg.submitUnits(inputs);
      } finally {
        kv.txn = txn;
      }
      expect(r.transactions).to.equal(Math.ceil(N / 127));
      // One transaction per chunk (all absent), and one more, nested, for the chunk with u00042.
      expect(sent).to.equal(Math.ceil(N / 127) + 1);
      expect(r.created).to.have.length(N - 1);
      expect(r.existing).to.deep.equal(['u00042.service']);
      const listed = await reg.listUnits();
      expect(listed.items).to.have.length(N);
      expect(listed.items.find((i) => i.id === 'u00042.service')?.record.body).to.equal(body('pre'));
      await until(() => seen.size === N, `${N} watch events`, 20000);
      expect([...seen.values()].every((n) => n === 1)).to.equal(true);
    } finally {
      await watcher.stop();
    }
  });

  it('writes 10,000 fenced assignments (100 units x 100 machines) in chunks; each carries the fence and one guard per unit', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const c = reg.engineElection(10).campaign('e');
    await new Promise<void>((ok, ko) => c.on('elected', ok).on('error', ko));
    const fence = await reg.fenceFor(await c.getCampaignKey());
    await reg.submitUnits(Array.from({ length: 100 }, (_, u) => ({ name: `g${u}.service`, body: body(1) })));
    const units = (await reg.listUnits()).items;
    const changes: ScheduleChange[] = Array.from({ length: N }, (_, i) => {
      const u = units[Math.floor(i / 100)]!;
      const rec: AssignmentRecord = {
        unit: u.id,
        machineId: `m${i % 100}`,
        body: u.record.body,
        hash: u.record.hash,
        desiredState: 'launched',
      };
      return { type: 'put', record: rec };
    });
    const kv = etcd.client.kv;
    const txn = kv.txn.bind(kv);
    const compares: number[] = [];
    kv.txn = (req) => {
      compares.push(req.compare?.length ?? 0);
      return txn(req);
    };
    let r;
    try {
      r = await reg.applySchedule(fence, changes);
    } finally {
      kv.txn = txn;
    }
    expect(r.transactions).to.equal(Math.ceil(N / 127));
    // The fence, and one guard per unit in the transaction (not one per put): 127 puts span 2 or 3 units.
    expect(compares).to.have.length(r.transactions);
    expect(Math.max(...compares)).to.be.at.most(4);
    expect((await reg.listSchedule()).items).to.have.length(N);
    expect((await reg.listSchedule('m7')).items).to.have.length(100);
    await c.resign();
    const err = await caught(reg.applySchedule(fence, changes.slice(0, 300)));
    expect((err as Error).name).to.equal('StaleFenceError');
  });

  it("keeps transactions under etcd's request size and lists past gRPC's 4 MiB message limit", async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    // 80 units of ~60 KB: 4.8 MB in all; one transaction of them would exceed etcd's 1.5 MiB.
    const big = (i: number) =>
      `[Service]\nExecStart=/bin/true\nEnvironment=PAD=${String(i).repeat(60_000 / String(i).length)}\n`;
    const inputs = Array.from({ length: 80 }, (_, i) => ({ name: `big${i}.service`, body: big(i + 1) }));
    const r = await reg.submitUnits(inputs);
    expect(r.created).to.have.length(80);
    expect(r.transactions).to.be.at.least(5);
    const listed = await reg.listUnits();
    expect(listed.items).to.have.length(80);
    expect(listed.items.map((i) => i.record.body).sort()).to.deep.equal(inputs.map((i) => i.body).sort());
    // More than grpc-js's default 4 MiB message in all: the client's receive limit and paging carry it.
    const bytes = listed.items.reduce((n, i) => n + i.record.body.length, 0);
    expect(bytes).to.be.above(4 * 1024 * 1024);
    const stream = reg.watchUnits();
    let puts = 0;
    stream.on('put', () => puts++);
    await stream.start();
    await stream.stop();
    expect(puts).to.equal(80);
  });

  it('lists 10,000 keys in pages that grow from the first (few round trips), in key order, at one revision', async () => {
    const p = `${etcd.prefix}paged/`;
    const keys = Array.from({ length: N }, (_, i) => `${p}k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < N; i += 128) {
      await etcd.client.kv.txn({
        compare: [],
        success: keys
          .slice(i, i + 128)
          .map((k) => ({ request_put: { key: Buffer.from(k), value: Buffer.from('v') } })),
        failure: [],
      });
    }
    const kv = etcd.client.kv;
    const range = kv.range.bind(kv);
    let calls = 0;
    kv.range = async (req) => {
      calls++;
      // A write between pages must not show: every page reads at the first page's revision.
      if (calls === 2) await etcd.client.put(`${p}k00000x`).value('late');
      return range(req);
    };
    try {
      const r = await rangePrefix(etcd.client, p, { pageSize: 16 });
      expect(r.kvs.map((k) => k.key.toString())).to.deep.equal(keys);
      expect(calls).to.be.at.most(3);
    } finally {
      kv.range = range;
    }
  });

  it('publishes 10,000 unit states on one lease in chunks', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const lease = etcd.client.lease(30, { autoKeepAlive: false });
    const id = await lease.grant();
    const states = Array.from({ length: N }, (_, i) => ({
      unit: `u${i}.service`,
      machineId: 'm1',
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      hash: 'h',
    }));
    const r = await reg.putUnitStates(states, id);
    expect(r.transactions).to.equal(Math.ceil(N / 128));
    expect((await reg.listUnitStates('m1')).items).to.have.length(N);
    await lease.revoke();
    expect((await reg.listUnitStates('m1')).items).to.have.length(0);
  });
});
