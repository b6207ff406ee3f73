/**
 * fleetd API latency: listing 1,000 and 10,000 units over HTTP on loopback, against a real etcd
 * (started here via lab/etcd-server, stopped by PID at the end).
 *
 *   npm run build && npm run bench:api            # node dist/bench/api.js [--samples=40]
 *
 * For each size: one page of 100 (fleet's default token_limit, what a client's first request
 * costs), a whole walk through the pages as fleet's client does, and one request listing every unit
 * at once (token_limit = the size). Prints p50/p99 in milliseconds. Not part of `npm test`.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { EtcdServer } from '../lab/etcd-server.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { Registry } from '../lib/registry/index.js';
import { createApi } from '../fleetd/api/server.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
const SAMPLES = Number(args.get('samples') || 40);
const SIZES = [1000, 10000];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const agent = new Agent({ keepAlive: true });

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(reg: Registry, tokenLimit: number): Promise<{ port: number; close(): Promise<void> }> {
  const api = createApi({ registry: reg, tokenLimit });
  const server = createServer(api.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
      await api.close();
    },
  };
}

async function time(n: number, fn: () => Promise<void>): Promise<number[]> {
  await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  const etcd = await EtcdServer.start();
  const client = createEtcdClient({ etcdServers: [etcd.endpoint], etcdRequestTimeoutMs: 30000 });
  const rows: string[][] = [];
  try {
    for (const size of SIZES) {
      const prefix = `/bench-${size}/`;
      const reg = new Registry(client, { prefix });
      await reg.checkSchema();
      await reg.submitUnits(
        Array.from({ length: size }, (_, i) => ({
          name: `u${String(i).padStart(5, '0')}.service`,
          body: `[Unit]\nDescription=bench ${i}\n\n[Service]\nExecStart=/bin/sleep ${1000 + i}\n`,
          desiredState: 'launched' as const,
        })),
      );
      const paged = await serve(reg, 100);
      const whole = await serve(reg, size);
      try {
        const first = await time(SAMPLES, async () => {
          const r = await get(paged.port, '/fleet/v1/units');
          if (r.status !== 200) throw new Error(`status ${r.status}`);
        });
        const walks = Math.max(3, Math.round(SAMPLES / (size / 1000) / 4));
        let pages = 0;
        const walk = await time(walks, async () => {
          let path = '/fleet/v1/units';
          let n = 0;
          pages = 0;
          for (;;) {
            const r = await get(paged.port, path);
            const j = JSON.parse(r.body) as { units: unknown[]; nextPageToken?: string };
            n += j.units.length;
            pages++;
            if (!j.nextPageToken) break;
            path = `/fleet/v1/units?nextPageToken=${encodeURIComponent(j.nextPageToken)}`;
          }
          if (n !== size) throw new Error(`walked ${n} units, expected ${size}`);
        });
        const all = await time(Math.max(5, Math.round(SAMPLES / (size / 1000))), async () => {
          const r = await get(whole.port, '/fleet/v1/units');
          if ((JSON.parse(r.body) as { units: unknown[] }).units.length !== size)
            throw new Error('short list');
        });
        const fmt = (xs: number[]) => [pct(xs, 50).toFixed(1), pct(xs, 99).toFixed(1), String(xs.length)];
        rows.push([String(size), 'first page (100 units)', ...fmt(first)]);
        rows.push([String(size), `all ${pages} pages of 100`, ...fmt(walk)]);
        rows.push([String(size), `one request, token_limit=${size}`, ...fmt(all)]);
      } finally {
        await paged.close();
        await whole.close();
        await client.delete().prefix(prefix).exec();
      }
    }
  } finally {
    agent.destroy();
    client.close();
    await etcd.remove();
  }
  console.log(`\n$ node dist/bench/api.js --samples=${SAMPLES}`);
  console.log('units   | request                           | p50 ms | p99 ms | samples');
  console.log('--------|-----------------------------------|--------|--------|--------');
  for (const r of rows) {
    console.log(
      `${r[0]!.padEnd(7)} | ${r[1]!.padEnd(33)} | ${r[2]!.padStart(6)} | ${r[3]!.padStart(6)} | ${r[4]!.padStart(6)}`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
