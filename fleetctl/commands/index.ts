/**
 * Every fleetctl command, one file each. Add a command by writing fleetctl/commands/<name>.ts that
 * exports a yargs CommandModule and listing it here. Command modules must not import a driver at
 * their top level: the driver is loaded lazily (driver.ts openDriver) so that the API driver never
 * loads the etcd client and `--help`, `verify` and `version` load neither.
 */
import type { CommandModule } from 'yargs';
import { applyCommand } from './apply.js';
import { catCommand } from './cat.js';
import { destroyCommand } from './destroy.js';
import { drainCommand, undrainCommand } from './drain.js';
import { listMachinesCommand, listUnitFilesCommand, listUnitsCommand } from './list.js';
import { journalCommand } from './journal.js';
import { loadCommand } from './load.js';
import { restartCommand } from './restart.js';
import { startCommand } from './start.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import { submitCommand } from './submit.js';
import { unloadCommand } from './unload.js';
import { verifyCommand } from './verify.js';
import { versionCommand } from './version.js';
import { whyCommand } from './why.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
export const commands: ReadonlyArray<CommandModule<any, any>> = [
  applyCommand,
  catCommand,
  destroyCommand,
  drainCommand,
  listMachinesCommand,
  listUnitFilesCommand,
  journalCommand,
  listUnitsCommand,
  loadCommand,
  restartCommand,
  startCommand,
  statusCommand,
  stopCommand,
  submitCommand,
  undrainCommand,
  unloadCommand,
  verifyCommand,
  versionCommand,
  whyCommand,
];
