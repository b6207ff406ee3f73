/**
 * What a host needs to run a lab, checked up front with a plain answer when something is missing.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { LabPrerequisiteError } from './errors.js';
import { SYSTEMD } from './machine.js';

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      accessSync(`${dir}/${cmd}`, constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/** The cgroup v2 mount point of the host (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid). */
export function cgroup2Mount(): string | undefined {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  const found = mounts.map((l) => l.split(' ')).filter((f) => f[2] === 'cgroup2' && f[1]);
  const best =
    found.find((f) => f[1] === '/sys/fs/cgroup') ?? found.find((f) => f[1]?.startsWith('/sys/fs/cgroup'));
  return best?.[1];
}

/** Throws LabPrerequisiteError naming everything missing; returns the host's cgroup2 mount. */
export function preflight(what = 'fleet-lab'): { cgroup2: string } {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new LabPrerequisiteError(
      `${what} must run as root (it creates namespaces, mounts, a bridge and veths); run it with sudo or as root`,
    );
  }
  const tools: [string, string][] = [
    ['unshare', 'util-linux'],
    ['nsenter', 'util-linux'],
    ['findmnt', 'util-linux'],
    ['ip', 'iproute2'],
    ['etcd', 'etcd-server'],
    ['bash', 'bash'],
  ];
  for (const [cmd, pkg] of tools)
    if (!onPath(cmd)) problems.push(`${cmd} is missing (Debian package ${pkg})`);
  for (const [file, pkg] of [
    [SYSTEMD, 'systemd'],
    ['/usr/bin/dbus-daemon', 'dbus-daemon'],
  ] as const) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      problems.push(`${file} is missing (Debian package ${pkg})`);
    }
  }
  const fs = readFileSync('/proc/filesystems', 'utf8');
  if (!/\toverlay$/m.test(fs)) problems.push('the kernel has no overlayfs (modprobe overlay)');
  const cg = cgroup2Mount();
  if (!cg) problems.push('no cgroup2 file system is mounted under /sys/fs/cgroup');
  if (problems.length > 0 || !cg) {
    throw new LabPrerequisiteError(`${what} cannot run on this host: ${problems.join('; ')}`);
  }
  return { cgroup2: cg };
}
