/** What the lab tests check after `down`: nothing of a cluster is left on the host. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { refAlive } from '../../lab/proc.js';
import type { LabState } from '../../lab/state.js';

/** Every trace of the cluster still on the host, as readable strings (empty: nothing left). */
export function leftovers(st: LabState): string[] {
  const left: string[] = [];
  const procs = [
    ...st.machines.flatMap((m) => [
      m.launcher && { what: `${m.name} launcher`, ref: m.launcher },
      m.pid1 && { what: `${m.name} PID 1`, ref: m.pid1 },
    ]),
    ...st.etcd.map((e) => e.proc && { what: `etcd ${e.name}`, ref: e.proc }),
  ];
  for (const p of procs) if (p && refAlive(p.ref)) left.push(`process ${p.what} (PID ${p.ref.pid})`);
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(st.dir) || l.startsWith('fleetlab-'));
  left.push(...mounts.map((l) => `mount ${l}`));
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  const names = [st.network?.bridge, ...st.machines.map((m) => m.veth)].filter((n): n is string => !!n);
  for (const n of names) if (new RegExp(`^\\d+: ${n}[:@]`, 'm').test(links)) left.push(`link ${n}`);
  // The machines' mounts live in their own mount namespaces: none of them may still exist.
  const nss = new Set(st.machines.map((m) => m.mntNs).filter((n): n is string => !!n));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ns = readlinkSync(`/proc/${entry}/ns/mnt`);
      if (nss.has(ns)) left.push(`process ${entry} in a machine's mount namespace ${ns}`);
    } catch {
      // gone
    }
  }
  for (const f of [st.dir, st.network?.claim, st.cgroupRoot, ...st.machines.map((m) => m.cgroup)]) {
    if (f && existsSync(f)) left.push(`file ${f}`);
  }
  return left;
}
