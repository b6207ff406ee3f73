/**
 * `fleetctl status` and `fleetctl journal` served by the fleetd of the unit's machine:
 *
 *   GET /fleet/v1/units/{name}/status                        systemctl status of the unit
 *   GET /fleet/v1/units/{name}/journal?lines=N&follow=true   journalctl -u, streamed (chunked)
 *
 * What is decided here is pure (the query, the argv, which machine serves, who may ask); the
 * processes are spawned through a UnitCommandRunner (argument arrays, never a shell), so tests of
 * the routing can run a stand-in command where no systemd runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { unitNameProblem } from '../../units/names.js';
import { ApiError } from './errors.js';

/** journalctl's default --lines for fleetctl journal (fleet's too). */
export const DEFAULT_JOURNAL_LINES = 10;
export const MAX_JOURNAL_LINES = 1_000_000;

/** The header that carries systemctl status' exit code (0 running, 3 not running, 4 unknown unit). */
export const EXIT_STATUS_HEADER = 'x-fleet-exit-status';
/** The header naming the machine that answered. */
export const MACHINE_HEADER = 'x-fleet-machine-id';

export interface JournalQuery {
  lines: number;
  follow: boolean;
}

/** ?lines=N&follow=true|false. Pure; throws ApiError 400 on a bad value. */
export function parseJournalQuery(params: URLSearchParams): JournalQuery {
  const rawLines = params.get('lines');
  let lines = DEFAULT_JOURNAL_LINES;
  if (rawLines !== null) {
    if (!/^\d+$/.test(rawLines) || Number(rawLines) > MAX_JOURNAL_LINES) {
      throw new ApiError(
        400,
        `lines=${JSON.stringify(rawLines)} is not a number of lines from 0 to ${MAX_JOURNAL_LINES}`,
      );
    }
    lines = Number(rawLines);
  }
  const rawFollow = params.get('follow');
  if (rawFollow !== null && !['true', 'false', '1', '0', ''].includes(rawFollow)) {
    throw new ApiError(400, `follow=${JSON.stringify(rawFollow)} must be true or false`);
  }
  return { lines, follow: rawFollow === 'true' || rawFollow === '1' || rawFollow === '' };
}

/** Refuses a name that is not a unit name before it can reach a command line. Pure. */
export function checkUnitName(name: string): void {
  const problem = unitNameProblem(name);
  if (problem !== null) throw new ApiError(400, `invalid unit name ${JSON.stringify(name)}: ${problem}`);
}

export function statusArgv(name: string): string[] {
  return ['systemctl', 'status', '--no-pager', '--full', '-n', '10', '--', name];
}

export function journalArgv(name: string, q: JournalQuery): string[] {
  return [
    'journalctl',
    `--unit=${name}`,
    '--lines',
    String(q.lines),
    '--no-pager',
    ...(q.follow ? ['--follow'] : []),
  ];
}

/** Spawns argv[0] with the rest as arguments (never through a shell); stdout and stderr piped. */
export type UnitCommandRunner = (argv: readonly string[]) => ChildProcess;

export const spawnUnitCommand: UnitCommandRunner = (argv) =>
  spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', LANG: 'C.UTF-8' },
  });

/**
 * Who may read a unit's status and journal: a client of the unix socket (file permissions guard
 * it) or of a TLS listener that checked its client certificate. Plain TCP is refused. Pure.
 */
export function mayReadUnitOutput(req: IncomingMessage): boolean {
  const s = req.socket as Partial<TLSSocket> & { remoteAddress?: string };
  if (s.encrypted) return s.authorized === true;
  return s.remoteAddress === undefined; // a unix socket has no remote address
}

export type Placement =
  | { kind: 'local' }
  | { kind: 'remote'; machineId: string }
  | { kind: 'refused'; status: number; message: string };

/** The header a fleetd sets on a request it forwards to another machine's fleetd. */
export const FORWARDED_HEADER = 'x-fleet-forwarded-by';

/**
 * Which machine answers for `unit`: the one asked (?machineID=), else the only machine it is
 * scheduled on. `self` is this fleetd's machine (undefined: it runs no agent). A forwarded request
 * is never forwarded again (no proxy loops). Pure.
 */
export function placeUnitOutput(
  unit: string,
  scheduledOn: readonly string[],
  asked: string | undefined,
  self: string | undefined,
  forwarded: boolean,
): Placement {
  let target = asked;
  if (target === undefined) {
    if (scheduledOn.length === 0) {
      return {
        kind: 'refused',
        status: 409,
        message: `unit ${unit} is not scheduled on any machine; start or load it first (fleetctl why ${unit} says why it is not placed)`,
      };
    }
    if (scheduledOn.length > 1) {
      return {
        kind: 'refused',
        status: 409,
        message: `unit ${unit} is global and runs on ${scheduledOn.length} machines (${scheduledOn.join(', ')}); ask one with ?machineID=`,
      };
    }
    target = scheduledOn[0]!;
  }
  if (self !== undefined && target === self) return { kind: 'local' };
  if (forwarded) {
    return {
      kind: 'refused',
      status: 421,
      message: `this fleetd is machine ${self ?? '(none: it runs no agent)'}, not ${target}, and does not forward a forwarded request; ask ${target}'s fleetd`,
    };
  }
  return { kind: 'remote', machineId: target };
}
