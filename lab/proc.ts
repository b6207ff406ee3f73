/**
 * Processes for fleet-lab: run a command and collect its output, and name a process by PID plus
 * its start time (so a recorded PID that the kernel reused for something else is never signalled).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from './errors.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs argv[0] with the rest as arguments; never throws for a non-zero exit (see runOk). */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new LabError('run: empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            stderr += `\n(fleet-lab: killed after ${opts.timeoutMs} ms)`;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.once('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new LabError(`cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run(), but a non-zero exit is a LabError carrying the command and its stderr. */
export async function runOk(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    throw new LabError(
      `command failed (${r.code ?? r.signal}): ${argv.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

/** A process as the lab records it: PID and kernel start time (clock ticks since boot). */
export interface ProcRef {
  pid: number;
  start: number;
}

export interface ProcStat {
  state: string;
  ppid: number;
  start: number;
}

/** The state, parent and kernel start time of a process, from /proc/PID/stat; undefined once gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." where comm may contain spaces and parentheses.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0] ?? '?';
  const ppid = Number(rest[1]);
  const start = Number(rest[19]);
  return { state, ppid, start };
}

/** The ref of a live process, or undefined. */
export function procRef(pid: number): ProcRef | undefined {
  const st = readStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return undefined;
  return { pid, start: st.start };
}

/** True while the recorded process runs: same PID, same start time, not a zombie. */
export function refAlive(ref: ProcRef): boolean {
  const st = readStat(ref.pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X' && st.start === ref.start;
}

/** Signals the recorded process if it is still that process. Returns whether a signal was sent. */
export function signalRef(ref: ProcRef, sig: NodeJS.Signals | number): boolean {
  if (!refAlive(ref)) return false;
  try {
    process.kill(ref.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the recorded process is gone (or a zombie); false on timeout. Calls meanwhile() every ~200 ms. */
export async function waitGone(ref: ProcRef, timeoutMs: number, meanwhile?: () => void): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let next = Date.now() + 200;
  while (refAlive(ref)) {
    if (Date.now() >= deadline) return false;
    if (meanwhile && Date.now() >= next) {
      meanwhile();
      next = Date.now() + 200;
    }
    await sleep(25);
  }
  return true;
}

/** SIGTERM (or the given signal), then SIGKILL after graceMs; true once gone. */
export async function stopRef(
  ref: ProcRef,
  graceMs: number,
  sig: NodeJS.Signals | number = 'SIGTERM',
): Promise<boolean> {
  if (!signalRef(ref, sig)) return !refAlive(ref);
  if (await waitGone(ref, graceMs)) return true;
  signalRef(ref, 'SIGKILL');
  return waitGone(ref, 3000);
}

/** PIDs of the direct children of pid (all its threads). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSafe(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
