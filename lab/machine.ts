/**
 * One machine of the lab: its own PID, mount, UTS, network and cgroup namespaces, whose PID 1 is
 * the real systemd booting basic.target on its own root: an overlay of the host's / (read-only
 * lower) with the upper layer on a tmpfs mounted inside the machine, fresh proc, read-only sysfs,
 * a minimal /dev, tmpfs /run and /tmp, and the project checkout bind-mounted read-only at its host
 * path. Every mount is made inside the machine's own mount namespace (private propagation), so the
 * host never sees one and all of them vanish with the machine.
 *
 * Hazard (../shared/MACHINES-IN-A-BOX.md): systemd booted on the shared root empties the host's
 * /tmp and starts the host's services. The boot script refuses to go on unless it is PID 1 of a new
 * namespace and the new root is an overlay, and boots basic.target only.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError, MachineError } from './errors.js';
import { childPids, procRef, refAlive, run, type ProcRef, type RunResult } from './proc.js';

export const SYSTEMD = '/usr/lib/systemd/systemd';

/** Host units that must not run inside a machine: they would load kernel modules, change kernel
 * settings, re-trigger the host's devices, or mount kernel file systems nobody needs. */
export const MASKED_UNITS = [
  'systemd-modules-load.service',
  'modprobe@.service',
  'kmod-static-nodes.service',
  'systemd-sysctl.service',
  'systemd-binfmt.service',
  'proc-sys-fs-binfmt_misc.automount',
  'systemd-udevd.service',
  'systemd-udev-trigger.service',
  'systemd-udev-settle.service',
  'systemd-journald-audit.socket',
  'dev-hugepages.mount',
  'sys-fs-fuse-connections.mount',
  'sys-kernel-config.mount',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'systemd-firstboot.service',
];

export interface MachineSpec {
  cluster: string;
  name: string;
  /** Host directory of the machine (created by boot). */
  dir: string;
  machineId: string;
  /** The project checkout, bind-mounted read-only at the same path. */
  repo: string;
  /** More host directories to bind read-only at the same path (e.g. node's, if not on /'s file system). */
  readOnlyBinds?: string[];
  /** cgroup v2 directory for the machine (created by boot, removed by removeCgroup). */
  cgroup: string;
  /** Files to write into the machine's root before boot: relative path -> content. */
  files: Record<string, string>;
  /** Units to enable: a symlink <target>.wants/<unit> -> /etc/systemd/system/<unit>. */
  enable: { target: string; unit: string }[];
  /** Size of the tmpfs holding the overlay's upper layer. */
  upperSize?: string;
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Host directories the machines need that the overlay of / does not show: the directory holding
 * node (for fleetd.service) when it lives on another file system than /.
 */
export function extraReadOnlyBinds(repo: string): string[] {
  const node = realpathSync(process.execPath);
  const prefix = dirname(dirname(node));
  if (statSync(node).dev === statSync('/').dev || prefix.startsWith(`${repo}/`) || prefix === '/') return [];
  return [prefix];
}

/** The boot script: run by `unshare` as PID 1 of the machine's new namespaces. */
export function bootScript(spec: MachineSpec): string {
  const M = shq(spec.dir);
  const REPO = shq(spec.repo);
  const HOSTNS = shq(readlinkSync('/proc/self/ns/mnt'));
  return `#!/bin/bash
# fleet-lab boot script of machine ${spec.name} (cluster ${spec.cluster}). Generated; do not edit.
# Runs as PID 1 of new pid/mount/uts/net/cgroup namespaces; ends by exec'ing systemd.
set -euo pipefail
M=${M}
R="$M/root"
REPO=${REPO}
die() { echo "fleet-lab boot ${spec.name}: $*" >&2; exit 1; }
[ "$$" = 1 ] || die "not PID 1 of a new PID namespace; refusing to boot"
[ "$(readlink /proc/self/ns/mnt)" != ${HOSTNS} ] || die "still in the host's mount namespace; refusing to boot"
mount -n --make-rprivate /
# The upper layer lives on a tmpfs of this machine only.
mount -n -t tmpfs -o mode=0755,size=${spec.upperSize ?? '1g'} fleetlab-${spec.name} "$M/rw"
mkdir -p "$M/rw/upper" "$M/rw/work"
mount -n -t overlay fleetlab-${spec.name} -o "lowerdir=/,upperdir=$M/rw/upper,workdir=$M/rw/work" "$R"
[ "$(findmnt -n -o FSTYPE --mountpoint "$R")" = overlay ] || die "$R is not an overlay; refusing to boot"
[ "$(stat -f -c %T "$M/rw")" = tmpfs ] || die "$M/rw is not a tmpfs; refusing to boot"
mount -n -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -n --bind "$R/proc/sys" "$R/proc/sys"
mount -n -o remount,bind,ro "$R/proc/sys"
mount -n -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -n -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
mount -n -t tmpfs -o mode=0755,nosuid,size=16m devtmpfs "$R/dev"
for d in null zero full random urandom tty; do
  touch "$R/dev/$d"
  mount -n --bind "/dev/$d" "$R/dev/$d"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -n -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
mount -n -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
for d in "$REPO"${(spec.readOnlyBinds ?? []).map((d) => ' ' + shq(d)).join('')}; do
  mkdir -p "$R$d"
  mount -n --bind "$d" "$R$d"
  mount -n -o remount,bind,ro "$R$d"
done
# The machine's own files (machine-id, hostname, fleet.conf, units, masks), into the overlay.
rm -rf "$R/etc/systemd/system/timers.target.wants"
cp -a "$M/inject/." "$R/"
hostname ${shq(spec.name)}
# Wait for the host to plug the machine's eth0 in, so units see the network from the start.
for _ in $(seq 200); do [ -e "$M/net-ready" ] && break; sleep 0.05; done
[ -e "$M/net-ready" ] || die "the host did not set up eth0 within 10 s"
mkdir -p "$R/.oldroot"
cd "$R"
pivot_root . .oldroot
umount -n -l /.oldroot
rmdir /.oldroot
exec env -i container=other PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \\
  ${SYSTEMD} --unit=basic.target
`;
}

function writeInject(spec: MachineSpec): void {
  const inject = join(spec.dir, 'inject');
  for (const [rel, content] of Object.entries(spec.files)) {
    const path = join(inject, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content, { mode: rel.endsWith('key.pem') ? 0o600 : 0o644 });
  }
  const unitDir = join(inject, 'etc/systemd/system');
  mkdirSync(unitDir, { recursive: true });
  for (const unit of MASKED_UNITS) symlinkSync('/dev/null', join(unitDir, unit));
  for (const { target, unit } of spec.enable) {
    const wants = join(unitDir, `${target}.wants`);
    mkdirSync(wants, { recursive: true });
    symlinkSync(`/etc/systemd/system/${unit}`, join(wants, unit));
  }
}

export interface BootedMachine {
  launcher: ProcRef;
  pid1: ProcRef;
}

/**
 * Starts the machine's namespaces and boot script (detached: it outlives this process) and
 * returns once its PID 1 exists. The caller plugs the network in, then calls netReady().
 */
export async function startMachine(
  spec: MachineSpec,
  onLauncher: (ref: ProcRef) => void,
): Promise<BootedMachine> {
  for (const sub of ['root', 'rw']) mkdirSync(join(spec.dir, sub), { recursive: true });
  writeInject(spec);
  const script = join(spec.dir, 'boot.sh');
  writeFileSync(script, bootScript(spec), { mode: 0o755 });
  mkdirSync(spec.cgroup, { recursive: true });
  const log = openSync(join(spec.dir, 'console.log'), 'a');
  const procs = join(spec.cgroup, 'cgroup.procs');
  let child;
  try {
    // The shell moves itself into the machine's cgroup, then becomes `unshare`: the new cgroup
    // namespace is rooted there, so the machine's systemd manages only its own subtree.
    child = spawn(
      'bash',
      [
        '-c',
        'echo $$ > "$1" && exec unshare --pid --fork --mount --uts --net --cgroup --propagation private "$2"',
        'fleet-lab-launch',
        procs,
        script,
      ],
      {
        detached: true,
        stdio: ['ignore', log, log],
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      },
    );
  } finally {
    closeSync(log);
  }
  child.on('error', () => undefined);
  child.unref();
  const pid = child.pid;
  const launcher = pid === undefined ? undefined : procRef(pid);
  if (pid === undefined || !launcher) {
    throw new MachineError(
      spec.cluster,
      spec.name,
      `could not start unshare for ${spec.name}: ${consoleTail(spec)}`,
    );
  }
  onLauncher(launcher);
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const kids = childPids(pid);
    const first = kids[0];
    if (first !== undefined) {
      const ref = procRef(first);
      // The shell's exec into unshare happens before the fork; the child is PID 1 of the machine.
      if (ref && readNsPid(first) === 1) return { launcher, pid1: ref };
    }
    if (!refAlive(launcher)) break;
    await sleep(10);
  }
  throw new MachineError(
    spec.cluster,
    spec.name,
    `machine ${spec.name} of cluster ${spec.cluster} did not start its PID 1: ${consoleTail(spec)}`,
  );
}

/** The PID of a host process inside its innermost PID namespace. */
function readNsPid(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('NSpid:'));
    const ids = line?.split(/\s+/).slice(1).filter(Boolean).map(Number) ?? [];
    return ids[ids.length - 1];
  } catch {
    return undefined;
  }
}

export function netReady(spec: { dir: string }): void {
  writeFileSync(join(spec.dir, 'net-ready'), '');
}

export function consoleTail(spec: { dir: string }, lines = 8): string {
  try {
    const text = readFileSync(join(spec.dir, 'console.log'), 'utf8').trim();
    return text ? text.split('\n').slice(-lines).join(' | ') : '(console log empty)';
  } catch {
    return '(no console log)';
  }
}

/** argv that runs a command inside the machine (all its namespaces, its root, a clean env). */
export function execArgv(pid1: number, argv: readonly string[], env: Record<string, string> = {}): string[] {
  const envArgs = Object.entries({
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    TERM: process.env.TERM ?? 'dumb',
    ...env,
  }).map(([k, v]) => `${k}=${v}`);
  return ['nsenter', '-t', String(pid1), '-a', '-r', '-w', '--', 'env', '-i', ...envArgs, ...argv];
}

export function execIn(pid1: number, argv: readonly string[], timeoutMs = 30000): Promise<RunResult> {
  return run(execArgv(pid1, argv), { timeoutMs });
}

/**
 * Waits until the machine's systemd says `running` (and, if given, the units are active).
 * `degraded` is an error naming the failed units.
 */
export async function waitRunning(
  cluster: string,
  name: string,
  pid1: ProcRef,
  timeoutMs: number,
  units: string[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!refAlive(pid1)) {
      throw new MachineError(
        cluster,
        name,
        `machine ${name} of cluster ${cluster}: systemd (PID ${pid1.pid}) exited during boot`,
      );
    }
    const r = await execIn(pid1.pid, ['systemctl', 'is-system-running'], 5000);
    last = (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
    if (last === 'running') {
      if (units.length === 0) return;
      const a = await execIn(pid1.pid, ['systemctl', 'is-active', ...units], 5000);
      if (a.code === 0) return;
      last = `running, but ${units.join(' ')}: ${a.stdout.trim().replace(/\n/g, ' ')}`;
    }
    if (last === 'degraded') {
      const failed = await execIn(pid1.pid, ['systemctl', '--failed', '--no-legend', '--plain'], 5000);
      throw new MachineError(
        cluster,
        name,
        `machine ${name} of cluster ${cluster} booted degraded; failed units: ${failed.stdout.trim().replace(/\n/g, '; ')}`,
      );
    }
    await sleep(50);
  }
  throw new MachineError(
    cluster,
    name,
    `machine ${name} of cluster ${cluster}: systemd not running after ${timeoutMs} ms (last: ${last || 'no answer'})`,
  );
}

/** systemd's SIGRTMIN+4 (glibc SIGRTMIN is 34): power off. */
export const SIGRTMIN_4 = 38;

/**
 * Removes a cgroup directory and the (empty) cgroups systemd left under it, deepest first.
 * A cgroup stays busy while its killed processes are zombies: those whose parent exited (a CLI
 * `up` that returned) are reaped by the host's PID 1, which may take seconds. Waits up to
 * timeoutMs for that.
 */
export async function removeCgroup(dir: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const walk = async (d: string): Promise<void> => {
    let entries: string[];
    try {
      entries = readDirs(d);
    } catch {
      return;
    }
    for (const e of entries) await walk(join(d, e));
    for (;;) {
      try {
        rmdirSync(d);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || Date.now() >= deadline) {
          throw new LabError(
            `cannot remove cgroup ${d} (${code}): processes (or zombies not yet reaped by the host's PID 1) are still in it`,
            { cause: e },
          );
        }
        await sleep(100);
      }
    }
  };
  await walk(dir);
}

function readDirs(d: string): string[] {
  return readdirSync(d, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}
