/** The three list commands: fetch through the driver, then the pure formatters of format.ts. */
import type { CommandModule } from 'yargs';
import { UsageError, withDriver, type GlobalArgs } from '../cli.js';
import type { MachineInfo } from '../driver.js';
import {
  LIST_MACHINES_DEFAULT,
  LIST_MACHINES_FIELDS,
  LIST_UNIT_FILES_DEFAULT,
  LIST_UNIT_FILES_FIELDS,
  LIST_UNITS_DEFAULT,
  LIST_UNITS_FIELDS,
  machinesJson,
  parseFields,
  renderTable,
  sortStates,
  unitStatesJson,
  unitsJson,
} from '../format.js';
import { ExitCode } from '../output.js';
import { listOptions, type ListArgs } from './common.js';

type Args = GlobalArgs & ListArgs;

function fieldsOf(argv: ListArgs, known: Readonly<Record<string, unknown>>): string[] {
  const f = parseFields(argv.fields, known);
  if (!f.ok) throw new UsageError(f.reason);
  return f.fields;
}

const machineMap = (ms: MachineInfo[]) => new Map(ms.map((m) => [m.id, m]));

export const listUnitsCommand: CommandModule<object, Args> = {
  command: 'list-units',
  describe: 'List the current state of units in the cluster (what systemd says, per machine)',
  builder: (y) => listOptions(y, LIST_UNITS_DEFAULT, Object.keys(LIST_UNITS_FIELDS)) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const fields = fieldsOf(argv, LIST_UNITS_FIELDS);
      const needMachines = argv.output === 'table' && fields.includes('machine');
      const [states, machines] = await Promise.all([
        driver.listUnitStates(),
        needMachines ? driver.listMachines() : Promise.resolve([]),
      ]);
      const sorted = sortStates(states);
      out.stdout(
        argv.output === 'json'
          ? unitStatesJson(sorted)
          : renderTable(sorted, LIST_UNITS_FIELDS, {
              fields,
              full: argv.full,
              noLegend: argv.noLegend,
              machines: machineMap(machines),
            }),
      );
      return ExitCode.Ok;
    }),
};

export const listUnitFilesCommand: CommandModule<object, Args> = {
  command: 'list-unit-files',
  describe: 'List the units that exist in the cluster, placed or not',
  builder: (y) => listOptions(y, LIST_UNIT_FILES_DEFAULT, Object.keys(LIST_UNIT_FILES_FIELDS)) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const fields = fieldsOf(argv, LIST_UNIT_FILES_FIELDS);
      if (fields.includes('tmachine'))
        out.stderr('WARNING: The "tmachine" field is deprecated. Use "target" instead\n');
      const needMachines =
        argv.output === 'table' && (fields.includes('target') || fields.includes('tmachine'));
      const [units, machines] = await Promise.all([
        driver.listUnits(),
        needMachines ? driver.listMachines() : Promise.resolve([]),
      ]);
      out.stdout(
        argv.output === 'json'
          ? unitsJson(units)
          : renderTable(units, LIST_UNIT_FILES_FIELDS, {
              fields,
              full: argv.full,
              noLegend: argv.noLegend,
              machines: machineMap(machines),
            }),
      );
      return ExitCode.Ok;
    }),
};

export const listMachinesCommand: CommandModule<object, Args> = {
  command: 'list-machines',
  describe: 'Enumerate the current machines in the cluster',
  builder: (y) => listOptions(y, LIST_MACHINES_DEFAULT, Object.keys(LIST_MACHINES_FIELDS)) as never,
  handler: (argv) =>
    withDriver(argv, async (driver, out) => {
      const fields = fieldsOf(argv, LIST_MACHINES_FIELDS);
      const machines = (await driver.listMachines()).sort((a, b) => (a.id < b.id ? -1 : 1));
      out.stdout(
        argv.output === 'json'
          ? machinesJson(machines)
          : renderTable(machines, LIST_MACHINES_FIELDS, {
              fields,
              full: argv.full,
              noLegend: argv.noLegend,
              machines: new Map(),
            }),
      );
      return ExitCode.Ok;
    }),
};
