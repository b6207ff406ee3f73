/**
 * Units from a directory, in fleet-lab: the time from dropping a unit file into a fleetd's
 * unit_source_directory (m1 of 3 machines running fleetd) to the unit active/running as its agent
 * reports it in etcd; side by side in the same run, `fleetctl start --no-block FILE` (etcd driver,
 * from the host) to active/running, and an edit of a dropped file to its new file running.
 *
 *   npm run build && npm run bench:apply -- [--runs=7]
 *
 * Prints one markdown table (median, min, max over the runs). Not part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Lab } from '../lab/lab.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { Registry } from '../lib/registry/index.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
const RUNS = Number(args.get('runs') || 7);
const DIR = '/etc/fleet/units.d';

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor(s.length / 2)]!.toFixed(0)} (min ${s[0]!.toFixed(0)}, max ${s[s.length - 1]!.toFixed(0)})`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const name = `bapply${process.pid}`;
  const lab = await Lab.up({ name, machines: 3, fleetd: true, agentTtl: 10 });
  const client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
  const local = mkdtempSync(join(tmpdir(), 'bench-apply-'));
  try {
    const reg = new Registry(client);
    const root = `/proc/${lab.pid1('m1')}/root`;
    const hostDir = `${root}${DIR}`;
    mkdirSync(hostDir, { recursive: true });
    appendFileSync(`${root}/etc/fleet/fleet.conf`, `unit_source_directory="${DIR}"\n`);
    await lab.exec('m1', ['systemctl', 'restart', 'fleetd.service']);
    for (let i = 0; (await reg.listMachines()).items.length < 3; i++) {
      if (i > 600) throw new Error('3 machines did not register within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }

    /** Milliseconds from t0 until the unit is active with the file it has in etcd now. */
    const untilRunning = async (unit: string, t0: number, notHash?: string): Promise<number> => {
      for (;;) {
        const [u, states] = await Promise.all([reg.getUnit(unit), reg.listUnitStates()]);
        const hash = u?.record.hash;
        if (
          hash !== undefined &&
          hash !== notHash &&
          states.items.some(
            (s) => s.record.unit === unit && s.record.hash === hash && s.record.activeState === 'active',
          )
        ) {
          return performance.now() - t0;
        }
        if (performance.now() - t0 > 60000) throw new Error(`${unit} did not run within 60 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const drop = (file: string, text: string) => {
      const tmp = join(hostDir, `.${file}.tmp`);
      writeFileSync(tmp, text);
      renameSync(tmp, join(hostDir, file));
    };

    const dropped: number[] = [];
    const edited: number[] = [];
    const started: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const f = `drop-${i}.service`;
      let t0 = performance.now();
      drop(f, `[Service]\nExecStart=/bin/sleep ${200000 + i}\n`);
      dropped.push(await untilRunning(f, t0));

      const before = (await reg.getUnit(f))!.record.hash;
      t0 = performance.now();
      drop(f, `[Service]\nExecStart=/bin/sleep ${300000 + i}\n`);
      edited.push(await untilRunning(f, t0, before));

      const s = `start-${i}.service`;
      writeFileSync(join(local, s), `[Service]\nExecStart=/bin/sleep ${400000 + i}\n`);
      t0 = performance.now();
      const r = spawnSync(
        process.execPath,
        [
          'bin/fleetctl.js',
          '--driver=etcd',
          `--endpoint=${lab.endpoints[0]}`,
          'start',
          '--no-block',
          join(local, s),
        ],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`fleetctl start failed: ${r.stderr}`);
      started.push(await untilRunning(s, t0));
    }
    const cmd = `npm run bench:apply -- --runs=${RUNS}`;
    console.log(`\n\`${cmd}\` (3 fleet-lab machines running fleetd; ms, median over ${RUNS} runs)\n`);
    console.log('| path | ms to active/running: median (min, max) | ratio to fleetctl start |');
    console.log('|---|---|---|');
    const ref = median(started);
    console.log(
      `| file dropped into m1's unit_source_directory | ${stats(dropped)} | ${(median(dropped) / ref).toFixed(2)} |`,
    );
    console.log(
      `| dropped file edited (replace) | ${stats(edited)} | ${(median(edited) / ref).toFixed(2)} |`,
    );
    console.log(`| \`fleetctl start --no-block FILE\` (etcd driver, host) | ${stats(started)} | 1.00 |`);
  } finally {
    client.close();
    rmSync(local, { recursive: true, force: true });
    await Lab.down(name);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
