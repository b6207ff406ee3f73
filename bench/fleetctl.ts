/**
 * Start-up + listing cost of fleetctl: wall time of `fleetctl list-units` (a fresh node process each
 * run, as scripts call it) at N units, beside a bare `node -e 0` in the same run, for both drivers:
 * --driver=etcd straight to etcd, and --driver=api (the default) against fleetd's API server on a
 * unix socket (served by this process over the same etcd). etcd is started here (lab/etcd-server)
 * and stopped by PID at the end.
 *
 *   npm run build && node dist/bench/fleetctl.js [--units=1000] [--runs=10] [--compare=DIR]
 *
 * --compare=DIR adds the API-driver rows of another build's fleetctl (DIR/bin/fleetctl.js, e.g. a
 * checkout of an older commit, built), run interleaved with these: a before/after in one run.
 *
 * Prints one table of medians (and min/max). Not part of `npm test`.
 *
 * --start: instead, `fleetctl start --no-block` of --units instances of a local template
 * (web@1..N.service, web@.service in the working directory) against a bare etcd (no agents are
 * needed without blocking), both drivers, the units removed between runs; with --compare=DIR the
 * other build's rows are interleaved:
 *
 *   node dist/bench/fleetctl.js --start --units=100 --runs=7 [--compare=DIR]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EtcdServer } from '../lab/etcd-server.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { Registry, type UnitStateRecord } from '../lib/registry/index.js';
import { createApi } from '../fleetd/api/server.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
const UNITS = Number(args.get('units') || 1000);
const RUNS = Number(args.get('runs') || 10);
const MACHINES = 3;
const BIN = resolve('bin/fleetctl.js');
const COMPARE = args.get('compare') ? resolve(args.get('compare')!, 'bin/fleetctl.js') : undefined;

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/** Runs node with `cmd` (asynchronously: this process serves the API meanwhile); wall time in ms. */
function time(cmd: string[], cwd?: string): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  return new Promise((ok, ko) => {
    const child = spawn(process.execPath, cmd, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', ko);
    child.on('close', (status) => {
      const ms = performance.now() - t0;
      if (status !== 0) ko(new Error(`${cmd.join(' ')} failed (${status}): ${err}`));
      else ok({ ms, out });
    });
  });
}

/** `fleetctl start --no-block` of UNITS template instances, both drivers (see the header). */
async function startBench(): Promise<void> {
  const etcd = await EtcdServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleetctl-start-'));
  const client = createEtcdClient({ etcdServers: [etcd.endpoint], etcdRequestTimeoutMs: 10000 });
  const server = createServer();
  let api: ReturnType<typeof createApi> | undefined;
  try {
    writeFileSync(
      join(dir, 'web@.service'),
      '[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sleep 1000\n',
    );
    const names = Array.from({ length: UNITS }, (_, i) => `web@${i + 1}.service`);
    const apiPrefix = '/bench-api/';
    api = createApi({ registry: new Registry(client, { prefix: apiPrefix }) });
    server.on('request', api.handle);
    const sock = join(dir, 'fleet.sock');
    await new Promise<void>((ok) => server.listen(sock, ok));
    const bins: [string, string][] = [
      ['this build', BIN],
      ...(COMPARE ? [[COMPARE, COMPARE] as [string, string]] : []),
    ];
    const variants: { name: string; prefix: string; cmd: string[] }[] = bins.flatMap(([label, bin]) => [
      {
        name: `${label}: --driver=etcd`,
        prefix: '/bench-etcd/',
        cmd: [bin, '--driver=etcd', `--endpoint=${etcd.endpoint}`, '--etcd-key-prefix=/bench-etcd/'],
      },
      { name: `${label}: --driver=api`, prefix: apiPrefix, cmd: [bin, `--endpoint=unix://${sock}`] },
    ]);
    const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    const reg = (prefix: string) => new Registry(client, { prefix });
    // Run 0 is a warm-up, not counted.
    for (let r = 0; r <= RUNS; r++) {
      for (const v of variants) {
        const { ms, out } = await time([...v.cmd, 'start', '--no-block', ...names], dir);
        const launched = [...(await reg(v.prefix).getUnits(names)).values()].filter(
          (u) => u.record.desiredState === 'launched',
        ).length;
        if (launched !== UNITS || !out.includes(`Triggered unit ${names[UNITS - 1]} start`))
          throw new Error(`${v.name}: ${launched} of ${UNITS} units launched after start`);
        if (r > 0) samples.get(v.name)!.push(ms);
        await client.delete().prefix(v.prefix);
      }
    }
    console.log(
      `fleetctl start --no-block of ${UNITS} template instances on a bare etcd, ${RUNS} runs each (interleaved), ms`,
    );
    console.log('');
    console.log(`| command | median | min | max |`);
    console.log(`|---|---:|---:|---:|`);
    for (const v of variants) {
      const s = stats(samples.get(v.name)!);
      console.log(`| ${v.name} | ${s.median.toFixed(0)} | ${s.min.toFixed(0)} | ${s.max.toFixed(0)} |`);
    }
  } finally {
    await api?.close();
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
    client.close();
    await etcd.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const etcd = await EtcdServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleetctl-'));
  const client = createEtcdClient({ etcdServers: [etcd.endpoint], etcdRequestTimeoutMs: 10000 });
  const server = createServer();
  const bigPages = createServer();
  let api: ReturnType<typeof createApi> | undefined;
  let api1: ReturnType<typeof createApi> | undefined;
  try {
    const prefix = '/bench/';
    const reg = new Registry(client, { prefix });
    const lease = await client.lease(600, { autoKeepAlive: false }).grant();
    const body = (i: number) =>
      `[Unit]\nDescription=bench ${i}\n\n[Service]\nExecStart=/bin/sleep ${1000 + i}\n`;
    await reg.submitUnits(
      Array.from({ length: UNITS }, (_, i) => ({
        name: `u${i}.service`,
        body: body(i),
        desiredState: 'launched',
      })),
    );
    const ids = Array.from({ length: MACHINES }, (_, m) => `${m}${'0123456789abcdef'.repeat(2).slice(1)}`);
    for (const [m, id] of ids.entries()) {
      await reg.putMachine(
        { id, publicIp: `10.0.0.${m + 1}`, metadata: { rack: String(m) }, version: '0.1.0', draining: false },
        lease,
      );
    }
    const units = (await reg.listUnits()).items;
    const states: UnitStateRecord[] = units.map((u, i) => ({
      unit: u.id,
      machineId: ids[i % MACHINES]!,
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      hash: u.record.hash,
    }));
    await reg.putUnitStates(states, lease);

    // fleetd's API with fleet's default token_limit (100 items a page), and with one page for all.
    api = createApi({ registry: new Registry(client, { prefix }) });
    server.on('request', api.handle);
    const sock = join(dir, 'fleet.sock');
    await new Promise<void>((ok) => server.listen(sock, ok));
    api1 = createApi({ registry: new Registry(client, { prefix }), tokenLimit: Math.max(UNITS, 100) });
    bigPages.on('request', api1.handle);
    const sock1 = join(dir, 'fleet-1page.sock');
    await new Promise<void>((ok) => bigPages.listen(sock1, ok));

    const cmds: [string, string[]][] = [
      ['node -e 0', ['-e', '0']],
      [
        'fleetctl --driver=etcd list-units',
        [BIN, '--driver=etcd', `--endpoint=${etcd.endpoint}`, `--etcd-key-prefix=${prefix}`, 'list-units'],
      ],
      ['fleetctl list-units (API driver, token_limit 100)', [BIN, `--endpoint=unix://${sock}`, 'list-units']],
      [
        `fleetctl list-units (API driver, token_limit ${Math.max(UNITS, 100)})`,
        [BIN, `--endpoint=unix://${sock1}`, 'list-units'],
      ],
      ...(COMPARE
        ? ([
            [
              `${COMPARE}: list-units (API driver, token_limit 100)`,
              [COMPARE, `--endpoint=unix://${sock}`, 'list-units'],
            ],
            [
              `${COMPARE}: list-units (API driver, token_limit ${Math.max(UNITS, 100)})`,
              [COMPARE, `--endpoint=unix://${sock1}`, 'list-units'],
            ],
          ] as [string, string[]][])
        : []),
      ['fleetctl list-machines (API driver)', [BIN, `--endpoint=unix://${sock}`, 'list-machines']],
      ['fleetctl --version (no cluster)', [BIN, '--version']],
    ];
    // A warm-up run of each, checking the output has every unit.
    for (const [name, cmd] of cmds) {
      const { out } = await time(cmd);
      if (name.includes('list-units') && out.trim().split('\n').length !== UNITS + 1) {
        throw new Error(`${name} printed ${out.trim().split('\n').length - 1} rows, expected ${UNITS}`);
      }
    }
    const samples = new Map<string, number[]>(cmds.map(([n]) => [n, []]));
    for (let r = 0; r < RUNS; r++)
      for (const [name, cmd] of cmds) samples.get(name)!.push((await time(cmd)).ms);

    const bare = stats(samples.get('node -e 0')!).median;
    console.log(
      `fleetctl list-units: ${UNITS} units on ${MACHINES} machines, ${RUNS} runs each (interleaved), ms`,
    );
    console.log('');
    console.log(`| command | median | min | max | minus node -e 0 |`);
    console.log(`|---|---:|---:|---:|---:|`);
    for (const [name] of cmds) {
      const s = stats(samples.get(name)!);
      console.log(
        `| ${name} | ${s.median.toFixed(0)} | ${s.min.toFixed(0)} | ${s.max.toFixed(0)} | ${(s.median - bare).toFixed(0)} |`,
      );
    }
  } finally {
    await api?.close();
    await api1?.close();
    for (const s of [server, bigPages]) {
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
    client.close();
    await etcd.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

(args.has('start') ? startBench() : main()).catch((e: unknown) => {
  console.error(`bench/fleetctl: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
