/**
 * Runs the diff's tasks against systemd, in their order, batching what systemd takes in one call:
 * one LinkUnitFiles for every load, one EnableUnitFiles for the loaded units with an [Install]
 * section, one DisableUnitFiles for every unload, one Reload; StartUnit/StopUnit per unit, sent
 * side by side. A failing task is reported (typed, naming the unit) and does not stop the others.
 */
import { parseUnitFile } from '../units/parse.js';
import type { Task } from './diff.js';
import { AgentError, systemdError } from './errors.js';
import type { SystemdClient } from './systemd.js';

export interface TaskOutcome {
  task: Task;
  error?: AgentError;
}

export interface RunContext {
  systemd: SystemdClient;
  /** The body (and hash) to write for a unit being loaded. */
  bodyOf(unit: string): { body: string; hash: string } | undefined;
  /** How long an unload waits for the unit to stop before unlinking it. */
  stopWaitMs?: number;
}

/** True when the unit file has an [Install] section with at least one option (pure). */
export function hasInstallSection(body: string): boolean {
  const r = parseUnitFile(body);
  return r.ok && r.unit.options.some((o) => o.section === 'Install');
}

function asAgentError(e: unknown, what: string, unit: string): AgentError {
  return e instanceof AgentError ? e : systemdError(e, what, unit);
}

/** Runs tasks in order; returns one outcome per task. Never throws. */
export async function runTasks(tasks: readonly Task[], ctx: RunContext): Promise<TaskOutcome[]> {
  const sd = ctx.systemd;
  const out: TaskOutcome[] = [];
  const byType = (t: Task['type']) => tasks.filter((x) => x.type === t);

  // unload: stop (and wait), then one disable (unlinks), reset-failed, delete the file.
  const unloads = byType('unload');
  if (unloads.length > 0) {
    const errors = new Map<string, AgentError>();
    await Promise.all(
      unloads.map(async (t) => {
        try {
          const job = await sd.stop(t.unit);
          await sd.waitJob(job, ctx.stopWaitMs ?? 90000);
        } catch (e) {
          // A unit systemd does not know is already stopped.
          if (/NoSuchUnit/.test(String((e as Error).message))) return;
          errors.set(t.unit, asAgentError(e, 'stop', t.unit));
        }
      }),
    );
    try {
      await sd.disable(unloads.map((t) => t.unit));
    } catch (e) {
      for (const t of unloads)
        if (!errors.has(t.unit)) errors.set(t.unit, asAgentError(e, 'disable', t.unit));
    }
    await Promise.all(
      unloads.map(async (t) => {
        try {
          await sd.resetFailed(t.unit);
          await sd.removeUnitFile(t.unit);
        } catch (e) {
          if (!errors.has(t.unit)) errors.set(t.unit, asAgentError(e, 'unload', t.unit));
        }
      }),
    );
    for (const t of unloads)
      out.push(errors.has(t.unit) ? { task: t, error: errors.get(t.unit)! } : { task: t });
  }

  // load: write every file, one link, one enable for those with [Install].
  const loads = byType('load');
  if (loads.length > 0) {
    const errors = new Map<string, AgentError>();
    const written: string[] = [];
    const install: string[] = [];
    await Promise.all(
      loads.map(async (t) => {
        const b = ctx.bodyOf(t.unit);
        if (!b) {
          errors.set(
            t.unit,
            new AgentError(
              'UNIT_FILE',
              `unit ${t.unit} has no assignment body to write; it is loaded at the next reconcile`,
            ),
          );
          return;
        }
        try {
          await sd.writeUnitFile(t.unit, b.body);
          written.push(t.unit);
          if (hasInstallSection(b.body)) install.push(t.unit);
        } catch (e) {
          errors.set(t.unit, asAgentError(e, 'write', t.unit));
        }
      }),
    );
    written.sort();
    install.sort();
    await linkBatch(sd, written, errors);
    const linked = install.filter((u) => !errors.has(u));
    try {
      await sd.enable(linked);
    } catch (e) {
      for (const u of linked) errors.set(u, asAgentError(e, 'enable', u));
    }
    for (const t of loads)
      out.push(errors.has(t.unit) ? { task: t, error: errors.get(t.unit)! } : { task: t });
  }

  for (const t of byType('reload')) {
    try {
      await sd.reload();
      out.push({ task: t });
    } catch (e) {
      out.push({ task: t, error: asAgentError(e, 'reload', '') });
    }
  }

  const jobs = [...byType('stop'), ...byType('start')];
  const stops = jobs.filter((t) => t.type === 'stop');
  const starts = jobs.filter((t) => t.type === 'start');
  for (const group of [stops, starts]) {
    const results = await Promise.all(
      group.map(async (t): Promise<TaskOutcome> => {
        try {
          if (t.type === 'stop') await sd.stop(t.unit);
          else await sd.start(t.unit);
          return { task: t };
        } catch (e) {
          return { task: t, error: asAgentError(e, t.type, t.unit) };
        }
      }),
    );
    out.push(...results);
  }
  return out;
}

/** One LinkUnitFiles for all; if systemd refuses the batch, one per unit to find which. */
async function linkBatch(sd: SystemdClient, units: string[], errors: Map<string, AgentError>): Promise<void> {
  if (units.length === 0) return;
  try {
    await sd.link(units);
    return;
  } catch (e) {
    if (units.length === 1) {
      errors.set(units[0]!, asAgentError(e, 'link', units[0]!));
      return;
    }
  }
  await Promise.all(
    units.map(async (u) => {
      try {
        await sd.link([u]);
      } catch (e) {
        errors.set(u, asAgentError(e, 'link', u));
      }
    }),
  );
}
