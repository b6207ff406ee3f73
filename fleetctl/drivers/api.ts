/**
 * `--driver=api` (the default): fleetctl as a client of fleet's HTTP API v1, the wire format of
 * coreos/fleet's api/ package, served by fleetd:
 *
 *   GET    /fleet/v1/units[?nextPageToken=T]        {"units":[Unit...],"nextPageToken":"T2"}
 *   GET    /fleet/v1/units/NAME                     Unit, or 404
 *   PUT    /fleet/v1/units/NAME   Unit              201 created / 204 updated
 *   DELETE /fleet/v1/units/NAME                     204, or 404
 *   GET    /fleet/v1/state[?unitName=N]             {"states":[UnitState...],"nextPageToken":...}
 *   GET    /fleet/v1/machines                       {"machines":[Machine...],"nextPageToken":...}
 *   errors                                         {"error":{"code":404,"message":"..."}}
 *
 *   Unit      {name, options:[{section,name,value}], desiredState, currentState, machineID}
 *   UnitState {name, hash, machineID, systemdLoadState, systemdActiveState, systemdSubState}
 *   Machine   {id, primaryIP, metadata}
 *
 * Endpoints: unix:///path/to.sock (default unix:///var/run/fleet.sock) or http(s)://host:port.
 * Only node:http(s) is loaded: never the etcd client.
 */
import http from 'node:http';
import type { RequestOptions } from 'node:https';
import {
  DESIRED_STATES,
  DriverError,
  refuseMissing,
  type DesiredState,
  type DesiredStateChange,
  type Driver,
  type DriverOptions,
  type MachineInfo,
  type NewUnitInfo,
  type UnitInfo,
  type UnitOptionRecord,
  type UnitStateInfo,
  type WhyInfo,
} from '../driver.js';
import { readTlsFiles, tlsFlagsSet, type TlsFiles } from '../tls-files.js';
import { tlsProblem } from '../tls-words.js';
import type { UnitOutputRequest, UnitOutputResult } from '../unit-output.js';
// units/ (the unit-file grammar) is loaded only by the calls that read or send unit files, so
// list-units and list-machines do not pay for it.
type UnitText = typeof import('../unit-text.js');
let unitText: UnitText | undefined;
const loadUnitText = async (): Promise<UnitText> => (unitText ??= await import('../unit-text.js'));

export const API_BASE = '/fleet/v1/';
/** Up to this many units, they are read one GET each (in parallel) instead of listing the cluster. */
const ONE_BY_ONE = 16;
/** Items per page fleetctl asks fleetd for (fleetd's ?pageSize= extension; docs/api.md). */
export const PAGE_SIZE = 10000;
/** Writes in flight at once (fleet's API has no batch: one PUT or DELETE per unit). */
const WRITE_CONCURRENCY = 16;
/** At most this many pages are followed (a loop guard against a server repeating its token). */
const MAX_PAGES = 100000;

export interface ApiTarget {
  /** For messages: the endpoint as given. */
  endpoint: string;
  socketPath?: string;
  protocol: 'http:' | 'https:';
  host: string;
  port: number;
  /** Path prefix before /fleet/v1/ (from http://host:port/prefix). */
  pathPrefix: string;
}

/** Parses --endpoint for the API driver. Pure. */
export function parseApiEndpoint(endpoint: string): ApiTarget {
  const first = endpoint.split(',')[0]!.trim();
  const bad = (why: string) =>
    new DriverError(
      'USAGE',
      `--endpoint ${JSON.stringify(first)} is not a fleet API address: ${why}; use unix:///var/run/fleet.sock or http://host:port (or --driver=etcd with etcd's URLs)`,
    );
  let url: URL;
  try {
    url = new URL(first);
  } catch {
    throw bad('it is not a URL');
  }
  if (url.protocol === 'unix:' || url.protocol === 'file:') {
    // "unix://var/run/fleet.sock" puts "var" in the host: fleet refuses it too.
    if (url.host !== '')
      throw bad(`the socket path must be absolute: write ${url.protocol}///${url.host}${url.pathname}`);
    if (url.pathname === '' || url.pathname === '/') throw bad('no socket path');
    return {
      endpoint: first,
      socketPath: decodeURIComponent(url.pathname),
      protocol: 'http:',
      host: 'domain-sock',
      port: 80,
      pathPrefix: '',
    };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw bad(`scheme ${url.protocol} is not unix:, http: or https:`);
  return {
    endpoint: first,
    protocol: url.protocol,
    host: url.hostname,
    port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
    pathPrefix: url.pathname.replace(/\/+$/, ''),
  };
}

interface WireUnit {
  name?: unknown;
  options?: unknown;
  desiredState?: unknown;
  currentState?: unknown;
  machineID?: unknown;
  source?: unknown;
  invalid?: unknown;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function state(v: unknown, fallback: DesiredState): DesiredState {
  return (DESIRED_STATES as readonly unknown[]).includes(v) ? (v as DesiredState) : fallback;
}

/** A wire Unit to a UnitInfo. Pure; throws DriverError SERVER on a malformed one. */
export function unitFromWire(w: WireUnit, where: string, text: UnitText): UnitInfo {
  if (!isObj(w) || typeof w.name !== 'string' || !Array.isArray(w.options)) {
    throw new DriverError('SERVER', `${where} answered a unit without a name or options; is it fleet's API?`);
  }
  const options: UnitOptionRecord[] = w.options.filter(isObj).map((o) => ({
    section: str(o.section),
    name: str(o.name),
    value: str(o.value),
  }));
  const body = text.bodyOfOptions(options);
  const hash = text.hashOfBody(w.name, body);
  const machineId = str(w.machineID);
  return {
    name: w.name,
    body,
    options,
    hash,
    desiredState: state(w.desiredState, 'inactive'),
    currentState: state(w.currentState, 'inactive'),
    machineId: machineId || undefined,
    machineIds: machineId ? [machineId] : [],
    global: text.isGlobalOptions(options),
    source: typeof w.source === 'string' ? w.source : undefined,
    ...(typeof w.invalid === 'string' ? { invalid: w.invalid } : {}),
  };
}

export function unitStateFromWire(w: unknown): UnitStateInfo | undefined {
  if (!isObj(w) || typeof w.name !== 'string') return undefined;
  return {
    name: w.name,
    machineId: str(w.machineID),
    hash: str(w.hash),
    loadState: str(w.systemdLoadState),
    activeState: str(w.systemdActiveState),
    subState: str(w.systemdSubState),
  };
}

export function machineFromWire(w: unknown): MachineInfo | undefined {
  if (!isObj(w) || typeof w.id !== 'string') return undefined;
  const metadata: Record<string, string> = {};
  if (isObj(w.metadata)) for (const [k, v] of Object.entries(w.metadata)) metadata[k] = str(v);
  // fleetd adds "draining": true to fleet's Machine when a machine is drained.
  return { id: w.id, primaryIp: str(w.primaryIP), metadata, draining: w.draining === true };
}

/** The wire Unit fleetctl sends (PUT): fleet's schema.Unit. */
export function unitToWire(
  name: string,
  desiredState: DesiredState,
  options?: UnitOptionRecord[],
  extra: { source?: string } = {},
): Record<string, unknown> {
  const u: Record<string, unknown> = { name, desiredState };
  if (options !== undefined) u.options = options;
  // Beyond fleet's schema (fleetd reads them; fleet ignores unknown fields).
  if (extra.source !== undefined) u.source = extra.source;
  return u;
}

interface Response {
  status: number;
  body: unknown;
}

/**
 * The TLS server name (SNI) of a target: its host name, or '' for an IP address or a unix socket,
 * as node's Agent would compute it, but without its IPv6 check, whose regular expression costs a
 * CLI start-up several milliseconds. Pure.
 */
export function serverNameOf(t: ApiTarget): string {
  if (t.socketPath || t.protocol !== 'https:') return '';
  return /^[\d.]+$/.test(t.host) || t.host.includes(':') || t.host.startsWith('[') ? '' : t.host;
}

export class ApiDriver implements Driver {
  readonly kind = 'api' as const;
  readonly endpoint: string;
  private readonly agent: http.Agent;

  private constructor(
    private readonly target: ApiTarget,
    private readonly timeoutMs: number,
    private readonly tls: TlsFiles,
    private readonly httpsModule: typeof import('node:https') | undefined,
  ) {
    this.endpoint = target.endpoint;
    this.agent = httpsModule
      ? new httpsModule.Agent({ keepAlive: true, ...tls })
      : new http.Agent({ keepAlive: true });
  }

  static async open(opts: DriverOptions): Promise<ApiDriver> {
    const target = parseApiEndpoint(opts.endpoint);
    // A unix socket is this machine's fleetd: no TLS to speak, so the files (often set for the
    // whole shell, as fleet-lab's export line does) are left unused. Plain http:// with TLS files
    // is a mistake worth a word: the user meant https://.
    let tls: TlsFiles = {};
    if (target.socketPath === undefined) {
      const first = tlsFlagsSet(opts)[0];
      if (first && target.protocol !== 'https:') {
        throw new DriverError(
          'USAGE',
          `${first.flag} is set but --endpoint ${target.endpoint} is not https://; use an https:// endpoint or drop the TLS flags`,
        );
      }
      tls = readTlsFiles(opts);
    }
    const httpsModule = target.protocol === 'https:' ? await import('node:https') : undefined;
    return new ApiDriver(target, opts.requestTimeoutMs, tls, httpsModule);
  }

  private request(method: string, path: string, payload?: unknown): Promise<Response> {
    const t = this.target;
    const data = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload));
    const options: RequestOptions = {
      method,
      path: t.pathPrefix + API_BASE + path,
      agent: this.agent,
      headers: {
        accept: 'application/json',
        ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
      },
      ...(t.socketPath ? { socketPath: t.socketPath } : { host: t.host, port: t.port }),
      servername: serverNameOf(t),
    };
    const mod = this.httpsModule ?? http;
    return new Promise<Response>((resolve, reject) => {
      const req = mod.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(this.unreachable(e)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = undefined;
          if (text.trim() !== '') {
            try {
              body = JSON.parse(text);
            } catch {
              reject(
                new DriverError(
                  'SERVER',
                  `${this.endpoint} answered ${method} ${options.path} with HTTP ${res.statusCode} and a body that is not JSON; is it fleet's API? (check --endpoint)`,
                ),
              );
              return;
            }
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(Object.assign(new Error('timeout'), { code: 'FLEETCTL_TIMEOUT' }));
      });
      req.on('error', (e) => reject(this.unreachable(e)));
      req.end(data);
    });
  }

  private unreachable(e: Error): DriverError {
    const tls = tlsProblem(e);
    if (tls !== undefined) {
      return new DriverError('UNREACHABLE', `cannot use the fleet API at ${this.endpoint}: ${tls}`, {
        cause: e,
      });
    }
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'FLEETCTL_TIMEOUT'
        ? `no answer within ${this.timeoutMs / 1000} s (--request-timeout)`
        : code === 'ENOENT'
          ? 'no such socket'
          : code === 'ECONNREFUSED'
            ? 'connection refused'
            : code === 'EACCES'
              ? 'permission denied (run as a user allowed to use the socket)'
              : code === 'ENOTFOUND'
                ? 'unknown host'
                : e.message;
    return new DriverError(
      'UNREACHABLE',
      `cannot reach the fleet API at ${this.endpoint}: ${why}; check that fleetd runs there with its API enabled, or pass --endpoint (FLEETCTL_ENDPOINT), or use --driver=etcd --endpoint http://ETCD:2379`,
      { cause: e, retryable: true },
    );
  }

  private fail(res: Response, what: string): DriverError {
    const err = isObj(res.body) && isObj(res.body.error) ? res.body.error : undefined;
    const msg =
      err && typeof err.message === 'string' && err.message !== '' ? err.message : `HTTP ${res.status}`;
    const code =
      res.status === 404
        ? 'UNIT_NOT_FOUND'
        : res.status === 409
          ? 'UNIT_EXISTS'
          : res.status >= 400 && res.status < 500
            ? 'INVALID'
            : 'SERVER';
    return new DriverError(code, `the fleet API at ${this.endpoint} refused to ${what}: ${msg}`);
  }

  /**
   * Follows nextPageToken until the last page. Asks fleetd for pages of PAGE_SIZE (its ?pageSize=
   * extension: one round trip for most listings); fleet's servers ignore it and page as usual.
   */
  private async pages(path: string, key: string, what: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let token: string | undefined;
    const base = `${path}${path.includes('?') ? '&' : '?'}pageSize=${PAGE_SIZE}`;
    for (let i = 0; i < MAX_PAGES; i++) {
      const res = await this.request(
        'GET',
        token ? `${base}&nextPageToken=${encodeURIComponent(token)}` : base,
      );
      if (res.status !== 200) throw this.fail(res, what);
      if (!isObj(res.body) || (res.body[key] !== undefined && !Array.isArray(res.body[key]))) {
        throw new DriverError(
          'SERVER',
          `${this.endpoint} answered ${what} without a "${key}" list; is it fleet's API? (check --endpoint)`,
        );
      }
      items.push(...((res.body[key] as unknown[] | undefined) ?? []));
      const next = res.body.nextPageToken;
      if (typeof next !== 'string' || next === '') return items;
      token = next;
    }
    throw new DriverError('SERVER', `${this.endpoint} kept paging ${what}; giving up`);
  }

  async listUnits(): Promise<UnitInfo[]> {
    const [items, text] = await Promise.all([this.pages('units', 'units', 'list units'), loadUnitText()]);
    return items.map((w) => unitFromWire(w as WireUnit, this.endpoint, text));
  }

  async getUnit(name: string): Promise<UnitInfo | undefined> {
    const res = await this.request('GET', `units/${encodeURIComponent(name)}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.fail(res, `read unit ${name}`);
    return unitFromWire(res.body as WireUnit, this.endpoint, await loadUnitText());
  }

  async getUnits(names: readonly string[]): Promise<UnitInfo[]> {
    if (names.length > ONE_BY_ONE) {
      const wanted = new Set(names);
      return (await this.listUnits()).filter((u) => wanted.has(u.name));
    }
    // A few units: GET /units/NAME each, in parallel, not the whole (paged) cluster.
    const units = await Promise.all(names.map((n) => this.getUnit(n)));
    return units.filter((u): u is UnitInfo => u !== undefined);
  }

  async snapshot(names: readonly string[]): Promise<{ units: UnitInfo[]; states: UnitStateInfo[] }> {
    const wanted = new Set(names);
    const [units, states] = await Promise.all([
      this.getUnits(names),
      names.length > ONE_BY_ONE
        ? this.listUnitStates()
        : Promise.all(names.map((n) => this.listUnitStates(n))).then((s) => s.flat()),
    ]);
    return { units, states: states.filter((s) => wanted.has(s.name)) };
  }

  async submitUnits(units: readonly NewUnitInfo[]): Promise<{ created: string[]; existing: string[] }> {
    // One create-only PUT per unit (fleet's API has no batch), several in flight, after one read of
    // which exist; a unit created meanwhile by someone else is then answered 409 (different file) or
    // only given this desired state (same file), as fleet's PUT.
    const created: string[] = [];
    const existing: string[] = [];
    const text = await loadUnitText();
    const present = new Set((await this.getUnits(units.map((u) => u.name))).map((u) => u.name));
    await inFlight(units, WRITE_CONCURRENCY, async (u) => {
      if (present.has(u.name)) {
        existing.push(u.name);
        return;
      }
      const res = await this.request(
        'PUT',
        `units/${encodeURIComponent(u.name)}`,
        unitToWire(
          u.name,
          u.desiredState,
          text.optionsOfBody(u.body),
          u.source !== undefined ? { source: u.source } : {},
        ),
      );
      if (res.status !== 201 && res.status !== 204 && res.status !== 200)
        throw this.fail(res, `submit unit ${u.name}`);
      created.push(u.name);
    });
    return { created, existing };
  }

  async replaceUnit(
    name: string,
    body: string,
    opts: { desiredState?: DesiredState; source?: string } = {},
  ): Promise<void> {
    const cur = await this.getUnit(name);
    if (!cur) throw new DriverError('UNIT_NOT_FOUND', `unit ${name} does not exist; submit it first`);
    // fleet's PUT cannot change an existing unit's file; fleetd's ?replace=true does (docs/api.md).
    const res = await this.request(
      'PUT',
      `units/${encodeURIComponent(name)}?replace=true`,
      unitToWire(
        name,
        opts.desiredState ?? cur.desiredState,
        (await loadUnitText()).optionsOfBody(body),
        opts.source !== undefined ? { source: opts.source } : {},
      ),
    );
    if (res.status !== 201 && res.status !== 204 && res.status !== 200)
      throw this.fail(res, `replace unit ${name}`);
    const after = await this.getUnit(name);
    if (after && after.hash !== (await loadUnitText()).hashOfBody(name, body)) {
      throw new DriverError(
        'SERVER',
        `the fleet API at ${this.endpoint} accepted the new file of ${name} but still has the old one (an API without fleet-ts's ?replace=true cannot replace unit files); use --driver=etcd, or destroy and submit the unit again`,
      );
    }
  }

  async setDesiredState(name: string, state: DesiredState): Promise<void> {
    const res = await this.request('PUT', `units/${encodeURIComponent(name)}`, unitToWire(name, state));
    if (res.status !== 204 && res.status !== 200 && res.status !== 201)
      throw this.fail(res, `set unit ${name} to ${state}`);
  }

  async setDesiredStates(changes: readonly DesiredStateChange[]): Promise<void> {
    const missing: string[] = [];
    await inFlight(changes, WRITE_CONCURRENCY, async (c) => {
      // fleet's PUT of a name it does not have and no options is refused (400 or 404).
      const res = await this.request(
        'PUT',
        `units/${encodeURIComponent(c.name)}`,
        unitToWire(c.name, c.state),
      );
      if (res.status === 404) missing.push(c.name);
      else if (res.status !== 204 && res.status !== 200 && res.status !== 201)
        throw this.fail(res, `set unit ${c.name} to ${c.state}`);
    });
    refuseMissing(missing, 'set the desired state of');
  }

  async destroyUnits(names: readonly string[]): Promise<{ destroyed: string[]; missing: string[] }> {
    const destroyed: string[] = [];
    const missing: string[] = [];
    await inFlight(names, WRITE_CONCURRENCY, async (name) => {
      const res = await this.request('DELETE', `units/${encodeURIComponent(name)}`);
      if (res.status === 404) missing.push(name);
      else if (res.status !== 204 && res.status !== 200) throw this.fail(res, `destroy unit ${name}`);
      else destroyed.push(name);
    });
    return { destroyed, missing };
  }

  async destroyUnit(name: string): Promise<void> {
    const res = await this.request('DELETE', `units/${encodeURIComponent(name)}`);
    if (res.status === 404) throw new DriverError('UNIT_NOT_FOUND', `unit ${name} does not exist`);
    if (res.status !== 204 && res.status !== 200) throw this.fail(res, `destroy unit ${name}`);
  }

  async listUnitStates(unit?: string): Promise<UnitStateInfo[]> {
    const path = unit === undefined ? 'state' : `state?unitName=${encodeURIComponent(unit)}`;
    const items = await this.pages(path, 'states', 'list unit states');
    return items
      .map(unitStateFromWire)
      .filter((s): s is UnitStateInfo => s !== undefined && (unit === undefined || s.name === unit));
  }

  async listMachines(): Promise<MachineInfo[]> {
    const items = await this.pages('machines', 'machines', 'list machines');
    return items.map(machineFromWire).filter((m): m is MachineInfo => m !== undefined);
  }

  async why(name: string): Promise<WhyInfo> {
    const res = await this.request('GET', `units/${encodeURIComponent(name)}/why`);
    if (res.status === 404) {
      throw new DriverError(
        'UNIT_NOT_FOUND',
        `unit ${name} is not in the cluster (or this API has no /why); check the name with fleetctl list-unit-files`,
      );
    }
    if (res.status !== 200) throw this.fail(res, `explain unit ${name}`);
    const b = res.body;
    if (!isObj(b) || !Array.isArray(b.reasons)) {
      throw new DriverError(
        'SERVER',
        `${this.endpoint} answered /units/${name}/why without reasons; is it fleetd's API?`,
      );
    }
    const machineIds = Array.isArray(b.machineIDs)
      ? b.machineIDs.filter((m): m is string => typeof m === 'string')
      : [];
    return {
      name,
      desiredState: state(b.desiredState, 'inactive'),
      placed: b.placed === true,
      machineIds,
      reasons: b.reasons.filter((r): r is string => typeof r === 'string'),
      ...(typeof b.since === 'string' ? { since: b.since } : {}),
    };
  }

  async setDraining(machineId: string, draining: boolean): Promise<void> {
    const res = await this.request('PUT', `machines/${encodeURIComponent(machineId)}/draining`, { draining });
    if (res.status === 404) {
      throw new DriverError(
        'MACHINE_NOT_FOUND',
        `machine ${machineId} is not in the cluster; see fleetctl list-machines --full`,
      );
    }
    if (res.status !== 204 && res.status !== 200)
      throw this.fail(res, `${draining ? 'drain' : 'undrain'} machine ${machineId}`);
  }

  /**
   * GET /fleet/v1/units/NAME/status|journal: the fleetd asked serves the unit itself if it runs
   * there, or forwards to the fleetd of the unit's machine over mutual TLS.
   */
  async unitOutput(
    name: string,
    request: UnitOutputRequest,
    sink: (chunk: Buffer) => void,
  ): Promise<UnitOutputResult> {
    const { streamUnitOutput, unitOutputPath } = await import('../unit-output.js');
    const t = this.target;
    const path = t.pathPrefix + API_BASE + unitOutputPath(name, request);
    return streamUnitOutput(
      {
        request: (o, cb) => (this.httpsModule ?? http).request(o, cb),
        options: {
          path,
          agent: this.agent,
          servername: serverNameOf(t),
          headers: { accept: 'text/plain, application/json' },
          ...(t.socketPath ? { socketPath: t.socketPath } : { host: t.host, port: t.port }),
        },
        timeoutMs: this.timeoutMs,
        unreachable: (e) => this.unreachable(e),
        refused: (status, message) =>
          new DriverError(
            status === 404 ? 'UNIT_NOT_FOUND' : status < 500 ? 'INVALID' : 'SERVER',
            `the fleet API at ${this.endpoint} could not give the ${request.kind} of unit ${name}: ${message}`,
          ),
      },
      sink,
    );
  }

  /**
   * Lets the process exit at once: the kept-alive sockets stop holding the event loop, and are
   * destroyed on the next turn if the process lives on (a test); fleetctl exits before that, and
   * skips the cost of tearing them down.
   */
  close(): Promise<void> {
    for (const list of Object.values(this.agent.freeSockets)) for (const s of list ?? []) s.unref();
    setImmediate(() => this.agent.destroy()).unref();
    return Promise.resolve();
  }
}

/** Runs `f` on every item, at most `limit` at a time; the first failure is thrown (after the rest). */
async function inFlight<T>(items: readonly T[], limit: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await f(items[next++]!);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
