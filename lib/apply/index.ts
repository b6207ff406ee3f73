/** lib/apply: a directory of unit files made the cluster's, for `fleetctl apply` and fleetd. */
export * from './execute.js';
export * from './plan.js';
export * from './read-dir.js';
export * from './registry-target.js';
export * from './source-file.js';
export * from './watch.js';

/** The source id of a directory applied by fleetctl on a host. */
export function fleetctlSource(hostname: string, absPath: string): string {
  return `dir:${hostname}:${absPath}`;
}

/** The source id of the directory a fleetd watches. */
export function fleetdSource(machineId: string, absPath: string): string {
  return `fleetd:${machineId}:${absPath}`;
}
