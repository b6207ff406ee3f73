/**
 * Forwarding a status/journal request to the fleetd of the unit's machine, at the API endpoint its
 * machine record advertises, over mutual TLS: this fleetd's own certificate and key
 * (api_tls_certfile/keyfile) are its client identity, its api_tls_cafile checks the peer.
 * The answer (status, headers, body) is streamed back as it comes; when our client goes away, the
 * request to the peer is destroyed, which ends the peer's journalctl.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { errorMessage } from '../../lib/errors.js';
import { ApiError } from './errors.js';
import { FORWARDED_HEADER } from './unit-output.js';

export interface PeerTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** What fleetd needs to reach its peers; undefined tls: it cannot (no api_tls_* configured). */
export interface PeerAccess {
  tls: PeerTls | undefined;
  /** Until the peer's answer starts (ms). */
  timeoutMs: number;
}

const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/**
 * https://host:port + path. Throws ApiError 502 naming the unit and machine when the endpoint is
 * unusable.
 */
export function peerUrl(unit: string, machineId: string, endpoint: string | undefined, path: string): URL {
  if (!endpoint) {
    throw new ApiError(
      502,
      `unit ${unit} runs on machine ${machineId}, which advertises no API endpoint (its fleetd has no api_tcp_address); configure api_tcp_address and api_tls_* there`,
    );
  }
  let url: URL;
  try {
    url = new URL(path, endpoint);
  } catch {
    throw new ApiError(
      502,
      `unit ${unit} runs on machine ${machineId}, which advertises an unusable API endpoint ${JSON.stringify(endpoint)}`,
    );
  }
  if (url.protocol !== 'https:') {
    throw new ApiError(
      502,
      `unit ${unit} runs on machine ${machineId}, which serves its API over plain ${endpoint}, without TLS; unit status and journal are forwarded over mutual TLS only (set api_tls_certfile, api_tls_keyfile and api_tls_cafile there)`,
    );
  }
  return url;
}

export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  unit: string,
  machineId: string,
  url: URL,
  access: PeerAccess,
  selfId: string | undefined,
): Promise<void> {
  const tls = access.tls;
  if (!tls) {
    throw new ApiError(
      502,
      `unit ${unit} runs on machine ${machineId}, and this fleetd has no client certificate to reach it; set api_tls_certfile, api_tls_keyfile and api_tls_cafile here, or ask ${url.origin} directly`,
    );
  }
  return new Promise<void>((resolve, reject) => {
    let answered = false;
    const up = httpsRequest(
      url,
      {
        method: 'GET',
        cert: tls.cert,
        key: tls.key,
        ca: tls.ca,
        headers: { accept: req.headers.accept ?? '*/*', [FORWARDED_HEADER]: selfId ?? 'unknown' },
      },
      (peer) => {
        answered = true;
        up.setTimeout(0);
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(peer.headers)) {
          if (v !== undefined && !HOP_HEADERS.has(k)) headers[k] = v;
        }
        res.writeHead(peer.statusCode ?? 502, headers);
        if (typeof res.flushHeaders === 'function') res.flushHeaders();
        peer.pipe(res);
        peer.on('end', () => resolve());
        peer.on('error', () => {
          res.destroy();
          resolve();
        });
      },
    );
    up.setTimeout(access.timeoutMs, () =>
      up.destroy(
        Object.assign(new Error(`no answer within ${access.timeoutMs / 1000} s`), { code: 'TIMEOUT' }),
      ),
    );
    // Our client went away: end the request to the peer (its fleetd then stops journalctl).
    res.on('close', () => up.destroy());
    up.on('error', (e) => {
      if (answered) {
        res.destroy();
        resolve();
        return;
      }
      reject(
        new ApiError(
          502,
          `cannot reach the fleetd of machine ${machineId} at ${url.origin} for unit ${unit}: ${errorMessage(e)}; check that it runs and that its certificate and ours are signed by the same CA (api_tls_cafile)`,
        ),
      );
    });
    up.end();
  });
}
