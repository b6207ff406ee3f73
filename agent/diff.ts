/**
 * The agent's decision, PURE: what this machine should have (its assignments), what it has (the
 * unit files the agent wrote and what systemd says about them) and what the agent remembers having
 * launched -> an ordered list of tasks, each with a named reason.
 *
 * Order, as fleet's agent: every unload, then every load, then ONE daemon reload (only when a file
 * was written or removed), then stops, then starts. Units are sorted by name inside each group, so
 * the same inputs always give the same plan.
 *
 * Rules:
 * - A unit file of ours that is no longer assigned is unloaded (stop, disable, reset-failed, unlink,
 *   delete).
 * - An assigned unit without our file is loaded; one whose file has another hash is unloaded and
 *   loaded again (and started again if it should run).
 * - "launched": started once per assignment (and hash). The agent does not start it again by
 *   itself: a unit that failed stays failed and is reported so (systemd's own Restart= is the way
 *   to retry); one that systemd already runs is adopted, not restarted.
 * - "loaded": stopped only if this agent launched it (a socket-activated service, started by its
 *   socket, is left alone).
 * - Templates (foo@.service) are only loaded: systemd cannot start a template.
 * - A socket is started only once the service it activates is loaded (assigned here, or known to
 *   systemd): systemd refuses to listen for a service it does not have ("Socket service not loaded,
 *   refusing"), and the engine may hand this machine the socket before its service.
 */
import { parseUnitFile, socketTarget } from '../units/index.js';

export type TaskType = 'unload' | 'load' | 'reload' | 'stop' | 'start';

/** Why a task is in the plan: named constants, as fleet's agent has. */
export const Reasons = {
  UNASSIGNED: 'unit is no longer assigned to this machine',
  NOT_LOADED: 'unit is assigned to this machine but not loaded',
  HASH_CHANGED: 'unit file changed (new hash): reloading it',
  FILES_CHANGED: 'unit files were written or removed',
  LAUNCH: 'unit should be launched and this agent has not launched it',
  RELAUNCH_AFTER_CHANGE: 'unit file changed: starting the new version',
  STOP_DESIRED_LOADED: 'desired state is loaded but this agent launched it',
} as const;

/** The service a socket unit activates, when its service must be loaded first (pure). */
function serviceOfSocket(want: DesiredUnit): string | undefined {
  if (!want.name.endsWith('.socket')) return undefined;
  const parsed = parseUnitFile(want.body);
  return parsed.ok ? socketTarget(want.name, parsed.unit).service : undefined;
}

/** Whether the unit a socket activates is (or is about to be) loaded on this machine. */
function serviceAvailable(service: string, input: DiffInput): boolean {
  return input.desired.has(service) || input.actual.get(service)?.systemd?.loadState === 'loaded';
}
export type Reason = (typeof Reasons)[keyof typeof Reasons];

export interface Task {
  type: TaskType;
  /** The unit concerned ('' for the daemon reload). */
  unit: string;
  reason: Reason;
}

export interface DesiredUnit {
  name: string;
  body: string;
  hash: string;
  desiredState: 'loaded' | 'launched';
}

/** What systemd says about a unit (ListUnitsByNames / PropertiesChanged). */
export interface SystemdUnitState {
  loadState: string;
  activeState: string;
  subState: string;
}

export interface ActualUnit {
  name: string;
  /** The hash of the unit file of ours on disk (units_directory), if there is one. */
  fileHash: string | undefined;
  /** systemd's view, if it knows the unit. */
  systemd: SystemdUnitState | undefined;
}

export interface DiffInput {
  desired: ReadonlyMap<string, DesiredUnit>;
  actual: ReadonlyMap<string, ActualUnit>;
  /** Units this agent launched (or adopted running) for their current file. */
  launched: ReadonlySet<string>;
}

const ORDER: Record<TaskType, number> = { unload: 0, load: 1, reload: 2, stop: 3, start: 4 };

/** True for a template name (foo@.service): it can be loaded but never started. */
export function isTemplateName(name: string): boolean {
  return /@\.[^.]+$/.test(name);
}

/** systemd states in which a unit counts as running (or about to). */
export function isActiveState(activeState: string | undefined): boolean {
  return activeState === 'active' || activeState === 'activating' || activeState === 'reloading';
}

export function diff(input: DiffInput): Task[] {
  const tasks: Task[] = [];
  const names = new Set([...input.desired.keys(), ...input.actual.keys()]);
  let filesChanged = false;
  for (const name of [...names].sort()) {
    const want = input.desired.get(name);
    const have = input.actual.get(name);
    const ours = have?.fileHash !== undefined;
    if (!want) {
      if (ours) {
        tasks.push({ type: 'unload', unit: name, reason: Reasons.UNASSIGNED });
        filesChanged = true;
      }
      continue;
    }
    const template = isTemplateName(name);
    let fresh = false;
    if (!ours) {
      tasks.push({ type: 'load', unit: name, reason: Reasons.NOT_LOADED });
      filesChanged = true;
      fresh = true;
    } else if (have.fileHash !== want.hash) {
      tasks.push({ type: 'unload', unit: name, reason: Reasons.HASH_CHANGED });
      tasks.push({ type: 'load', unit: name, reason: Reasons.HASH_CHANGED });
      filesChanged = true;
      fresh = true;
    }
    if (template) continue;
    const launched = !fresh && input.launched.has(name);
    if (want.desiredState === 'launched') {
      if (!launched) {
        // parsed only for a socket about to start, not on every reconcile
        const service = serviceOfSocket(want);
        if (service !== undefined && !serviceAvailable(service, input)) continue;
        const changed = ours && fresh;
        tasks.push({
          type: 'start',
          unit: name,
          reason: changed ? Reasons.RELAUNCH_AFTER_CHANGE : Reasons.LAUNCH,
        });
      }
    } else if (launched) {
      tasks.push({ type: 'stop', unit: name, reason: Reasons.STOP_DESIRED_LOADED });
    }
  }
  if (filesChanged) tasks.push({ type: 'reload', unit: '', reason: Reasons.FILES_CHANGED });
  // Stable: same-type tasks keep name order (and unload-before-load of one unit).
  return tasks
    .map((t, i) => ({ t, i }))
    .sort((a, b) => ORDER[a.t.type] - ORDER[b.t.type] || a.i - b.i)
    .map(({ t }) => t);
}

/**
 * Which assigned units to count as launched when an agent starts (after a restart or crash): the
 * ones whose file of ours has the assigned hash and that systemd already runs, or that ran and
 * failed. They are adopted, never restarted.
 */
export function adoptLaunched(input: Omit<DiffInput, 'launched'>): Set<string> {
  const out = new Set<string>();
  for (const [name, want] of input.desired) {
    const have = input.actual.get(name);
    if (want.desiredState !== 'launched' || !have || have.fileHash !== want.hash) continue;
    const s = have.systemd?.activeState;
    if (isActiveState(s) || s === 'failed' || s === 'deactivating') out.add(name);
  }
  return out;
}

/**
 * After a task ran, what the agent remembers as launched (pure). A start systemd failed still
 * counts as launched: the unit is reported failed and not retried. A start whose call never got an
 * answer or was refused by the bus (a retryable failure) does not: the next reconcile starts it.
 */
export function rememberAfter(
  launched: ReadonlySet<string>,
  task: Task,
  failure?: { retryable: boolean },
): Set<string> {
  const next = new Set(launched);
  if (task.type === 'start' && failure?.retryable !== true) next.add(task.unit);
  if (task.type === 'stop' || task.type === 'unload') next.delete(task.unit);
  return next;
}
