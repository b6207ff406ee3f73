/**
 * Every fleetctl command, one file each. Add a command by writing fleetctl/commands/<name>.ts that
 * exports a yargs CommandModule and listing it here. Commands that talk to etcd must import the
 * registry lazily (inside their handler) so that `fleetctl --help` and `verify` stay fast.
 */
import type { CommandModule } from 'yargs';
import { verifyCommand } from './verify.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
export const commands: ReadonlyArray<CommandModule<any, any>> = [verifyCommand];
