/**
 * The machine a benchmark ran on, as one line for its output: date, CPUs, RAM, kernel, node, etcd
 * and systemd versions, and the load average when it started (the host may be shared).
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) return `${cmd}: not found`;
  return (r.stdout.split('\n')[0] ?? '').trim();
}

export function hostLine(): string {
  const etcd = firstLine('etcd', ['--version']).replace(/^etcd Version:\s*/, '');
  const systemd = firstLine('/usr/lib/systemd/systemd', ['--version']).replace(/^systemd\s+/, '');
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  return [
    new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    `nproc ${availableParallelism()}`,
    `RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `kernel ${release()}`,
    `node ${process.version}`,
    `etcd ${etcd}`,
    `systemd ${systemd}`,
    `load average ${load}`,
  ].join(', ');
}
