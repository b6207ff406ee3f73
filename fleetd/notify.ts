/**
 * sd_notify for fleetd: READY=1 once it serves, RELOADING=1 / READY=1 around a SIGHUP reload,
 * STOPPING=1 on the way out, STATUS= lines in between.
 *
 * The protocol is one datagram on the unix socket named by NOTIFY_SOCKET. Node has no unix datagram
 * sockets, and the npm packages that add them (sd-notify, unix-dgram) are native addons that must be
 * compiled at install time (node-gyp fetching Node's headers), which a fresh machine without a
 * compiler or network cannot do. So fleetd hands each message to systemd's own `systemd-notify`
 * with `--pid=<fleetd's pid>`: systemd attributes it to fleetd's main process (as root the
 * credentials carry that PID; fleetd.service also sets NotifyAccess=all for older systemds).
 * Without NOTIFY_SOCKET (not started by systemd with Type=notify) every call does nothing.
 */
import { execFile } from 'node:child_process';
import { errorMessage } from '../lib/errors.js';

export type Run = (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => Promise<void>;

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** The PID systemd should credit (default process.pid). */
  pid?: number;
  /** The systemd-notify binary (default "systemd-notify" on PATH). */
  binary?: string;
  run?: Run;
  /** Told when a message could not be sent (fleetd goes on: systemd would time it out). */
  onError?: (message: string) => void;
}

export interface Notifier {
  /** True when NOTIFY_SOCKET is set: messages are sent. */
  readonly enabled: boolean;
  ready(status?: string): Promise<void>;
  reloading(status?: string): Promise<void>;
  stopping(status?: string): Promise<void>;
  status(text: string): Promise<void>;
}

const defaultRun: Run = (file, args, env) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { env, timeout: 5000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });

/** The arguments of one systemd-notify call. Pure. */
export function notifyArgs(pid: number, fields: readonly string[]): string[] {
  return [`--pid=${pid}`, ...fields.map((f) => f.replace(/\n/g, ' '))];
}

export function createNotifier(opts: NotifierOptions = {}): Notifier {
  const env = opts.env ?? process.env;
  const socket = env['NOTIFY_SOCKET'];
  const pid = opts.pid ?? process.pid;
  const run = opts.run ?? defaultRun;
  const binary = opts.binary ?? 'systemd-notify';
  const enabled = socket !== undefined && socket !== '';
  const send = async (fields: string[]) => {
    if (!enabled) return;
    try {
      await run(binary, notifyArgs(pid, fields), { ...env, NOTIFY_SOCKET: socket });
    } catch (e) {
      opts.onError?.(`could not notify systemd (${fields.join(' ')}) via ${binary}: ${errorMessage(e)}`);
    }
  };
  const withStatus = (f: string, status?: string) => (status ? [f, `STATUS=${status}`] : [f]);
  return {
    enabled,
    ready: (s) => send(withStatus('READY=1', s)),
    reloading: (s) => send(withStatus('RELOADING=1', s)),
    stopping: (s) => send(withStatus('STOPPING=1', s)),
    status: (t) => send([`STATUS=${t}`]),
  };
}
