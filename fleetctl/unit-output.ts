/**
 * Reading a unit's status or journal from a fleetd (fleetd/api/unit-output.ts serves it): one GET
 * whose body is streamed to the caller as it arrives, for both drivers. The request timeout covers
 * the wait for the answer to start; a followed journal then streams for as long as it runs.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { RequestOptions } from 'node:https';
import { DriverError, type DriverOptions } from './driver.js';
import { readTlsFiles } from './tls-files.js';
import { tlsProblem } from './tls-words.js';

export type UnitOutputRequest = { kind: 'status' } | { kind: 'journal'; lines: number; follow: boolean };

export interface UnitOutputResult {
  /** The machine that answered (when it said). */
  machineId: string | undefined;
  /** systemctl status' exit code (status only): 0 active, 3 not active, 4 no such unit. */
  exitStatus: number | undefined;
}

/** `units/NAME/status` or `units/NAME/journal?lines=N[&follow=true]`, plus extra query. Pure. */
export function unitOutputPath(
  name: string,
  req: UnitOutputRequest,
  extra: Record<string, string> = {},
): string {
  const q = new URLSearchParams();
  if (req.kind === 'journal') {
    q.set('lines', String(req.lines));
    if (req.follow) q.set('follow', 'true');
  }
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const query = q.toString();
  return `units/${encodeURIComponent(name)}/${req.kind}${query ? `?${query}` : ''}`;
}

export interface StreamTarget {
  request: (options: RequestOptions, cb: (res: IncomingMessage) => void) => ClientRequest;
  options: RequestOptions;
  timeoutMs: number;
  /** Builds the error for a failed connection (names the endpoint and what to do). */
  unreachable: (e: Error) => DriverError;
  /** Builds the error for a refusal (status and the server's message). */
  refused: (status: number, message: string) => DriverError;
}

/** GETs the output and hands each chunk to `sink`. */
export function streamUnitOutput(t: StreamTarget, sink: (chunk: Buffer) => void): Promise<UnitOutputResult> {
  return new Promise((resolve, reject) => {
    const req = t.request({ ...t.options, method: 'GET' }, (res) => {
      req.setTimeout(0);
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(t.unreachable(e)));
        res.on('end', () =>
          reject(t.refused(status, errorMessageOf(Buffer.concat(chunks).toString('utf8')))),
        );
        return;
      }
      const header = (k: string) => {
        const v = res.headers[k];
        return typeof v === 'string' && v !== '' ? v : undefined;
      };
      const exit = header('x-fleet-exit-status');
      res.on('data', (c: Buffer) => sink(c));
      res.on('error', (e) => reject(t.unreachable(e)));
      res.on('end', () =>
        resolve({
          machineId: header('x-fleet-machine-id'),
          exitStatus: exit !== undefined && /^\d+$/.test(exit) ? Number(exit) : undefined,
        }),
      );
    });
    req.setTimeout(t.timeoutMs, () => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'FLEETCTL_TIMEOUT' }));
    });
    req.on('error', (e) => reject(t.unreachable(e)));
    req.end();
  });
}

/** fleet's error body's message, or the text itself. Pure. */
export function errorMessageOf(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof j.error?.message === 'string' && j.error.message !== '') return j.error.message;
  } catch {
    // not JSON
  }
  return text.trim() === '' ? 'no reason given' : text.trim().slice(0, 500);
}

/** A connection error, in words (TLS refusals included). Pure. */
export function whyUnreachable(e: Error, timeoutMs: number): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'FLEETCTL_TIMEOUT') return `no answer within ${timeoutMs / 1000} s (--request-timeout)`;
  if (code === 'ENOENT') return 'no such socket';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'EACCES') return 'permission denied (run as a user allowed to use the socket)';
  if (code === 'ENOTFOUND') return 'unknown host';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT') return 'host unreachable';
  const tls = tlsProblem(e);
  if (tls !== undefined) return tls;
  if (code === 'ECONNRESET' || code === 'EPIPE')
    return 'the connection was closed (a TLS server that wants a client certificate does this)';
  return e.message;
}

/**
 * A fleetd's API endpoint as advertised in its machine record, dialled with fleet's TLS flags
 * (--ca-file, --cert-file, --key-file): the etcd driver's way to a unit's machine.
 */
export async function remoteTarget(
  endpoint: string,
  opts: Pick<DriverOptions, 'caFile' | 'certFile' | 'keyFile' | 'requestTimeoutMs'>,
  ctx: { unit: string; where: string; path: string },
): Promise<StreamTarget> {
  let url: URL;
  try {
    url = new URL(`/fleet/v1/${ctx.path}`, endpoint);
  } catch {
    throw new DriverError(
      'SERVER',
      `unit ${ctx.unit} runs on ${ctx.where}, which advertises an unusable API endpoint ${JSON.stringify(endpoint)}`,
    );
  }
  const https = url.protocol === 'https:';
  const tls = https ? readTlsFiles(opts) : {};
  const mod = https ? await import('node:https') : await import('node:http');
  const what = `the fleetd of ${ctx.where} at ${url.origin} (for unit ${ctx.unit})`;
  const hint = https
    ? tls.cert
      ? 'check that --ca-file is the cluster CA and that it signed --cert-file'
      : 'fleetctl needs --ca-file, --cert-file and --key-file (FLEETCTL_CA_FILE, FLEETCTL_CERT_FILE, FLEETCTL_KEY_FILE) for it'
    : 'check that fleetd runs there';
  return {
    request: (o, cb) => mod.request(o, cb),
    options: {
      protocol: url.protocol,
      host: url.hostname,
      port: url.port ? Number(url.port) : https ? 443 : 80,
      path: url.pathname + url.search,
      headers: { accept: 'text/plain, application/json' },
      ...tls,
    },
    timeoutMs: opts.requestTimeoutMs,
    unreachable: (e) => {
      const tlsWhy = tlsProblem(e);
      return new DriverError(
        'UNREACHABLE',
        `cannot reach ${what}: ${tlsWhy ?? `${whyUnreachable(e, opts.requestTimeoutMs)}; ${hint}`}`,
        { cause: e },
      );
    },
    refused: (status, message) =>
      new DriverError(status === 404 ? 'UNIT_NOT_FOUND' : 'SERVER', `${what} refused: ${message}`),
  };
}
