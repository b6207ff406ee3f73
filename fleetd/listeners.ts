/**
 * The API's listeners: the sockets systemd passed (socket activation: LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES, descriptors from 3, as sd_listen_fds(3)), or else those of the configuration: a
 * unix socket (api_unix_socket, default /var/run/fleet.sock) and optionally TCP (api_tcp_address),
 * with TLS and client-certificate checking when api_tls_* are set.
 *
 * The listeners live as long as fleetd: a SIGHUP reload keeps them (a change to the listener
 * options is logged as needing a restart).
 */
import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:net';
import type { FleetConfig } from '../lib/config.js';
import { FleetError, errorMessage } from '../lib/errors.js';

export const SD_LISTEN_FDS_START = 3;

export interface PassedFd {
  fd: number;
  /** LISTEN_FDNAMES' name for it ("unknown" when not given, as systemd). */
  name: string;
}

/**
 * The descriptors systemd passed to process `pid`, from its environment. Pure. Empty when
 * LISTEN_PID names another process (the variables were inherited, not meant for us) or is absent.
 * Throws ListenerError when the variables are malformed.
 */
export function passedFds(env: Readonly<Record<string, string | undefined>>, pid: number): PassedFd[] {
  const lp = env['LISTEN_PID'];
  const lf = env['LISTEN_FDS'];
  if (lp === undefined || lf === undefined) return [];
  if (!/^\d+$/.test(lp.trim()))
    throw new ListenerError(`LISTEN_PID=${JSON.stringify(lp)} is not a process ID`);
  if (Number(lp) !== pid) return [];
  if (!/^\d+$/.test(lf.trim())) throw new ListenerError(`LISTEN_FDS=${JSON.stringify(lf)} is not a number`);
  const n = Number(lf);
  const names = env['LISTEN_FDNAMES']?.split(':') ?? [];
  return Array.from({ length: n }, (_, i) => ({ fd: SD_LISTEN_FDS_START + i, name: names[i] || 'unknown' }));
}

export class ListenerError extends FleetError<'LISTENER'> {
  constructor(message: string, cause?: unknown) {
    super('LISTENER', message, cause === undefined ? {} : { cause });
  }
}

export interface Listener {
  /** "fd 3 (fleet.socket)", "unix /var/run/fleet.sock", "tcp 127.0.0.1:49153", "tls :49153". */
  readonly description: string;
  readonly server: Server;
}

export interface Listeners {
  readonly list: readonly Listener[];
  /** Whether they came from socket activation. */
  readonly activated: boolean;
  close(): Promise<void>;
}

export interface OpenOptions {
  env?: NodeJS.ProcessEnv;
  pid?: number;
  readFile?: (path: string) => Buffer;
}

type ListenCfg = Pick<
  FleetConfig,
  'apiUnixSocket' | 'apiTcpAddress' | 'apiTlsCertFile' | 'apiTlsKeyFile' | 'apiTlsCaFile'
>;

/** The listener options as a comparable text (a reload compares them). Pure. */
export function listenerSettings(cfg: ListenCfg): string {
  return JSON.stringify([
    cfg.apiUnixSocket,
    cfg.apiTcpAddress,
    cfg.apiTlsCertFile,
    cfg.apiTlsKeyFile,
    cfg.apiTlsCaFile,
  ]);
}

function listen(
  server: Server,
  target: { fd: number } | { path: string } | { host: string; port: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if ('fd' in target) server.listen({ fd: target.fd }, done);
    else if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, target.host === '' ? undefined : target.host, done);
  });
}

/** Removes a stale unix socket file: one nobody listens on any more (a crashed fleetd's). */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // absent
  }
  if (!isSocket)
    throw new ListenerError(
      `${path} exists and is not a socket; remove it or set api_unix_socket to another path`,
    );
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive)
    throw new ListenerError(
      `another process (another fleetd?) already serves ${path}; stop it or set api_unix_socket to another path`,
    );
  unlinkSync(path);
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}

/** Opens (or adopts) every listener, each serving `handler`. All or nothing. */
export async function openListeners(
  cfg: ListenCfg,
  handler: RequestListener,
  opts: OpenOptions = {},
): Promise<Listeners> {
  const env = opts.env ?? process.env;
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p));
  const fds = passedFds(env, opts.pid ?? process.pid);
  // As sd_listen_fds(unset=1): children (systemd-notify...) must not take them for theirs.
  delete env['LISTEN_PID'];
  delete env['LISTEN_FDS'];
  delete env['LISTEN_FDNAMES'];
  const opened: Listener[] = [];
  const unixPaths: string[] = [];
  const closeAll = async () => {
    await Promise.all(opened.map((l) => closeServer(l.server)));
    for (const p of unixPaths) {
      try {
        unlinkSync(p);
      } catch {
        // already gone
      }
    }
  };
  try {
    if (fds.length > 0) {
      for (const f of fds) {
        const server = createHttpServer(handler);
        const description = `fd ${f.fd} (${f.name})`;
        try {
          await listen(server, { fd: f.fd });
        } catch (e) {
          throw new ListenerError(
            `cannot serve the socket systemd passed as ${description}: ${errorMessage(e)}; check the ListenStream= of fleet.socket`,
            e,
          );
        }
        opened.push({ description, server });
      }
    } else {
      if (cfg.apiUnixSocket) {
        const path = cfg.apiUnixSocket;
        await clearStaleSocket(path);
        const server = createHttpServer(handler);
        try {
          await listen(server, { path });
        } catch (e) {
          throw new ListenerError(
            `cannot listen on unix socket ${path} (api_unix_socket): ${errorMessage(e)}`,
            e,
          );
        }
        unixPaths.push(path);
        opened.push({ description: `unix ${path}`, server });
      }
      if (cfg.apiTcpAddress) {
        const { host, port } = cfg.apiTcpAddress;
        const shown = `${host.includes(':') ? `[${host}]` : host}:${port}`;
        let server: Server;
        let kind = 'tcp';
        if (cfg.apiTlsCertFile && cfg.apiTlsKeyFile) {
          kind = 'tls';
          const files: Record<string, Buffer> = {};
          for (const [k, opt, p] of [
            ['cert', 'api_tls_certfile', cfg.apiTlsCertFile],
            ['key', 'api_tls_keyfile', cfg.apiTlsKeyFile],
            ['ca', 'api_tls_cafile', cfg.apiTlsCaFile],
          ] as const) {
            if (!p) continue;
            try {
              files[k] = readFile(p);
            } catch (e) {
              throw new ListenerError(`cannot read ${opt} ${p}: ${errorMessage(e)}`, e);
            }
          }
          try {
            server = createHttpsServer(
              {
                cert: files['cert'],
                key: files['key'],
                ...(files['ca'] ? { ca: files['ca'], requestCert: true, rejectUnauthorized: true } : {}),
              },
              handler,
            ) as unknown as Server;
          } catch (e) {
            throw new ListenerError(
              `the API's TLS certificate or key is unusable (api_tls_certfile, api_tls_keyfile): ${errorMessage(e)}`,
              e,
            );
          }
        } else {
          server = createHttpServer(handler);
        }
        try {
          await listen(server, { host, port });
        } catch (e) {
          throw new ListenerError(`cannot listen on ${shown} (api_tcp_address): ${errorMessage(e)}`, e);
        }
        opened.push({ description: `${kind} ${shown}`, server });
      }
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  return { list: opened, activated: fds.length > 0, close: closeAll };
}
