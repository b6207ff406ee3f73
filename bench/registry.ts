/**
 * Registry throughput next to the raw etcd3 client, measured in the same run against the same
 * etcd (started here via lab/etcd-server and stopped by PID at the end).
 *
 *   npm run build && node dist/bench/registry.js [--runs=5] [--scale=1]
 *
 * Prints one table of medians. Not part of `npm test`.
 */
import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { EtcdServer } from '../lab/etcd-server.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { Registry, type AssignmentRecord, type UnitStateRecord } from '../lib/registry/index.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
const RUNS = Number(args.get('runs') || 5);
const SCALE = Number(args.get('scale') || 1);
const SINGLE = Math.round(2000 * SCALE);
const BATCH = Math.round(20000 * SCALE);
const CONCURRENCY = 32;

const BODY = '[Unit]\nDescription=bench\n\n[Service]\nExecStart=/bin/sleep 1000\n';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs fn(i) for i in [0, n) with `width` in flight; returns ops/s. */
async function concurrent(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

function state(i: number): UnitStateRecord {
  return {
    unit: `u${i}.service`,
    machineId: 'm1',
    loadState: 'loaded',
    activeState: 'active',
    subState: 'running',
    hash: 'h',
  };
}

async function rawTxnPuts(client: Etcd3, keys: string[], value: (i: number) => string): Promise<void> {
  for (let i = 0; i < keys.length; i += 128) {
    const success = keys.slice(i, i + 128).map((k, j) => ({
      request_put: { key: Buffer.from(k), value: Buffer.from(value(i + j)) },
    }));
    await client.kv.txn({ compare: [], success, failure: [] });
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('bench: timed out waiting for watch events');
    await new Promise((r) => setImmediate(r));
  }
}

interface Row {
  what: string;
  registry: string;
  registryOps: number[];
  raw: string;
  rawOps: number[];
}

async function main(): Promise<void> {
  const etcd = await EtcdServer.start();
  const client = createEtcdClient({ etcdServers: [etcd.endpoint], etcdRequestTimeoutMs: 10000 });
  const rows: Row[] = [
    {
      what: 'single writes/s',
      registry: 'submitUnit (create-only txn)',
      registryOps: [],
      raw: 'put()',
      rawOps: [],
    },
    {
      what: 'batched writes/s',
      registry: 'putUnitStates (128-op txns, validated, on a lease)',
      registryOps: [],
      raw: '128-op txn of puts',
      rawOps: [],
    },
    {
      what: 'batched writes/s (fenced)',
      registry: 'applySchedule (fence + 127 guarded puts per txn)',
      registryOps: [],
      raw: '128-op txn of puts',
      rawOps: [],
    },
    {
      what: 'watch events/s delivered',
      registry: 'watchUnitStates (decoded, validated, cached)',
      registryOps: [],
      raw: 'watch().prefix() put events',
      rawOps: [],
    },
  ];
  try {
    for (let run = 0; run < RUNS; run++) {
      const prefix = `/bench-${run}/`;
      const reg = new Registry(client, { prefix });
      await reg.checkSchema();

      // Single writes.
      rows[0]!.rawOps.push(
        await concurrent(SINGLE, CONCURRENCY, (i) => client.put(`${prefix}raw/${i}`).value(BODY).exec()),
      );
      rows[0]!.registryOps.push(
        await concurrent(SINGLE, CONCURRENCY, (i) => reg.submitUnit({ name: `s${i}.service`, body: BODY })),
      );

      // Batched writes.
      const rawKeys = Array.from({ length: BATCH }, (_, i) => `${prefix}rawbatch/${i}`);
      let t0 = performance.now();
      await rawTxnPuts(client, rawKeys, () => BODY);
      const rawBatch = BATCH / ((performance.now() - t0) / 1000);
      rows[1]!.rawOps.push(rawBatch);
      rows[2]!.rawOps.push(rawBatch);
      const lease = client.lease(60, { autoKeepAlive: false });
      const leaseId = await lease.grant();
      const states = Array.from({ length: BATCH }, (_, i) => state(i));
      t0 = performance.now();
      await reg.putUnitStates(states, leaseId);
      rows[1]!.registryOps.push(BATCH / ((performance.now() - t0) / 1000));

      const campaign = reg.engineElection(30).campaign('bench');
      await new Promise<void>((ok, ko) => campaign.on('elected', ok).on('error', ko));
      const fence = await reg.fenceFor(await campaign.getCampaignKey());
      // A global unit on BATCH machines: one assignment each, each guarded by the unit's revision.
      const unit = (await reg.getUnit('s0.service'))!;
      const changes = Array.from({ length: BATCH }, (_, i) => {
        const record: AssignmentRecord = {
          unit: unit.id,
          machineId: `m${i}`,
          body: BODY,
          hash: unit.record.hash,
          desiredState: 'launched',
        };
        return { type: 'put' as const, record };
      });
      t0 = performance.now();
      await reg.applySchedule(fence, changes);
      rows[2]!.registryOps.push(BATCH / ((performance.now() - t0) / 1000));
      await campaign.resign();

      // Watch delivery: the same 128-op writes, counted at a raw watcher and at a registry stream.
      const stateValue = (i: number) => JSON.stringify(state(i));
      const rawWatcher = await client.watch().prefix(`${prefix}states/m2/`).create();
      let rawSeen = 0;
      rawWatcher.on('put', () => rawSeen++);
      const wKeys = Array.from({ length: BATCH }, (_, i) => `${prefix}states/m2/u${i}.service`);
      t0 = performance.now();
      await rawTxnPuts(client, wKeys, (i) => stateValue(i).replace('"m1"', '"m2"'));
      await waitFor(() => rawSeen >= BATCH);
      rows[3]!.rawOps.push(BATCH / ((performance.now() - t0) / 1000));
      await rawWatcher.cancel();

      const stream = reg.watchUnitStates('m3');
      let regSeen = 0;
      stream.on('put', () => regSeen++);
      await stream.start();
      const rKeys = Array.from({ length: BATCH }, (_, i) => `${prefix}states/m3/u${i}.service`);
      t0 = performance.now();
      await rawTxnPuts(client, rKeys, (i) => stateValue(i).replace('"m1"', '"m3"'));
      await waitFor(() => regSeen >= BATCH);
      rows[3]!.registryOps.push(BATCH / ((performance.now() - t0) / 1000));
      await stream.stop();

      await lease.revoke();
      await client.delete().prefix(prefix).exec();
      // Keep the store small between runs.
      const rev = (await client.kv.range({ key: Buffer.from('/'), count_only: true })).header.revision;
      await client.kv.compact({ revision: rev, physical: true });
      process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
    }
  } finally {
    client.close();
    await etcd.remove();
  }

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`\n$ node dist/bench/registry.js --runs=${RUNS} --scale=${SCALE}`);
  console.log(
    `etcd 3.4 (one member, local, fsync on), ${RUNS} runs, medians; single writes with ${CONCURRENCY} in flight; ` +
      `batches of ${BATCH.toLocaleString('en-US')} keys; ${SINGLE.toLocaleString('en-US')} single writes\n`,
  );
  console.log('| measure | registry | ops/s | raw etcd3 client | ops/s | registry/raw |');
  console.log('|---|---|--:|---|--:|--:|');
  for (const r of rows) {
    const a = median(r.registryOps);
    const b = median(r.rawOps);
    console.log(`| ${r.what} | ${r.registry} | ${fmt(a)} | ${r.raw} | ${fmt(b)} | ${(a / b).toFixed(2)} |`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
