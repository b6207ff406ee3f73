/**
 * `fleet-lab down`: removes everything a cluster's state records, from any process, including
 * after a crash half-way through `up`. Processes are found by recorded PID + start time, by the
 * machine's own cgroup, or by the machine's own mount namespace; never by name.
 */
import {
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { adoptMember } from './etcd-cluster.js';
import { LabError, LabStateError } from './errors.js';
import { SIGRTMIN_4, removeCgroup } from './machine.js';
import { deleteLink, linkExists, releaseSubnet } from './network.js';
import { childPids, procRef, refAlive, signalRef, waitGone } from './proc.js';
import { labRoot, statePath, type LabState, type MachineRecord } from './state.js';

/**
 * Powers a machine off: SIGRTMIN+4 to its PID 1, SIGKILL (the whole PID namespace) after graceMs;
 * graceMs 0: SIGKILL at once (down: everything the machine had is on tmpfs and goes anyway).
 * Done once `unshare` has reaped PID 1 and exited: a PID 1 that got SIGKILL may still be exiting
 * (the kernel waits for every process of its namespace to be reaped first).
 */
export async function stopMachine(m: MachineRecord, graceMs: number): Promise<void> {
  if (!m.pid1 && m.launcher && refAlive(m.launcher)) {
    // `up` died between starting the machine and recording its PID 1: the launcher's child is it.
    const child = childPids(m.launcher.pid)[0];
    const ref = child === undefined ? undefined : procRef(child);
    if (ref) m.pid1 = ref;
  }
  if (m.pid1 && refAlive(m.pid1)) {
    if (graceMs > 0) {
      const pid1 = m.pid1;
      signalRef(pid1, SIGRTMIN_4);
      // Once systemd has stopped every unit it re-executes as systemd-shutdown, whose last wait
      // for processes it did not start (an `exec`'s command) can last until its own timeout:
      // give it a second, then end it (what is left is tmpfs, gone anyway).
      let finalSince: number | undefined;
      const meanwhile = (): void => {
        continueJoiners(m);
        if (finalSince === undefined && procComm(pid1.pid) === 'systemd-shutdow') finalSince = Date.now();
        if (finalSince !== undefined && Date.now() - finalSince > 1000) signalRef(pid1, 'SIGKILL');
      };
      if (!(await waitGone(pid1, graceMs, meanwhile))) signalRef(pid1, 'SIGKILL');
    } else {
      signalRef(m.pid1, 'SIGKILL');
    }
  }
  if (m.launcher && !(await waitGone(m.launcher, 15000, () => continueJoiners(m)))) {
    throw new LabError(
      `machine ${m.name}: unshare (PID ${m.launcher.pid}) has not exited: ${procInfo(m.launcher.pid)}; PID 1: ${m.pid1 ? procInfo(m.pid1.pid) : 'unknown'}`,
    );
  }
  if (m.pid1 && !(await waitGone(m.pid1, 5000))) {
    throw new LabError(`machine ${m.name}: PID 1 (${m.pid1.pid}) does not stop: ${procInfo(m.pid1.pid)}`);
  }
}

/**
 * systemd-shutdown SIGSTOPs every process of the machine before killing them. A command run by
 * `exec` is such a process, and its `nsenter` parent on the host then stops itself too, waiting
 * for a SIGCONT nobody sends; it never reaps its killed child, so the kernel never lets the
 * machine's PID 1 finish exiting. Continue the stopped processes that joined the machine's mount
 * namespace (only those: found by namespace, never by name).
 */
function continueJoiners(m: MachineRecord): void {
  if (!m.mntNs) return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/mnt`) !== m.mntNs) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T')
        process.kill(Number(entry), 'SIGCONT');
    } catch {
      // gone, or not ours to read
    }
  }
}

/** The kernel's (15-character) name of a process. */
function procComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** State and wait channel of a process, for error messages. */
function procInfo(pid: number): string {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .filter((l) => /^(Name|State):/.test(l))
      .join(' ')
      .replace(/\s+/g, ' ');
    let wchan = '';
    try {
      wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8');
    } catch {
      // not readable
    }
    return `${status}${wchan ? ` wchan ${wchan}` : ''}`;
  } catch {
    return 'gone';
  }
}

/**
 * Kills every process in a cgroup of the lab and its descendants (cgroup.kill; one by one on
 * kernels before 5.14) and waits until it is empty.
 */
async function killCgroup(dir: string): Promise<void> {
  let left = cgroupProcs(dir);
  if (left.length === 0) return;
  if (existsSync(join(dir, 'cgroup.kill'))) {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
  } else {
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  const deadline = Date.now() + 5000;
  while ((left = cgroupProcs(dir)).length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
  }
  if (left.length > 0) throw new LabError(`processes ${left.join(' ')} still in ${dir}`);
}

function cgroupProcs(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string): void => {
    try {
      const text = readFileSync(join(d, 'cgroup.procs'), 'utf8').trim();
      if (text) out.push(...text.split('\n').map(Number));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // gone
    }
  };
  walk(dir);
  return out;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

export function removeClusterDir(name: string, dir: string): void {
  const mounts = mountsUnder(dir);
  if (mounts.length > 0) {
    throw new LabStateError(
      name,
      `cluster "${name}": ${mounts.join(', ')} still mounted on the host; not removing ${dir}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes everything the state records, in order: machines (PID 1 by PID, then any process left
 * in their cgroups), links and bridge, etcd members, cgroups, the subnet claim, the directory.
 * Each step runs even if an earlier one failed; the state is kept if anything is left.
 */
export async function teardown(st: LabState, log: (line: string) => void = () => undefined): Promise<void> {
  const problems: string[] = [];
  const step = async (what: string, f: () => Promise<void> | void): Promise<void> => {
    try {
      await f();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  await Promise.all(
    st.machines.map((m) =>
      step(`machine ${m.name}`, async () => {
        try {
          await stopMachine(m, 0);
        } catch (e) {
          problems.push(`machine ${m.name}: ${(e as Error).message}`);
        }
        // Then whatever is left in the machine's own cgroup.
        await killCgroup(m.cgroup);
        log(`${m.name}: stopped`);
      }),
    ),
  );
  for (const m of st.machines) await step(`link ${m.veth}`, () => deleteLink(m.veth));
  if (st.network?.bridge) {
    const bridge = st.network.bridge;
    await step(`bridge ${bridge}`, async () => {
      // Only a bridge this cluster created: a name clash with another owner is never deleted.
      if (st.network?.bridgeCreated && (await linkExists(bridge))) await deleteLink(bridge);
    });
  }
  await Promise.all(
    st.etcd.map((m) =>
      step(`etcd member ${m.name}`, async () => {
        await adoptMember(m).kill9(); // its data dir goes too: no need to wait for a clean stop
        if (m.proc && refAlive(m.proc)) throw new LabError(`etcd PID ${m.proc.pid} does not stop`);
      }),
    ),
  );
  // Anything of the cluster's that no PID in the state names (e.g. `up` was killed between
  // starting a process and recording it) is still in the cluster's cgroup.
  if (st.cgroupRoot) {
    const root = st.cgroupRoot;
    await step(`processes in ${root}`, () => killCgroup(root));
  }
  for (const m of st.machines) await step(`cgroup ${m.cgroup}`, () => removeCgroup(m.cgroup));
  if (st.cgroupRoot) {
    const root = st.cgroupRoot;
    await step(`cgroup ${root}`, async () => {
      await removeCgroup(root);
      try {
        rmdirSync(join(root, '..')); // the shared fleet-lab cgroup, if no other cluster uses it
      } catch {
        // other clusters are up
      }
    });
  }
  if (st.network?.claim) {
    const claim = st.network.claim;
    await step(`subnet claim ${claim}`, () => releaseSubnet(claim));
  }
  if (problems.length > 0) {
    throw new LabError(
      `cluster "${st.name}": down left things behind: ${problems.join('; ')}; state kept in ${statePath(st.name)}, run \`fleet-lab down --name ${st.name}\` again`,
    );
  }
  removeClusterDir(st.name, st.dir);
  for (const d of [join(labRoot(), '.net'), labRoot()]) {
    try {
      rmdirSync(d); // only when no other cluster is left
    } catch {
      // in use
    }
  }
  log(`cluster ${st.name}: down`);
}
