import { ExitCode, type Output } from '../output.js';

/** Names the units that are not in the cluster (fleet skipped them silently). Returns the exit status. */
export function reportMissing(missing: readonly string[], out: Output, verb: string): number {
  for (const name of missing) {
    out.stderr(
      `fleetctl: unit ${name} is not in the cluster, nothing to ${verb}; check the name with fleetctl list-unit-files\n`,
    );
  }
  return missing.length > 0 ? ExitCode.Failure : ExitCode.Ok;
}
