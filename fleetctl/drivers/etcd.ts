/**
 * `--driver=etcd`: fleetctl talks to etcd directly through lib/registry (THE key schema), like
 * fleet's registry client. Loaded only when chosen (see openDriver).
 */
import type { Etcd3 } from 'etcd3';
import { parseEndpoints } from '../../lib/config-values.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { FleetError, errorMessage } from '../../lib/errors.js';
import { Registry, type Stored, type UnitRecord, type AssignmentRecord } from '../../lib/registry/index.js';
import {
  DriverError,
  invalidUnitInfo,
  refuseMissing,
  type DesiredState,
  type DesiredStateChange,
  type Driver,
  type DriverOptions,
  type MachineInfo,
  type NewUnitInfo,
  type UnitInfo,
  type UnitStateInfo,
  type WhyInfo,
} from '../driver.js';
import { isGlobalOptions, optionsOfBody } from '../unit-text.js';
import {
  remoteTarget,
  streamUnitOutput,
  unitOutputPath,
  type UnitOutputRequest,
  type UnitOutputResult,
} from '../unit-output.js';

export class EtcdDriver implements Driver {
  readonly kind = 'etcd' as const;

  private constructor(
    readonly endpoint: string,
    private readonly client: Etcd3,
    private readonly registry: Registry,
    private readonly opts: DriverOptions,
  ) {}

  static open(opts: DriverOptions): EtcdDriver {
    const parsed = parseEndpoints(opts.endpoint);
    if (!parsed.ok) {
      throw new DriverError(
        'USAGE',
        `--endpoint ${JSON.stringify(opts.endpoint)} is not a list of etcd URLs: ${parsed.why}; with --driver=etcd give etcd's client URLs, e.g. http://127.0.0.1:2379`,
      );
    }
    const servers = parsed.value;
    const https = servers.some((s) => s.startsWith('https:'));
    // --etcd-cafile & co. are etcd's alone; fleet's --ca-file & co. serve etcd when its URLs are
    // https://, and always serve the fleetd APIs that status and journal reach.
    const ownEtcdTls = Boolean(opts.etcdCaFile || opts.etcdCertFile || opts.etcdKeyFile);
    const etcdTls = ownEtcdTls
      ? { ca: opts.etcdCaFile, cert: opts.etcdCertFile, key: opts.etcdKeyFile }
      : https
        ? { ca: opts.caFile, cert: opts.certFile, key: opts.keyFile }
        : {};
    if (ownEtcdTls && !https) {
      throw new DriverError(
        'USAGE',
        `--etcd-cafile/--etcd-certfile/--etcd-keyfile are set but --endpoint ${servers.join(',')} uses http://; use https:// endpoints or drop those flags`,
      );
    }
    if (Boolean(opts.certFile) !== Boolean(opts.keyFile) || Boolean(etcdTls.cert) !== Boolean(etcdTls.key)) {
      throw new DriverError('USAGE', '--cert-file and --key-file go together; give both or neither');
    }
    const cfg = {
      etcdServers: servers,
      etcdCaFile: etcdTls.ca || undefined,
      etcdCertFile: etcdTls.cert || undefined,
      etcdKeyFile: etcdTls.key || undefined,
      etcdRequestTimeoutMs: opts.requestTimeoutMs,
      etcdKeyPrefix: opts.etcdKeyPrefix,
    };
    let client: Etcd3;
    try {
      // One attempt per endpoint, short back-off: a CLI should fail fast and say why.
      client = createEtcdClient(cfg, {
        policy: { initialRetryDelayMs: 50, maxRetryDelayMs: 200 },
      });
    } catch (e) {
      throw rewrap(e, servers.join(','));
    }
    let registry: Registry;
    try {
      registry = new Registry(client, {
        prefix: opts.etcdKeyPrefix,
        errorContext: { endpoints: servers, requestTimeoutMs: opts.requestTimeoutMs },
        // A hand-written bad value is skipped by every reader; say so once, with its key.
        onInvalid: (r) => process.stderr.write(`fleetctl: warning: ${r.message}\n`),
      });
    } catch (e) {
      client.close();
      throw e;
    }
    return new EtcdDriver(servers.join(','), client, registry, opts);
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw rewrap(e, this.endpoint);
    }
  }

  async listUnits(): Promise<UnitInfo[]> {
    const [units, schedule, reasons] = await this.call(() =>
      Promise.all([this.registry.listUnits(), this.registry.listSchedule(), this.registry.listReasons()]),
    );
    const byUnit = groupSchedule(schedule.items);
    const out = units.items.map((u) => toUnitInfo(u, byUnit.get(u.id) ?? []));
    // Units whose key holds an invalid value: the engine recorded why (they list as "invalid").
    const valid = new Set(out.map((u) => u.name));
    for (const r of reasons.items) {
      const inv = r.record.invalid;
      if (inv !== undefined && !valid.has(r.record.unit)) out.push(invalidUnitInfo(r.record.unit, inv));
    }
    return out.sort(byName);
  }

  async getUnit(name: string): Promise<UnitInfo | undefined> {
    const [u, schedule] = await this.call(() =>
      Promise.all([this.registry.getUnit(name), this.registry.listSchedule()]),
    );
    if (!u) return undefined;
    return toUnitInfo(u, groupSchedule(schedule.items).get(name) ?? []);
  }

  async getUnits(names: readonly string[]): Promise<UnitInfo[]> {
    // The named unit keys in batched gets (not every unit body) and the schedule.
    const [units, schedule] = await this.call(() =>
      Promise.all([this.registry.getUnits(names), this.registry.listSchedule()]),
    );
    const byUnit = groupSchedule(schedule.items);
    return [...units.values()].map((u) => toUnitInfo(u, byUnit.get(u.id) ?? []));
  }

  async snapshot(names: readonly string[]): Promise<{ units: UnitInfo[]; states: UnitStateInfo[] }> {
    const [units, states] = await Promise.all([this.getUnits(names), this.listUnitStates()]);
    const wanted = new Set(names);
    return { units, states: states.filter((s) => wanted.has(s.name)) };
  }

  async submitUnits(units: readonly NewUnitInfo[]): Promise<{ created: string[]; existing: string[] }> {
    const r = await this.call(() =>
      this.registry.submitUnits(units.map((u) => ({ ...u, source: u.source ?? 'fleetctl' }))),
    );
    return { created: r.created, existing: r.existing };
  }

  async replaceUnit(
    name: string,
    body: string,
    opts: { desiredState?: DesiredState; source?: string } = {},
  ): Promise<void> {
    await this.call(() =>
      this.registry.replaceUnit({
        name,
        body,
        source: opts.source ?? 'fleetctl',
        ...(opts.desiredState ? { desiredState: opts.desiredState } : {}),
      }),
    );
  }

  async setDesiredState(name: string, state: DesiredState): Promise<void> {
    await this.call(() => this.registry.setDesiredState(name, state));
  }

  async setDesiredStates(changes: readonly DesiredStateChange[]): Promise<void> {
    if (changes.length === 0) return;
    const { missing } = await this.call(() => this.registry.setDesiredStates(changes));
    refuseMissing(missing, 'set the desired state of');
  }

  async destroyUnit(name: string): Promise<void> {
    await this.call(() => this.registry.destroyUnit(name));
  }

  async destroyUnits(names: readonly string[]): Promise<{ destroyed: string[]; missing: string[] }> {
    if (names.length === 0) return { destroyed: [], missing: [] };
    return this.call(() => this.registry.destroyUnits(names));
  }

  async listUnitStates(unit?: string): Promise<UnitStateInfo[]> {
    const states = await this.call(() => this.registry.listUnitStates());
    return states.items
      .map((s) => s.record)
      .filter((r) => unit === undefined || r.unit === unit)
      .map((r) => ({
        name: r.unit,
        machineId: r.machineId,
        hash: r.hash,
        loadState: r.loadState,
        activeState: r.activeState,
        subState: r.subState,
      }));
  }

  async listMachines(): Promise<MachineInfo[]> {
    const machines = await this.call(() => this.registry.listMachines());
    return machines.items.map((m) => ({
      id: m.record.id,
      primaryIp: m.record.publicIp,
      metadata: m.record.metadata,
      version: m.record.version,
      draining: m.record.draining,
    }));
  }

  async why(name: string): Promise<WhyInfo> {
    const u = await this.getUnit(name);
    const recorded = await this.call(() => this.registry.getReasons(name));
    if (recorded?.record.invalid !== undefined) {
      // The key holds a value fleet cannot use (a last good value may still run).
      return {
        name,
        desiredState: u?.desiredState ?? 'inactive',
        placed: (u?.machineIds.length ?? 0) > 0,
        machineIds: u?.machineIds ?? [],
        reasons: recorded.record.reasons,
        ...(recorded.record.since ? { since: recorded.record.since } : {}),
      };
    }
    if (!u) {
      throw new DriverError(
        'UNIT_NOT_FOUND',
        `unit ${name} is not in the cluster; check the name with fleetctl list-unit-files`,
      );
    }
    const w = whyOf(u);
    if (w.placed || u.desiredState === 'inactive') return w;
    // The engine leader records why it could not place a unit.
    if (!recorded || recorded.record.reasons.length === 0) return w;
    return {
      ...w,
      reasons: recorded.record.reasons,
      ...(recorded.record.since ? { since: recorded.record.since } : {}),
    };
  }

  async setDraining(machineId: string, draining: boolean): Promise<void> {
    try {
      await this.call(() =>
        this.registry.updateMachine(
          machineId,
          `${draining ? 'drain' : 'undrain'} machine ${machineId}`,
          (cur) => ({
            ...cur,
            draining,
          }),
        ),
      );
    } catch (e) {
      if (e instanceof FleetError && e.code === 'MACHINE_NOT_FOUND') {
        throw new DriverError(
          'MACHINE_NOT_FOUND',
          `machine ${machineId} is not in the cluster; see fleetctl list-machines --full`,
        );
      }
      throw e;
    }
  }

  /**
   * Straight to the fleetd of the unit's machine, at the API endpoint its machine record
   * advertises, with fleet's TLS flags (--ca-file, --cert-file, --key-file) as the client identity.
   */
  async unitOutput(
    name: string,
    request: UnitOutputRequest,
    sink: (chunk: Buffer) => void,
  ): Promise<UnitOutputResult> {
    const u = await this.getUnit(name);
    if (!u) {
      throw new DriverError(
        'UNIT_NOT_FOUND',
        `unit ${name} is not in the cluster; check the name with fleetctl list-unit-files`,
      );
    }
    const machineId = pickOutputMachine(u);
    const machines = await this.call(() => this.registry.listMachines());
    const m = machines.items.find((x) => x.id === machineId)?.record;
    if (!m) {
      throw new DriverError(
        'MACHINE_NOT_FOUND',
        `unit ${name} is scheduled on machine ${machineId}, which is not in the cluster now (its agent is gone); wait for the engine to move the unit`,
      );
    }
    const where = `machine ${machineId}${m.publicIp ? ` (${m.publicIp})` : ''}`;
    if (!m.apiEndpoint) {
      throw new DriverError(
        'CONFIG',
        `unit ${name} runs on ${where}, whose fleetd advertises no API endpoint; set api_tcp_address and api_tls_* in its fleet.conf, or run fleetctl ${request.kind} on that machine`,
      );
    }
    const t = remoteTarget(m.apiEndpoint, this.opts, {
      unit: name,
      where,
      path: unitOutputPath(name, request, { machineID: machineId }),
    });
    return streamUnitOutput(await t, sink);
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

/**
 * What etcd alone says about a unit's placement. The engine's reasons for NOT placing a unit are
 * kept by the engine and served by fleetd's API (--driver=api).
 */
export function whyOf(u: UnitInfo): WhyInfo {
  const base = {
    name: u.name,
    desiredState: u.desiredState,
    placed: u.machineIds.length > 0,
    machineIds: u.machineIds,
  };
  if (u.desiredState === 'inactive') {
    const reasons = [
      'its desired state is inactive: the engine does not schedule it (start or load it first)',
    ];
    if (u.machineIds.length > 0)
      reasons.push(`still scheduled on ${u.machineIds.join(', ')} until the engine removes it`);
    return { ...base, reasons };
  }
  if (u.machineIds.length > 0)
    return { ...base, reasons: u.machineIds.map((m) => `scheduled on machine ${m}`) };
  return {
    ...base,
    reasons: [
      "not placed: the engine has recorded no reason (it may not have run yet, or no engine is leading); check fleetctl list-machines (metadata, draining) against the unit's [X-Fleet] options",
    ],
  };
}

/** The one machine to ask for a unit's output; a DriverError when there is none or several. Pure. */
export function pickOutputMachine(u: UnitInfo): string {
  if (u.machineIds.length === 0) {
    throw new DriverError(
      'INVALID',
      `unit ${u.name} is not scheduled on any machine; start or load it first (fleetctl why ${u.name} says why it is not placed)`,
    );
  }
  if (u.machineIds.length > 1) {
    throw new DriverError(
      'INVALID',
      `unit ${u.name} is global and runs on ${u.machineIds.length} machines (${u.machineIds.join(', ')}); check it on one of them with systemctl status`,
    );
  }
  return u.machineIds[0]!;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function groupSchedule(items: Stored<AssignmentRecord>[]): Map<string, AssignmentRecord[]> {
  const out = new Map<string, AssignmentRecord[]>();
  for (const s of items) {
    const list = out.get(s.record.unit) ?? [];
    list.push(s.record);
    out.set(s.record.unit, list);
  }
  for (const list of out.values()) list.sort((a, b) => (a.machineId < b.machineId ? -1 : 1));
  return out;
}

function toUnitInfo(u: Stored<UnitRecord>, assigned: AssignmentRecord[]): UnitInfo {
  const r = u.record;
  const options = optionsOfBody(r.body);
  return {
    name: u.id,
    body: r.body,
    options,
    global: isGlobalOptions(options),
    hash: r.hash,
    desiredState: r.desiredState,
    currentState: assigned[0]?.desiredState ?? 'inactive',
    machineId: assigned[0]?.machineId,
    machineIds: assigned.map((a) => a.machineId),
    source: r.source,
  };
}

/** etcd's typed errors, reworded for a fleetctl user (flags, not fleet.conf options). */
function rewrap(e: unknown, endpoint: string): unknown {
  if (!(e instanceof FleetError)) return e;
  const flags = (m: string) =>
    m
      .replace(/etcd_servers/g, '--endpoint (FLEETCTL_ENDPOINT)')
      .replace(/etcd_cafile/g, '--ca-file')
      .replace(/etcd_certfile/g, '--cert-file')
      .replace(/etcd_keyfile/g, '--key-file')
      .replace(/etcd_request_timeout/g, '--request-timeout');
  if (e.code === 'ETCD_UNAVAILABLE' || e.code === 'ETCD_DEADLINE') {
    return new DriverError(
      'UNREACHABLE',
      `cannot reach etcd at ${endpoint} (--driver=etcd): ${shortCause(e)}; check that etcd is running there, or pass the right --endpoint (FLEETCTL_ENDPOINT)`,
      { cause: e, retryable: true },
    );
  }
  if (/^ETCD_(TLS|TLS_FILE|AUTH_FAILED|AUTH_REQUIRED|PERMISSION_DENIED)$/.test(e.code)) {
    return new DriverError('CONFIG', flags(e.message), { cause: e });
  }
  if (e.code.startsWith('ETCD_'))
    return new DriverError('SERVER', flags(e.message), { cause: e, retryable: e.retryable });
  return e;
}

function shortCause(e: FleetError): string {
  if (e.code === 'ETCD_DEADLINE') return 'no answer within --request-timeout';
  const text = `${e.message} ${errorMessage(e.cause ?? '')}`;
  if (/ECONNREFUSED/.test(text)) return 'connection refused';
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) return 'unknown host';
  if (/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/.test(text)) return 'host unreachable';
  const m = /: ([^;]*);/.exec(e.message);
  return m?.[1] ?? errorMessage(e.cause ?? e);
}
