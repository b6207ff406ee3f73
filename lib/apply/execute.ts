/**
 * Carrying out an apply plan against the cluster, through an ApplyTarget (lib/apply's view of a
 * cluster: the registry for fleetd, fleetctl's driver for `fleetctl apply`). One way for both.
 *
 * Order: creates (batched: one etcd transaction per ~127 units), desired-state changes, replaces,
 * prunes. Replaces of instances of one template are rolled: one instance at a time, each back to
 * active/running on its new file before the next; if one does not come back, the roll stops and the
 * other instances keep their old file (reported). Every failure names its unit and is reported; the
 * other units still go on.
 */
import { errorMessage } from '../errors.js';
import type { DesiredState } from '../registry/records.js';
import { describeAction, planApply, type ApplyAction, type ClusterUnit } from './plan.js';
import type { SourceFile } from './source-file.js';

export interface NewUnit {
  name: string;
  body: string;
  desiredState: DesiredState;
  source: string;
}

export interface ApplyTarget {
  listUnits(): Promise<ClusterUnit[]>;
  /** Create-only, batched; units that exist meanwhile are returned in `existing`, untouched. */
  submitUnits(units: readonly NewUnit[]): Promise<{ created: string[]; existing: string[] }>;
  /** Replaces the file (and sets the desired state and source) of an existing unit. */
  replaceUnit(unit: NewUnit): Promise<void>;
  setDesiredState(name: string, state: DesiredState): Promise<void>;
  destroyUnit(name: string): Promise<void>;
  /**
   * Waits until each unit runs its current file (launched: active on its machine), or gives up;
   * returns the units that did not, with why.
   */
  waitLaunched(names: readonly string[]): Promise<{ name: string; why: string }[]>;
}

export interface ApplyOutput {
  /** A change or an unchanged unit (stdout). */
  info(line: string): void;
  /** A skipped file, a conflict, a failure (stderr). */
  problem(line: string): void;
}

export interface ExecuteOptions {
  /** Wait until created/replaced launched units run (rolling replaces always wait). */
  wait: boolean;
  /** Print unchanged units too (default true). */
  showUnchanged?: boolean;
}

export interface ApplyResult {
  actions: ApplyAction[];
  /** True when something was refused or failed: a conflict, a skipped file, a failed write. */
  failed: boolean;
  counts: Record<ApplyAction['type'] | 'failed', number>;
}

/** Plans and carries out one apply of already-read files. */
export async function applyFiles(
  files: readonly SourceFile[],
  target: ApplyTarget,
  source: string,
  opts: ExecuteOptions & { prune: boolean },
  out: ApplyOutput,
): Promise<ApplyResult> {
  const cluster = await target.listUnits();
  const actions = planApply(files, cluster, source, { prune: opts.prune });
  return executePlan(actions, target, source, opts, out);
}

export async function executePlan(
  actions: readonly ApplyAction[],
  target: ApplyTarget,
  source: string,
  opts: ExecuteOptions,
  out: ApplyOutput,
): Promise<ApplyResult> {
  const counts: ApplyResult['counts'] = {
    create: 0,
    replace: 0,
    configure: 0,
    unchanged: 0,
    conflict: 0,
    prune: 0,
    skipped: 0,
    failed: 0,
  };
  let failed = false;
  const fail = (name: string, what: string, e: unknown) => {
    failed = true;
    counts.failed++;
    out.problem(`${name} not ${what}: ${errorMessage(e)}`);
  };
  const done = (a: ApplyAction) => {
    counts[a.type]++;
    if (a.type === 'unchanged' && opts.showUnchanged === false) return;
    if (a.type === 'conflict' || a.type === 'skipped') {
      failed = true;
      out.problem(describeAction(a, source));
    } else out.info(describeAction(a, source));
  };
  const of = <T extends ApplyAction['type']>(t: T) =>
    actions.filter((a): a is Extract<ApplyAction, { type: T }> => a.type === t);

  for (const a of actions)
    if (a.type === 'skipped' || a.type === 'conflict' || a.type === 'unchanged') done(a);

  const toWait: string[] = [];
  const creates = of('create');
  if (creates.length > 0) {
    try {
      const r = await target.submitUnits(
        creates.map((c) => ({ name: c.name, body: c.body, desiredState: c.desiredState, source })),
      );
      const created = new Set(r.created);
      for (const c of creates) {
        if (created.has(c.name)) {
          done(c);
          if (c.desiredState === 'launched') toWait.push(c.name);
        } else
          fail(
            c.name,
            'created',
            new Error('a unit of that name was submitted meanwhile by someone else; run apply again'),
          );
      }
    } catch (e) {
      for (const c of creates) fail(c.name, 'created', e);
    }
  }

  for (const c of of('configure')) {
    try {
      await target.setDesiredState(c.name, c.desiredState);
      done(c);
      if (c.desiredState === 'launched') toWait.push(c.name);
    } catch (e) {
      fail(c.name, 'configured', e);
    }
  }

  const replaces = of('replace');
  const rolls = new Map<string, typeof replaces>();
  for (const r of replaces) {
    if (r.template === undefined || r.desiredState !== 'launched') {
      try {
        await target.replaceUnit({ name: r.name, body: r.body, desiredState: r.desiredState, source });
        done(r);
        if (r.desiredState === 'launched') toWait.push(r.name);
      } catch (e) {
        fail(r.name, 'replaced', e);
      }
      continue;
    }
    const group = rolls.get(r.template) ?? [];
    group.push(r);
    rolls.set(r.template, group);
  }
  for (const [template, group] of rolls) {
    for (let i = 0; i < group.length; i++) {
      const r = group[i]!;
      try {
        await target.replaceUnit({ name: r.name, body: r.body, desiredState: r.desiredState, source });
      } catch (e) {
        fail(r.name, 'replaced', e);
        continue;
      }
      const late = await target.waitLaunched([r.name]);
      done(r);
      if (late.length > 0) {
        const rest = group.slice(i + 1).map((g) => g.name);
        fail(
          r.name,
          'back to active',
          new Error(
            `${late[0]!.why}; the rolling replace of ${template} stopped here${
              rest.length > 0
                ? `: ${rest.join(', ')} keep their old file (run apply again once ${r.name} runs)`
                : ''
            }`,
          ),
        );
        break;
      }
    }
  }

  for (const p of of('prune')) {
    try {
      await target.destroyUnit(p.name);
      done(p);
    } catch (e) {
      fail(p.name, 'pruned', e);
    }
  }

  if (opts.wait && toWait.length > 0) {
    const late = await target.waitLaunched(toWait);
    for (const l of late) fail(l.name, 'running yet', new Error(l.why));
  }
  return { actions: [...actions], failed, counts };
}
