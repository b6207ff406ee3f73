/**
 * The fast path loads only the module of the command it runs (commands/index.ts loads them all, for
 * the yargs tree). Keyed like FAST_COMMANDS; test/fleetctl/fast-args.test.ts checks both agree.
 */
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
type Loader = () => Promise<CommandModule<any, any>>;

export const FAST_MODULES: Readonly<Record<string, Loader>> = {
  'list-units': async () => (await import('./commands/list.js')).listUnitsCommand,
  'list-unit-files': async () => (await import('./commands/list.js')).listUnitFilesCommand,
  'list-machines': async () => (await import('./commands/list.js')).listMachinesCommand,
  submit: async () => (await import('./commands/submit.js')).submitCommand,
  load: async () => (await import('./commands/load.js')).loadCommand,
  start: async () => (await import('./commands/start.js')).startCommand,
  stop: async () => (await import('./commands/stop.js')).stopCommand,
  unload: async () => (await import('./commands/unload.js')).unloadCommand,
  destroy: async () => (await import('./commands/destroy.js')).destroyCommand,
  restart: async () => (await import('./commands/restart.js')).restartCommand,
  cat: async () => (await import('./commands/cat.js')).catCommand,
  why: async () => (await import('./commands/why.js')).whyCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  journal: async () => (await import('./commands/journal.js')).journalCommand,
  drain: async () => (await import('./commands/drain.js')).drainCommand,
  undrain: async () => (await import('./commands/drain.js')).undrainCommand,
};
