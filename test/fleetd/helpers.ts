/** Test helpers: an API server on 127.0.0.1, a JSON client, and cluster records written through lib/registry. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { Registry } from '../../lib/registry/index.js';
import { createApi, type Api, type ApiOptions } from '../../fleetd/api/server.js';

export interface Served {
  api: Api;
  server: Server;
  base: string;
  close(): Promise<void>;
}

export async function serveApi(opts: ApiOptions): Promise<Served> {
  const api = createApi(opts);
  const server = createServer(api.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    api,
    server,
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
      await api.close();
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!('Content-Type' in headers))
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  const r = await fetch(`${base}${path}`, init);
  const text = await r.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

/** Puts machine records (and optionally unit states) under a fresh lease, as an agent would. */
export async function addMachine(
  client: Etcd3,
  reg: Registry,
  id: string,
  extra: { ip?: string; metadata?: Record<string, string>; draining?: boolean } = {},
): Promise<string> {
  const lease = client.lease(30, { autoKeepAlive: false });
  const leaseId = await lease.grant();
  await reg.putMachine(
    {
      id,
      publicIp: extra.ip ?? '',
      metadata: extra.metadata ?? {},
      version: '0.1.0',
      draining: extra.draining ?? false,
    },
    leaseId,
  );
  return leaseId;
}

/** Places units as the engine would: an elected, fenced schedule write. */
export async function place(
  reg: Registry,
  placements: { unit: string; machineId: string; desiredState: 'loaded' | 'launched' }[],
): Promise<void> {
  const election = reg.engineElection(5);
  const campaign = election.campaign('test-engine');
  await new Promise<void>((resolve, reject) => campaign.on('elected', resolve).on('error', reject));
  try {
    const fence = await reg.fenceFor(await campaign.getCampaignKey());
    const changes = [];
    for (const p of placements) {
      const u = await reg.getUnit(p.unit);
      if (!u) throw new Error(`no unit ${p.unit}`);
      changes.push({
        type: 'put' as const,
        record: {
          unit: p.unit,
          machineId: p.machineId,
          body: u.record.body,
          hash: u.record.hash,
          desiredState: p.desiredState,
        },
      });
    }
    await reg.applySchedule(fence, changes);
  } finally {
    await campaign.resign();
  }
}

/** Records placement reasons as the engine leader would (fenced). */
export async function recordReasons(reg: Registry, unit: string, reasons: string[]): Promise<void> {
  const campaign = reg.engineElection(5).campaign('test-engine');
  await new Promise<void>((resolve, reject) => campaign.on('elected', resolve).on('error', reject));
  try {
    const fence = await reg.fenceFor(await campaign.getCampaignKey());
    await reg.applyReasons(fence, [
      { type: 'put', record: { unit, reasons, since: '2026-11-25T14:00:00.000Z' } },
    ]);
  } finally {
    await campaign.resign();
  }
}
