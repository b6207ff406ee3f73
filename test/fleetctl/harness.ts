/**
 * Test helpers for fleetctl: run `node bin/fleetctl.js ...` as a subprocess (asynchronously, so a
 * test can act as the cluster meanwhile), and a stand-in cluster on a real etcd through lib/registry:
 * machines and unit states on a lease (as agents write them) and fenced assignments (as the engine
 * writes them). `autopilot()` plays engine + agent: it places every unit whose desired state is not
 * inactive on the first machine and reports what systemd would say. No etcd mocks.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Registry, type Fence, type ScheduleChange } from '../../lib/registry/index.js';

const BIN = resolve('bin/fleetctl.js');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const started = Date.now();
  return new Promise((ok, ko) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20000);
    child.on('error', ko);
    child.on('close', (status) => {
      clearTimeout(timer);
      ok({ status, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** fleetctl with the etcd driver on this test's etcd and prefix. */
export function etcdArgs(endpoint: string, prefix: string): string[] {
  return ['--driver=etcd', `--endpoint=${endpoint}`, `--etcd-key-prefix=${prefix}`];
}

export class StandInCluster {
  readonly reg: Registry;
  private fence: Fence | undefined;
  private leaseId: string | undefined;
  private leaseObj: ReturnType<Etcd3['lease']> | undefined;
  private campaign: { resign(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  readonly machines: { id: string; ip: string }[] = [];
  /** false: play the engine only (placements, but no agent reports). */
  agents = true;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.reg = new Registry(client, { prefix });
  }

  private async lease(): Promise<string> {
    if (this.leaseId === undefined) {
      this.leaseObj = this.client.lease(60, { autoKeepAlive: false });
      this.leaseId = await this.leaseObj.grant();
    }
    return this.leaseId;
  }

  async addMachine(
    id: string,
    ip: string,
    metadata: Record<string, string> = {},
    extra: { apiEndpoint?: string } = {},
  ): Promise<void> {
    await this.reg.putMachine(
      { id, publicIp: ip, metadata, version: '0.1.0', draining: false, ...extra },
      await this.lease(),
    );
    this.machines.push({ id, ip });
  }

  private async theFence(): Promise<Fence> {
    if (!this.fence) {
      const c = this.reg.engineElection(30).campaign('test-engine');
      await new Promise<void>((ok, ko) => c.on('elected', ok).on('error', ko));
      this.campaign = c;
      this.fence = await this.reg.fenceFor(await c.getCampaignKey());
    }
    return this.fence;
  }

  /** One pass of engine + agent: assignments and unit states follow the desired states. */
  async step(): Promise<void> {
    const m = this.machines[0];
    if (!m) throw new Error('add a machine first');
    const [units, schedule, states] = await Promise.all([
      this.reg.listUnits(),
      this.reg.listSchedule(),
      this.reg.listUnitStates(),
    ]);
    const changes: ScheduleChange[] = [];
    const wanted = new Set<string>();
    const newStates = [];
    for (const u of units.items) {
      const r = u.record;
      if (r.desiredState === 'inactive' || r.name.includes('@.')) continue;
      wanted.add(r.name);
      const cur = schedule.items.find((s) => s.record.unit === r.name);
      if (!cur || cur.record.desiredState !== r.desiredState || cur.record.hash !== r.hash) {
        changes.push({
          type: 'put',
          unitCreateRevision: u.createRevision,
          record: { unit: r.name, machineId: m.id, body: r.body, hash: r.hash, desiredState: r.desiredState },
        });
      }
      const launched = r.desiredState === 'launched';
      newStates.push({
        unit: r.name,
        machineId: m.id,
        loadState: 'loaded',
        activeState: launched ? 'active' : 'inactive',
        subState: launched ? 'running' : 'dead',
        hash: r.hash,
      });
    }
    for (const s of schedule.items) {
      if (!wanted.has(s.record.unit))
        changes.push({ type: 'delete', machineId: s.record.machineId, unit: s.record.unit });
    }
    if (changes.length > 0) await this.reg.applySchedule(await this.theFence(), changes);
    const stale = states.items.filter((s) => !wanted.has(s.record.unit)).map((s) => s.record.unit);
    if (stale.length > 0) await this.reg.deleteUnitStates(m.id, stale);
    if (newStates.length > 0 && this.agents) await this.reg.putUnitStates(newStates, await this.lease());
  }

  /** Runs step() every `ms` until stop(). */
  autopilot(ms = 100): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.step()
        .catch(() => undefined)
        .finally(() => (this.busy = false));
    }, ms);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    await this.leaseObj?.revoke().catch(() => undefined);
    await this.campaign?.resign().catch(() => undefined);
  }
}
