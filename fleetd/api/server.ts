/**
 * fleet's HTTP API v1 over lib/registry: routing, bodies, status codes. The edge of the API: it
 * reads requests, asks the registry, and writes responses; what is decided (validation, shapes,
 * what a PUT does) is in shapes.ts, paging.ts and errors.ts.
 *
 *   const api = createApi({ registry, tokenLimit: 100, log, metrics });
 *   http.createServer(api.handle).listen(...)
 */
import type { ChildProcess } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { UnitExistsError } from '../../lib/registry/errors.js';
import type { Registry } from '../../lib/registry/registry.js';
import type { AssignmentRecord, UnitRecord, UnitStateRecord } from '../../lib/registry/records.js';
import type { Stored } from '../../lib/registry/stream.js';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from '../metrics.js';
import { VERSION } from '../version.js';
import { discoveryDocument } from './discovery.js';
import { FreshView } from './fresh-view.js';
import { ApiError, errorBody, mapError } from './errors.js';
import { pageOf, pageSizeFrom, pageTokenFrom, type PageToken } from './paging.js';
import { forward, peerUrl, type PeerAccess } from './peer.js';
import {
  applyMachineChanges,
  decidePut,
  machineToApi,
  optionsOfBody,
  parseJsonBody,
  parseMachinePatch,
  parsePutUnit,
  stateToApi,
  unitToApi,
  type ApiUnitOption,
  type MachineChange,
} from './shapes.js';
import {
  EXIT_STATUS_HEADER,
  FORWARDED_HEADER,
  MACHINE_HEADER,
  checkUnitName,
  journalArgv,
  mayReadUnitOutput,
  parseJournalQuery,
  placeUnitOutput,
  spawnUnitCommand,
  statusArgv,
  type UnitCommandRunner,
} from './unit-output.js';

/** The engine's answer to "why is this unit not placed?" (one reason per line); undefined: unknown. */
export type PlacementExplainer = (unit: string) => Promise<string[] | undefined> | string[] | undefined;

export interface ApiOptions {
  registry: Registry;
  /** fleet's token_limit (default 100). */
  tokenLimit?: number;
  log?: Logger;
  metrics?: MetricsRegistry;
  /** Request bodies over this many bytes get 413 (default 1 MiB). */
  maxBodyBytes?: number;
  /** Set by the engine when it can explain placements (GET /units/{name}/why). */
  explain?: PlacementExplainer;
  /** This fleetd's machine ID: status and journal of units scheduled here are served here. */
  machineId?: string;
  /** How to forward status and journal requests to the unit's machine (peer.ts). */
  peers?: PeerAccess;
  /** Runs systemctl and journalctl (default: spawns them; tests substitute a stand-in). */
  runUnitCommand?: UnitCommandRunner;
}

/** systemctl status output beyond this many bytes is cut (it is about 10 journal lines). */
const MAX_STATUS_BYTES = 1024 * 1024;

export interface Api {
  handle(req: IncomingMessage, res: ServerResponse): void;
  readonly metrics: MetricsRegistry;
  /** The engine plugs its explainer in when it starts (or removes it with undefined). */
  setExplainer(explain: PlacementExplainer | undefined): void;
  /** A reloaded token_limit (tokens of the old limit are then refused with 400, as fleet). */
  setTokenLimit(limit: number): void;
  /** Stops the watches behind the listings. */
  close(): Promise<void>;
  /** How unit and schedule listings were answered: from the watch-fed cache or from etcd. */
  readonly served: Record<'units' | 'schedule' | 'states', { cache: number; direct: number }>;
}

export const API_PREFIXES = ['/fleet/v1', '/v1-alpha'] as const;
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const JSON_TYPES = ['application/json', 'application/json-patch+json'];

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
}

function methodNotAllowed(allowed: string[]): never {
  if (allowed.length === 0) throw new ApiError(405, 'no method is supported against this resource');
  throw new ApiError(405, `only ${allowed.join(', ')} supported against this resource`, {
    Allow: allowed.join(', '),
  });
}

export function createApi(opts: ApiOptions): Api {
  const reg = opts.registry;
  let tokenLimit = opts.tokenLimit ?? 100;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = opts.log;
  const metrics = opts.metrics ?? new MetricsRegistry();
  let explain = opts.explain;
  const runUnitCommand = opts.runUnitCommand ?? spawnUnitCommand;
  /** The journalctl processes serving a client now: killed by close(). */
  const children = new Set<ChildProcess>();

  const requests = metrics.counter('fleet_api_requests_total', 'API requests by method and status code.', [
    'method',
    'code',
  ]);
  const latency = metrics.histogram('fleet_api_request_duration_seconds', 'API request latency.', ['method']);
  const etcdErrors = metrics.counter(
    'fleet_etcd_errors_total',
    'Requests to etcd that failed (unavailable, timeout, refused), as seen by the API.',
  );
  const unitsByDesired = metrics.gauge('fleet_units', 'Units by desired state.', ['desired_state']);
  const unitsByCurrent = metrics.gauge('fleet_units_current', 'Units by current (scheduled) state.', [
    'current_state',
  ]);
  const machines = metrics.gauge('fleet_machines', 'Machines in the cluster.');
  const drainingMachines = metrics.gauge('fleet_machines_draining', 'Machines that take no new units.');
  metrics.addCollector(async () => {
    try {
      const [units, sched, m] = await Promise.all([
        unitsView.items(),
        scheduleView.items(),
        reg.listMachines(),
      ]);
      const current = currentStates(sched);
      const desired = new Map<string, number>();
      const cur = new Map<string, number>();
      for (const st of ['inactive', 'loaded', 'launched']) {
        desired.set(st, 0);
        cur.set(st, 0);
      }
      for (const it of units) {
        desired.set(it.record.desiredState, (desired.get(it.record.desiredState) ?? 0) + 1);
        const c = current.get(it.id) ?? 'inactive';
        cur.set(c, (cur.get(c) ?? 0) + 1);
      }
      unitsByDesired.reset();
      unitsByCurrent.reset();
      for (const [k, v] of desired) unitsByDesired.set({ desired_state: k }, v);
      for (const [k, v] of cur) unitsByCurrent.set({ current_state: k }, v);
      machines.set({}, m.items.length);
      drainingMachines.set({}, m.items.filter((x) => x.record.draining).length);
    } catch (e) {
      if (mapError(e).etcd) etcdErrors.inc();
      throw e;
    }
  });

  // Listings come from watch-fed caches, checked against etcd at each request (fresh-view.ts).
  const unitsView = new FreshView<UnitRecord>({
    stream: () => reg.watchUnits(),
    watermark: () => reg.prefixWatermark('units'),
    direct: () => reg.listUnits(),
  });
  const scheduleView = new FreshView<AssignmentRecord>({
    stream: () => reg.watchSchedule(undefined),
    watermark: () => reg.prefixWatermark('schedule'),
    direct: () => reg.listSchedule(),
  });
  // Without it, every page of /state re-read every state from etcd (fleetctl list-units at 10,000
  // units: 100 full listings).
  const statesView = new FreshView<UnitStateRecord>({
    stream: () => reg.watchUnitStates(undefined),
    watermark: () => reg.prefixWatermark('states'),
    direct: () => reg.listUnitStates(),
  });

  // Parsing a body into options is the costly part of a listing: remember recent ones.
  const optionCache = new Map<string, ApiUnitOption[]>();
  const optionsOf = (body: string): ApiUnitOption[] => {
    const hit = optionCache.get(body);
    if (hit) return hit;
    const o = optionsOfBody(body);
    if (optionCache.size >= 20000) optionCache.delete(optionCache.keys().next().value!);
    optionCache.set(body, o);
    return o;
  };

  // ---------------------------------------------------------------- helpers

  const send = (ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    ctx.res.writeHead(status, {
      ...headers,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      'Content-Length': Buffer.byteLength(text),
    });
    ctx.res.end(text);
  };

  const token = (ctx: Ctx): PageToken => {
    const limit = pageSizeFrom(ctx.url.searchParams.getAll('pageSize')) ?? tokenLimit;
    return pageTokenFrom(ctx.url.searchParams.getAll('nextPageToken'), limit) ?? { limit, page: 1 };
  };

  const requireJson = (ctx: Ctx) => {
    const ct = ctx.req.headers['content-type'];
    if (ct === undefined) {
      throw new ApiError(415, 'expected 1 Content-Type, got 0; send Content-Type: application/json');
    }
    const media = ct.split(';', 1)[0]!.trim().toLowerCase();
    if (!JSON_TYPES.includes(media)) {
      throw new ApiError(415, `only acceptable Content-Type is application/json (got ${JSON.stringify(ct)})`);
    }
  };

  const readBody = (ctx: Ctx): Promise<string> =>
    new Promise((resolve, reject) => {
      const declared = Number(ctx.req.headers['content-length'] ?? '0');
      const tooBig = () =>
        new ApiError(413, `request body larger than ${maxBody} bytes; a unit file is at most 64 KiB`, {
          Connection: 'close',
        });
      if (declared > maxBody) {
        reject(tooBig());
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      ctx.req.on('data', (c: Buffer) => {
        if (done) return;
        size += c.length;
        if (size > maxBody) {
          done = true;
          reject(tooBig());
          return;
        }
        chunks.push(c);
      });
      ctx.req.on('end', () => {
        if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
        done = true;
      });
      ctx.req.on('error', (e) => {
        if (!done) reject(new ApiError(400, `could not read the request body: ${errorMessage(e)}`));
        done = true;
      });
    });

  const scheduleByUnit = async (): Promise<Map<string, AssignmentRecord[]>> => {
    const by = new Map<string, AssignmentRecord[]>();
    for (const it of await scheduleView.items()) {
      const list = by.get(it.record.unit);
      if (list) list.push(it.record);
      else by.set(it.record.unit, [it.record]);
    }
    return by;
  };

  const unitOrNotFound = async (name: string): Promise<Stored<UnitRecord>> => {
    const u = await reg.getUnit(name);
    if (!u) throw new ApiError(404, `unit ${name} does not exist`);
    return u;
  };

  // ---------------------------------------------------------------- resources

  const listUnits = async (ctx: Ctx) => {
    const tok = token(ctx);
    const [units, sched, reasons] = await Promise.all([
      unitsView.items(),
      scheduleByUnit(),
      reg.listReasons(),
    ]);
    // Beyond fleet: units whose key holds an invalid value, as the engine recorded them, listed
    // after the valid ones with "invalid": why (fleet's clients ignore the field).
    const valid = new Set(units.map((u) => u.id));
    const invalid = reasons.items
      .filter((r) => r.record.invalid !== undefined && !valid.has(r.record.unit))
      .map((r) => ({ invalid: r.record }));
    const { items, next } = pageOf([...units, ...invalid], tok);
    const out = items.map((u) =>
      'invalid' in u
        ? {
            name: u.invalid.unit,
            options: [],
            desiredState: 'inactive',
            currentState: 'inactive',
            invalid: u.invalid.invalid,
          }
        : unitToApi(u.record, sched.get(u.id) ?? [], optionsOf(u.record.body)),
    );
    send(ctx, 200, { units: out, ...(next ? { nextPageToken: next } : {}) });
  };

  const getUnit = async (ctx: Ctx, name: string) => {
    const u = await unitOrNotFound(name);
    const sched = await scheduleByUnit();
    send(ctx, 200, unitToApi(u.record, sched.get(name) ?? [], optionsOf(u.record.body)));
  };

  const putUnit = async (ctx: Ctx, name: string) => {
    requireJson(ctx);
    const req = parsePutUnit(name, await readBody(ctx));
    const replace = ['true', '1'].includes(ctx.url.searchParams.get('replace') ?? '');
    for (let attempt = 0; ; attempt++) {
      const existing = await reg.getUnit(req.name);
      const d = decidePut(req, existing?.record, replace);
      if (d.kind === 'set-state') {
        await reg.setDesiredState(d.name, d.desiredState);
        log?.info('unit desired state set', { unit: d.name, state: d.desiredState });
        send(ctx, 204, undefined);
        return;
      }
      if (d.kind === 'replace') {
        await reg.replaceUnit({
          name: d.name,
          body: d.body,
          ...(d.desiredState ? { desiredState: d.desiredState } : {}),
          ...(req.source ? { source: req.source } : {}),
        });
        log?.info('unit file replaced', { unit: d.name });
        send(ctx, 204, undefined);
        return;
      }
      try {
        await reg.submitUnit({
          name: d.name,
          body: d.body,
          desiredState: d.desiredState,
          source: req.source ?? 'api',
        });
      } catch (e) {
        // Another request created it between our read and our write: decide again on what it wrote.
        if (e instanceof UnitExistsError && attempt === 0) continue;
        if (e instanceof UnitExistsError) {
          throw new ApiError(
            409,
            `unit ${d.name} was created by another request at the same time; read it and retry`,
          );
        }
        throw e;
      }
      log?.info('unit created', { unit: d.name, state: d.desiredState });
      send(ctx, 201, undefined);
      return;
    }
  };

  const deleteUnit = async (ctx: Ctx, name: string) => {
    try {
      await reg.destroyUnit(name);
    } catch (e) {
      if (mapError(e).status === 404) throw new ApiError(404, `unit ${name} does not exist`);
      throw e;
    }
    log?.info('unit destroyed', { unit: name });
    send(ctx, 204, undefined);
  };

  const why = async (ctx: Ctx, name: string) => {
    const recordedInvalid = await reg.getReasons(name);
    if (recordedInvalid?.record.invalid !== undefined) {
      // The key holds a value fleet cannot use (a last good value may still run).
      const placed = (await scheduleByUnit()).get(name) ?? [];
      send(ctx, 200, {
        name,
        desiredState: 'inactive',
        placed: placed.length > 0,
        machineIDs: placed.map((a) => a.machineId).sort(),
        reasons: recordedInvalid.record.reasons,
        invalid: recordedInvalid.record.invalid,
        ...(recordedInvalid.record.since ? { since: recordedInvalid.record.since } : {}),
      });
      return;
    }
    const u = await unitOrNotFound(name);
    const placedOn = (await scheduleByUnit()).get(name) ?? [];
    const machineIDs = placedOn.map((a) => a.machineId).sort();
    let reasons: string[];
    let since: string | undefined;
    if (u.record.desiredState === 'inactive') {
      reasons = ['its desired state is inactive: the engine does not schedule it (start or load it first)'];
      if (machineIDs.length > 0)
        reasons.push(`still scheduled on ${machineIDs.join(', ')} until the engine removes it`);
    } else if (machineIDs.length > 0) {
      reasons = machineIDs.map((m) => `scheduled on machine ${m}`);
    } else {
      // What the engine leader recorded in the registry; else what an in-process engine says.
      const recorded = await reg.getReasons(name);
      if (recorded && recorded.record.reasons.length > 0) {
        reasons = recorded.record.reasons;
        since = recorded.record.since;
      } else {
        const told = explain ? await explain(name) : undefined;
        reasons =
          told && told.length > 0
            ? told
            : [
                'not placed: the engine has recorded no reason (it may not have run yet, or no engine is leading)',
              ];
      }
    }
    send(ctx, 200, {
      name,
      desiredState: u.record.desiredState,
      placed: machineIDs.length > 0,
      machineIDs,
      reasons,
      ...(since ? { since } : {}),
    });
  };

  const listStates = async (ctx: Ctx) => {
    const one = (param: string, what: string): string | undefined => {
      const v = ctx.url.searchParams.getAll(param);
      if (v.length > 1) throw new ApiError(400, `filtering on multiple ${what} is not supported`);
      return v[0] === '' ? undefined : v[0];
    };
    const machineID = one('machineID', 'machines');
    const unitName = one('unitName', 'units');
    if (machineID !== undefined) reg.refuseMachineId(machineID);
    const tok = token(ctx);
    const all = (await statesView.items())
      .filter((s) => machineID === undefined || s.record.machineId === machineID)
      .filter((s) => unitName === undefined || s.record.unit === unitName)
      .map((s) => stateToApi(s.record));
    const { items, next } = pageOf(all, tok);
    send(ctx, 200, { states: items, ...(next ? { nextPageToken: next } : {}) });
  };

  const listMachines = async (ctx: Ctx) => {
    const tok = token(ctx);
    const all = (await reg.listMachines()).items.map((m) => machineToApi(m.record));
    const { items, next } = pageOf(all, tok);
    send(ctx, 200, { machines: items, ...(next ? { nextPageToken: next } : {}) });
  };

  const applyChanges = async (changes: MachineChange[]) => {
    const byMachine = new Map<string, MachineChange[]>();
    for (const c of changes) byMachine.set(c.machineId, [...(byMachine.get(c.machineId) ?? []), c]);
    // Every machine must exist before anything is written.
    const present = new Set((await reg.listMachines()).items.map((m) => m.id));
    const missing = [...byMachine.keys()].filter((m) => !present.has(m));
    if (missing.length > 0) {
      throw new ApiError(
        404,
        `machine${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not in the cluster; nothing was changed`,
      );
    }
    for (const [id, list] of byMachine) {
      await reg.updateMachine(id, `update machine ${id}`, (cur) => applyMachineChanges(cur, list));
      log?.info('machine updated', { machine: id, changes: list.length });
    }
  };

  const patchMachines = async (ctx: Ctx) => {
    requireJson(ctx);
    await applyChanges(parseMachinePatch(await readBody(ctx)));
    send(ctx, 204, undefined);
  };

  const draining = async (ctx: Ctx, id: string) => {
    if (ctx.req.method === 'GET') {
      const m = (await reg.listMachines()).items.find((x) => x.id === id);
      if (!m) throw new ApiError(404, `machine ${id} is not in the cluster`);
      send(ctx, 200, { machineID: id, draining: m.record.draining });
      return;
    }
    requireJson(ctx);
    const j = parseJsonBody(await readBody(ctx));
    const v = typeof j === 'object' && j !== null ? (j as Record<string, unknown>)['draining'] : undefined;
    if (typeof v !== 'boolean') throw new ApiError(400, 'expected {"draining": true} or {"draining": false}');
    await applyChanges([{ machineId: id, kind: 'draining', draining: v }]);
    send(ctx, 204, undefined);
  };

  // ---------------------------------------------------------------- status and journal

  /** Spawns argv; resolves once it runs, rejects with an ApiError naming the command if it cannot. */
  const started = (argv: readonly string[]): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      const child = runUnitCommand(argv);
      child.once('spawn', () => resolve(child));
      child.once('error', (e) =>
        reject(
          new ApiError(
            500,
            `cannot run ${argv[0]} on machine ${opts.machineId ?? '(unknown)'}: ${errorMessage(e)}`,
          ),
        ),
      );
    });

  const localStatus = async (ctx: Ctx, name: string) => {
    const child = await started(statusArgv(name));
    const chunks: Buffer[] = [];
    let size = 0;
    const keep = (c: Buffer) => {
      if (size < MAX_STATUS_BYTES) chunks.push(c);
      size += c.length;
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
    const text = Buffer.concat(chunks);
    ctx.res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': text.length,
      [EXIT_STATUS_HEADER]: String(code),
      ...(opts.machineId ? { [MACHINE_HEADER]: opts.machineId } : {}),
    });
    ctx.res.end(text);
  };

  const localJournal = async (ctx: Ctx, name: string) => {
    const q = parseJournalQuery(ctx.url.searchParams);
    const child = await started(journalArgv(name, q));
    children.add(child);
    const { res } = ctx;
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      ...(opts.machineId ? { [MACHINE_HEADER]: opts.machineId } : {}),
    });
    res.flushHeaders();
    child.stdout?.pipe(res, { end: false });
    child.stderr?.pipe(res, { end: false });
    // The client went away (fleetctl ended, a proxy in between closed): stop journalctl by its PID.
    const onClose = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    res.on('close', onClose);
    await new Promise<void>((resolve) =>
      child.once('close', () => {
        children.delete(child);
        res.off('close', onClose);
        res.end();
        resolve();
      }),
    );
  };

  const unitOutput = async (ctx: Ctx, name: string, kind: 'status' | 'journal') => {
    checkUnitName(name);
    if (!mayReadUnitOutput(ctx.req)) {
      throw new ApiError(
        403,
        `the ${kind} of unit ${name} is served over the unix socket or a TLS listener that checks client certificates (api_tls_cafile), not over plain TCP`,
      );
    }
    if (kind === 'journal') parseJournalQuery(ctx.url.searchParams); // refuse bad values here already
    const asked = ctx.url.searchParams.get('machineID') || undefined;
    const forwarded = ctx.req.headers[FORWARDED_HEADER] !== undefined;
    let scheduledOn: string[] = [];
    if (asked === undefined) {
      await unitOrNotFound(name);
      scheduledOn = ((await scheduleByUnit()).get(name) ?? []).map((a) => a.machineId).sort();
    }
    const place = placeUnitOutput(name, scheduledOn, asked, opts.machineId, forwarded);
    if (place.kind === 'refused') throw new ApiError(place.status, place.message);
    if (place.kind === 'local') {
      if (kind === 'status') await localStatus(ctx, name);
      else await localJournal(ctx, name);
      return;
    }
    const id = place.machineId;
    const machine = (await reg.listMachines()).items.find((m) => m.id === id);
    if (!machine) {
      throw new ApiError(
        502,
        `unit ${name} is scheduled on machine ${id}, which is not in the cluster now (its agent is gone); wait for the engine to move the unit`,
      );
    }
    const query = new URLSearchParams(ctx.url.searchParams);
    query.set('machineID', id);
    const url = peerUrl(
      name,
      id,
      machine.record.apiEndpoint,
      `/fleet/v1/units/${encodeURIComponent(name)}/${kind}?${query.toString()}`,
    );
    if (!opts.peers) {
      throw new ApiError(
        502,
        `unit ${name} runs on machine ${id}, and this fleetd cannot forward to it; ask ${url.origin} directly`,
      );
    }
    log?.debug('forwarding unit output', { unit: name, kind, machine: id, to: url.origin });
    await forward(ctx.req, ctx.res, name, id, url, opts.peers, opts.machineId);
  };

  // ---------------------------------------------------------------- routing

  const route = async (ctx: Ctx): Promise<void> => {
    const path = ctx.url.pathname;
    const method = ctx.req.method ?? 'GET';
    if (path === '/metrics') {
      if (method !== 'GET') methodNotAllowed(['GET']);
      const text = await metrics.render();
      ctx.res.writeHead(200, {
        'Content-Type': PROMETHEUS_CONTENT_TYPE,
        'Content-Length': Buffer.byteLength(text),
      });
      ctx.res.end(text);
      return;
    }
    const prefix = API_PREFIXES.find((p) => path === p || path.startsWith(`${p}/`));
    if (prefix === undefined) {
      throw new ApiError(
        path === '/' ? 405 : 404,
        path === '/' ? 'the API is under /fleet/v1/' : `no such resource ${path}`,
      );
    }
    const rest = path.slice(prefix.length);
    if (rest === '' || rest === '/') methodNotAllowed([]);
    const parts = rest.slice(1).split('/').map(decodeSegment);
    const [top, item, sub, ...more] = parts;
    if (more.length > 0) throw new ApiError(404, `no such resource ${path}`);
    switch (top) {
      case 'discovery':
      case 'discovery.json':
        if (item !== undefined) break;
        if (method !== 'GET') methodNotAllowed(['GET']);
        return send(ctx, 200, discoveryDocument(VERSION));
      case 'units':
        if (item === undefined || item === '') {
          if (method !== 'GET') methodNotAllowed(['GET']);
          return listUnits(ctx);
        }
        if (sub === 'why') {
          if (method !== 'GET') methodNotAllowed(['GET']);
          return why(ctx, item);
        }
        if (sub === 'status' || sub === 'journal') {
          if (method !== 'GET') methodNotAllowed(['GET']);
          return unitOutput(ctx, item, sub);
        }
        if (sub !== undefined) break;
        if (method === 'GET') return getUnit(ctx, item);
        if (method === 'PUT') return putUnit(ctx, item);
        if (method === 'DELETE') return deleteUnit(ctx, item);
        return methodNotAllowed(['GET', 'PUT', 'DELETE']);
      case 'state':
        if (item !== undefined) break;
        if (method !== 'GET') methodNotAllowed(['GET']);
        return listStates(ctx);
      case 'machines':
        if (item === undefined || item === '') {
          if (method === 'GET') return listMachines(ctx);
          if (method === 'PATCH') return patchMachines(ctx);
          return methodNotAllowed(['GET', 'PATCH']);
        }
        if (sub === 'draining') {
          if (method !== 'GET' && method !== 'PUT') methodNotAllowed(['GET', 'PUT']);
          return draining(ctx, item);
        }
        break;
    }
    throw new ApiError(404, `no such resource ${path}`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    res.setHeader('Server', `fleetd/${VERSION}`);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://fleetd');
    } catch {
      url = new URL('http://fleetd/');
    }
    const ctx: Ctx = { req, res, url };
    res.on('finish', () => {
      requests.inc({ method, code: String(res.statusCode) });
      latency.observe(Number(process.hrtime.bigint() - started) / 1e9, { method });
      log?.debug('http', { method, path: url.pathname, code: res.statusCode });
    });
    route(ctx).catch((e: unknown) => {
      const m = mapError(e);
      if (m.etcd) etcdErrors.inc();
      if (m.internal)
        log?.error('API request failed', { method, path: url.pathname, error: errorMessage(e) });
      else if (m.status >= 500)
        log?.warn('API request failed', { method, path: url.pathname, error: m.message });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(ctx, m.status, errorBody(m.status, m.message), { ...m.headers });
      if (m.headers['Connection'] === 'close') res.on('finish', () => req.destroy());
    });
  };

  return {
    handle,
    metrics,
    setExplainer(e) {
      explain = e;
    },
    setTokenLimit(limit) {
      tokenLimit = limit;
    },
    async close() {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all([unitsView.close(), scheduleView.close(), statesView.close()]);
    },
    served: { units: unitsView.served, schedule: scheduleView.served, states: statesView.served },
  };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError(400, `bad percent-encoding in ${JSON.stringify(s)}`);
  }
}

function currentStates(items: readonly Stored<AssignmentRecord>[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const it of items) if (!m.has(it.record.unit)) m.set(it.record.unit, it.record.desiredState);
  return m;
}
