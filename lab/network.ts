/**
 * The lab's network: one bridge per cluster on the host with a /24 of the lab's choosing, and one
 * veth pair per machine whose host end is a bridge port and whose other end is the machine's eth0.
 * No default route and no forwarding: traffic stays on the bridge and the machines' veths.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { run, runOk } from './proc.js';
import { labRoot } from './state.js';

/** Second octet pair of the lab's address range: subnets are 10.213.X.0/24. */
const RANGE = '10.213';

export function shortId(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 6);
}

export function bridgeName(cluster: string): string {
  return `flb-${shortId(cluster)}`;
}

/** Host end of machine i's veth, at most 15 characters (IFNAMSIZ). */
export function vethName(cluster: string, index: number): string {
  return `flv-${shortId(cluster)}-${index}`;
}

export function machineIp(subnet: string, index: number): string {
  return `${subnet}.${10 + index}`;
}

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
}

/** [first, last] addresses of a CIDR ("a.b.c.d/n", or a bare address as /32). */
export function cidrRange(cidr: string): [number, number] {
  const [ip = '0.0.0.0', lenText] = cidr.split('/');
  const len = lenText === undefined ? 32 : Number(lenText);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  const first = (ipToInt(ip) & mask) >>> 0;
  return [first, (first | (~mask >>> 0)) >>> 0];
}

export function cidrsOverlap(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}

/** IPv4 networks the host already uses (addresses and non-default routes). */
async function hostNetworks(): Promise<string[]> {
  const nets: string[] = [];
  const addrs = await runOk(['ip', '-4', '-o', 'addr', 'show']);
  for (const m of addrs.matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) if (m[1]) nets.push(m[1]);
  const routes = await runOk(['ip', '-4', 'route', 'show', 'table', 'all']);
  for (const line of routes.split('\n')) {
    const first = line.trim().split(/\s+/);
    const dst = first[0] === 'local' || first[0] === 'broadcast' ? first[1] : first[0];
    if (dst && /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst)) nets.push(dst);
  }
  return nets.filter((n) => !n.startsWith('127.'));
}

export interface SubnetClaim {
  subnet: string;
  claim: string;
}

/**
 * Picks a free 10.213.X.0/24 for the cluster (starting from a value derived from its name), claims
 * it with an exclusively created file (so two `up`s at once never pick the same one), and checks
 * that no host address or route overlaps it.
 */
export async function claimSubnet(cluster: string): Promise<SubnetClaim> {
  const dir = join(labRoot(), '.net');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const used = await hostNetworks();
  const start = parseInt(shortId(cluster).slice(0, 2), 16);
  for (let k = 0; k < 250; k++) {
    const x = 1 + ((start + k) % 250);
    const subnet = `${RANGE}.${x}`;
    if (used.some((n) => cidrsOverlap(n, `${subnet}.0/24`))) continue;
    const claim = join(dir, subnet);
    const fd = createExclusive(dir, claim);
    if (fd === undefined) continue;
    writeSync(fd, `${cluster}\n`);
    closeSync(fd);
    return { subnet, claim };
  }
  throw new LabError(
    `cluster "${cluster}": no free /24 in ${RANGE}.0.0/16 (all claimed under ${dir} or used by the host); bring other clusters down`,
  );
}

/**
 * Creates `file` in `dir` only if it does not exist yet: its fd, or undefined when it exists. Another
 * cluster's teardown may remove the (then empty) directory at any moment, so ENOENT re-creates it.
 */
function createExclusive(dir: string, file: string): number | undefined {
  for (let attempt = 0; ; attempt++) {
    try {
      return openSync(file, 'wx', 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return undefined;
      if (code !== 'ENOENT' || attempt >= 5) throw e;
      mkdirSync(dir, { recursive: true, mode: 0o755 });
    }
  }
}

export function releaseSubnet(claim: string): void {
  rmSync(claim, { force: true });
}

export async function linkExists(name: string): Promise<boolean> {
  const r = await run(['ip', '-o', 'link', 'show', 'dev', name]);
  return r.code === 0;
}

export async function createBridge(bridge: string, bridgeIp: string): Promise<void> {
  if (await linkExists(bridge)) {
    throw new LabError(
      `a link named ${bridge} exists already on this host; another cluster (or a name hash clash) owns it: pick another --name or bring that cluster down`,
    );
  }
  await runOk(['ip', 'link', 'add', 'name', bridge, 'type', 'bridge', 'forward_delay', '0']);
  await runOk(['ip', 'addr', 'add', `${bridgeIp}/24`, 'dev', bridge]);
  await runOk(['ip', 'link', 'set', 'dev', bridge, 'up']);
}

/**
 * Creates the veth pair of a machine: host end `veth` in the bridge, the other end moved into the
 * network namespace of the machine's PID 1 as eth0 with the machine's address (no default route).
 */
export async function attachMachine(bridge: string, veth: string, pid1: number, ip: string): Promise<void> {
  await runOk([
    'ip',
    'link',
    'add',
    'name',
    veth,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    String(pid1),
  ]);
  await runOk(['ip', 'link', 'set', 'dev', veth, 'master', bridge]);
  await runOk(['ip', 'link', 'set', 'dev', veth, 'up']);
  const inNs = ['nsenter', '-t', String(pid1), '-n', '--'];
  await runOk([...inNs, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await runOk([...inNs, 'ip', 'link', 'set', 'dev', 'eth0', 'up']);
  await runOk([...inNs, 'ip', 'link', 'set', 'dev', 'lo', 'up']);
}

export async function setLinkUp(name: string, up: boolean): Promise<void> {
  await runOk(['ip', 'link', 'set', 'dev', name, up ? 'up' : 'down']);
}

/**
 * Plugs a cut machine back in: its veth up, then both sides forget the neighbours that failed
 * while it was cut (else connections fail with "no route to host" for a few seconds), and wait
 * until the link carries traffic.
 */
export async function healMachineLink(veth: string, pid1: number, timeoutMs = 3000): Promise<void> {
  await setLinkUp(veth, true);
  await run(['nsenter', '-t', String(pid1), '-n', '--', 'ip', 'neigh', 'flush', 'dev', 'eth0']);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let state = '';
    try {
      state = readFileSync(`/sys/class/net/${veth}/operstate`, 'utf8').trim();
    } catch {
      // not there (yet)
    }
    if (state === 'up') return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new LabError(`link ${veth} is not up ${timeoutMs} ms after heal`);
}

/** Whether the link is administratively up. */
export async function linkIsUp(name: string): Promise<boolean | undefined> {
  const r = await run(['ip', '-o', 'link', 'show', 'dev', name]);
  if (r.code !== 0) return undefined;
  const flags = /<([^>]*)>/.exec(r.stdout)?.[1]?.split(',') ?? [];
  return flags.includes('UP');
}

/** Deletes a link if it exists. */
export async function deleteLink(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  const r = await run(['ip', 'link', 'del', 'dev', name]);
  if (r.code !== 0 && (await linkExists(name))) {
    throw new LabError(`cannot delete link ${name}: ${r.stderr.trim()}`);
  }
}
