/**
 * The apply planner (pure): the files of a directory, the units in the cluster and the identity of
 * the directory (its source) in; what to do with each unit out.
 *
 * - a file whose unit is not in the cluster: create (submit with its desired state);
 * - a unit of this source whose file hashes differently: replace (instances of one template are
 *   grouped, to be rolled one at a time);
 * - same file, other desired state: configure (only the desired state changes);
 * - same file and state: unchanged;
 * - a unit in the cluster that another source owns, or that has no source (submitted by hand):
 *   conflict, never touched;
 * - with prune, a unit of this source with no file of that name left: prune (destroy). A file that
 *   is there but skipped (unreadable, invalid) protects its unit from pruning.
 */
import { templateOf } from '../../units/index.js';
import type { DesiredState } from '../registry/records.js';
import type { SourceFile } from './source-file.js';

/** A unit as the cluster has it, as far as apply needs. */
export interface ClusterUnit {
  name: string;
  hash: string;
  desiredState: DesiredState;
  /** Who submitted it; undefined: nobody said (by hand, or an old fleetctl). */
  source?: string | undefined;
  /** Set when the unit's key holds a value fleet cannot use (the engine's mark): why. */
  invalid?: string | undefined;
}

export type ApplyAction =
  | { type: 'create'; name: string; path: string; body: string; desiredState: DesiredState }
  | {
      type: 'replace';
      name: string;
      path: string;
      body: string;
      desiredState: DesiredState;
      /** Set for an instance: replaces of the same template are rolled one at a time. */
      template?: string;
    }
  | { type: 'configure'; name: string; path: string; desiredState: DesiredState; from: DesiredState }
  | { type: 'unchanged'; name: string; path: string }
  | { type: 'conflict'; name: string; path: string; owner: string | undefined; invalid?: string }
  | { type: 'prune'; name: string }
  | { type: 'skipped'; name?: string; path: string; reason: string };

export interface PlanOptions {
  prune: boolean;
}

export function planApply(
  files: readonly SourceFile[],
  cluster: readonly ClusterUnit[],
  source: string,
  opts: PlanOptions,
): ApplyAction[] {
  const inCluster = new Map(cluster.map((u) => [u.name, u]));
  const named = new Set<string>();
  const out: ApplyAction[] = [];
  for (const f of files) {
    if (f.kind === 'skipped') {
      if (f.name !== undefined) named.add(f.name);
      out.push(
        f.name === undefined
          ? { type: 'skipped', path: f.path, reason: f.reason }
          : { type: 'skipped', name: f.name, path: f.path, reason: f.reason },
      );
      continue;
    }
    if (named.has(f.name)) {
      out.push({ type: 'skipped', name: f.name, path: f.path, reason: `${f.name} is given by two files` });
      continue;
    }
    named.add(f.name);
    const cur = inCluster.get(f.name);
    if (cur === undefined) {
      out.push({ type: 'create', name: f.name, path: f.path, body: f.body, desiredState: f.desiredState });
    } else if (cur.invalid !== undefined) {
      out.push({ type: 'conflict', name: f.name, path: f.path, owner: cur.source, invalid: cur.invalid });
    } else if (cur.source !== source) {
      out.push({ type: 'conflict', name: f.name, path: f.path, owner: cur.source });
    } else if (cur.hash !== f.hash) {
      const template = templateOf(f.name);
      out.push({
        type: 'replace',
        name: f.name,
        path: f.path,
        body: f.body,
        desiredState: f.desiredState,
        ...(template !== null ? { template } : {}),
      });
    } else if (cur.desiredState !== f.desiredState) {
      out.push({
        type: 'configure',
        name: f.name,
        path: f.path,
        desiredState: f.desiredState,
        from: cur.desiredState,
      });
    } else {
      out.push({ type: 'unchanged', name: f.name, path: f.path });
    }
  }
  if (opts.prune) {
    for (const u of cluster) {
      if (u.source === source && u.invalid === undefined && !named.has(u.name)) {
        out.push({ type: 'prune', name: u.name });
      }
    }
  }
  return out.sort((a, b) => key(a).localeCompare(key(b)));
}

function key(a: ApplyAction): string {
  return a.name ?? ('path' in a ? a.path : '');
}

/** One line per action, as `kubectl apply` prints them (skipped files and conflicts go to stderr). */
export function describeAction(a: ApplyAction, source: string): string {
  switch (a.type) {
    case 'create':
      return `${a.name} created`;
    case 'replace':
      return `${a.name} replaced`;
    case 'configure':
      return `${a.name} configured (${a.from} -> ${a.desiredState})`;
    case 'unchanged':
      return `${a.name} unchanged`;
    case 'prune':
      return `${a.name} pruned`;
    case 'conflict':
      if (a.invalid !== undefined) {
        return `${a.name} conflict: the cluster's key of ${a.name} holds a value fleet cannot use (${a.invalid}); left as it is: fix or delete the key (fleetctl why ${a.name}), then apply again`;
      }
      return `${a.name} conflict: the cluster's ${a.name} belongs to ${
        a.owner === undefined
          ? 'no source (submitted by hand, e.g. fleetctl submit)'
          : `source ${JSON.stringify(a.owner)}`
      }, not to this directory (source ${JSON.stringify(source)}); left as it is: destroy it (fleetctl destroy ${a.name}) to let this directory own it, or rename ${a.path}`;
    case 'skipped':
      return `${a.path}: skipped: ${a.reason}`;
  }
}
