/**
 * How long `fleet-lab up --machines 3` takes (etcd + 3 machines with systemd `running`), and
 * `fleet-lab down`, run as users run them (the CLI, a new node process each time).
 *   node dist/bench/lab-up.js [--runs N] [--machines N] [--etcd-members 1|3]
 * Root required. Never part of `npm test`'s pass/fail.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Lab } from '../lab/lab.js';
import { clusterDir } from '../lab/state.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const bin = `${repo}bin/fleet-lab.js`;

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 1) throw new Error(`--${name} must be a positive number`);
  return v;
}

function timed(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`fleet-lab ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const runs = flag('runs', 5);
const machines = flag('machines', 3);
const members = flag('etcd-members', 1);
const name = `bench${process.pid}`;
const upArgs = ['up', '--name', name, '--machines', String(machines), '--etcd-members', String(members)];
const ups: number[] = [];
const downs: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    ups.push(timed(upArgs));
    downs.push(timed(['down', '--name', name]));
  }
} finally {
  if (existsSync(clusterDir(name))) await Lab.down(name);
}

const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const rows: [string, number[]][] = [
  [`fleet-lab ${upArgs.join(' ')}`, ups],
  [`fleet-lab down --name ${name}`, downs],
];
const w = Math.max(...rows.map(([c]) => c.length), 'command'.length);
console.log(`fleet-lab bench: ${runs} runs, ${machines} machines, ${members} etcd member(s)`);
console.log(`${'command'.padEnd(w)}  ${'median'.padStart(8)}  ${'min'.padStart(8)}  ${'max'.padStart(8)}`);
for (const [cmd, xs] of rows) {
  console.log(
    `${cmd.padEnd(w)}  ${fmt(median(xs)).padStart(8)}  ${fmt(Math.min(...xs)).padStart(8)}  ${fmt(Math.max(...xs)).padStart(8)}`,
  );
}
