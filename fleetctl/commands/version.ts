/** `fleetctl version`: prints `fleetctl version X` (fleet's form). No cluster access. */
import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';

export function fleetctlVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const versionCommand: CommandModule = {
  command: 'version',
  describe: 'Print the version and exit',
  handler: () => {
    process.stdout.write(`fleetctl version ${fleetctlVersion()}\n`);
  },
};
