/**
 * The list commands' output, as fleet prints it. Pure: records in, text out.
 *
 * Columns are aligned like fleet's (Go's text/tabwriter with minwidth 0, tabwidth 8, padding 1 and
 * tab padding): each column but the last is padded with tabs to the next multiple of 8 past its
 * widest cell. Machine IDs are shortened to 8 characters and "..." unless --full; hashes to 7.
 */
import type { MachineInfo, UnitInfo, UnitOptionRecord, UnitStateInfo } from './driver.js';

export const SHORT_ID_LENGTH = 8;
export const SHORT_HASH_LENGTH = 7;

/** Go tabwriter(0, 8, 1, '\t', 0) over rows of cells: the text fleet's list commands print. */
export function tabulate(rows: readonly (readonly string[])[]): string {
  const columns = Math.max(0, ...rows.map((r) => r.length - 1));
  const widths: number[] = [];
  for (let c = 0; c < columns; c++) {
    widths[c] = Math.max(0, ...rows.filter((r) => r.length - 1 > c).map((r) => r[c]!.length + 1));
  }
  let out = '';
  for (const row of rows) {
    let line = '';
    row.forEach((cell, c) => {
      line += cell;
      if (c === row.length - 1) return;
      const cellw = Math.ceil(widths[c]! / 8) * 8;
      line += '\t'.repeat(Math.ceil((cellw - cell.length) / 8));
    });
    out += line + '\n';
  }
  return out;
}

/** fleet's machineIDLegend: the ID, or its first 8 characters and "..." */
export function machineIdLegend(id: string, full: boolean): string {
  return full ? id : `${id.slice(0, SHORT_ID_LENGTH)}...`;
}

/** fleet's machineFullLegend: the ID legend, then "/IP" when the machine has one. */
export function machineLegend(id: string, machines: ReadonlyMap<string, MachineInfo>, full: boolean): string {
  const m = machines.get(id);
  const legend = machineIdLegend(id, full);
  return m && m.primaryIp ? `${legend}/${m.primaryIp}` : legend;
}

export function formatMetadata(metadata: Record<string, string>): string {
  return Object.keys(metadata)
    .sort()
    .map((k) => `${k}=${metadata[k]}`)
    .join(',');
}

export function description(options: readonly UnitOptionRecord[]): string {
  let d = '';
  for (const o of options) if (o.section === 'Unit' && o.name === 'Description') d = o.value;
  return d;
}

type Field<T> = (item: T, ctx: FieldContext) => string;

export interface FieldContext {
  full: boolean;
  machines: ReadonlyMap<string, MachineInfo>;
}

const dash = (s: string | undefined): string => (s === undefined || s === '' ? '-' : s);

export const LIST_UNITS_FIELDS: Readonly<Record<string, Field<UnitStateInfo>>> = {
  unit: (s) => s.name,
  machine: (s, c) => (s.machineId ? machineLegend(s.machineId, c.machines, c.full) : '-'),
  load: (s) => dash(s.loadState),
  active: (s) => dash(s.activeState),
  sub: (s) => dash(s.subState),
  hash: (s, c) => (s.hash ? (c.full ? s.hash : s.hash.slice(0, SHORT_HASH_LENGTH)) : '-'),
};
export const LIST_UNITS_DEFAULT = 'unit,machine,active,sub';

const target: Field<UnitInfo> = (u, c) => {
  if (u.global) return 'global';
  return u.machineId ? machineLegend(u.machineId, c.machines, c.full) : '-';
};

export const LIST_UNIT_FILES_FIELDS: Readonly<Record<string, Field<UnitInfo>>> = {
  unit: (u) => u.name,
  global: (u) => String(u.global),
  dstate: (u) => (u.invalid !== undefined ? '-' : dash(u.desiredState)),
  target,
  tmachine: target,
  state: (u) => (u.invalid !== undefined ? 'invalid' : u.global ? '-' : dash(u.currentState)),
  hash: (u, c) => (u.invalid !== undefined ? '-' : c.full ? u.hash : u.hash.slice(0, SHORT_HASH_LENGTH)),
  desc: (u) => dash(description(u.options)),
};
export const LIST_UNIT_FILES_DEFAULT = 'unit,hash,dstate,state,target';

export const LIST_MACHINES_FIELDS: Readonly<Record<string, Field<MachineInfo>>> = {
  machine: (m, c) => machineIdLegend(m.id, c.full),
  ip: (m) => dash(m.primaryIp),
  metadata: (m) => (Object.keys(m.metadata).length === 0 ? '-' : formatMetadata(m.metadata)),
  version: (m) => dash(m.version),
  draining: (m) => String(m.draining ?? false),
};
export const LIST_MACHINES_DEFAULT = 'machine,ip,metadata';

export type FieldsParse = { ok: true; fields: string[] } | { ok: false; reason: string };

/** Checks a --fields value against the known fields (fleet: "Invalid key in output format"). */
export function parseFields(value: string, known: Readonly<Record<string, unknown>>): FieldsParse {
  const valid = Object.keys(known).sort().join(',');
  if (value.trim() === '') return { ok: false, reason: `--fields is empty; valid fields are ${valid}` };
  const fields = value.split(',').map((f) => f.trim());
  for (const f of fields) {
    if (!Object.hasOwn(known, f)) {
      return {
        ok: false,
        reason: `invalid field ${JSON.stringify(f)} in --fields; valid fields are ${valid}`,
      };
    }
  }
  return { ok: true, fields };
}

export interface TableOptions extends FieldContext {
  fields: readonly string[];
  noLegend: boolean;
}

export function renderTable<T>(
  items: readonly T[],
  table: Readonly<Record<string, Field<T>>>,
  opts: TableOptions,
): string {
  const rows: string[][] = [];
  if (!opts.noLegend) rows.push(opts.fields.map((f) => f.toUpperCase()));
  for (const item of items) rows.push(opts.fields.map((f) => table[f]!(item, opts)));
  return tabulate(rows);
}

/** -o json: fleet's API v1 shapes (UnitState, Unit, Machine), as one JSON array. */
export function unitStatesJson(states: readonly UnitStateInfo[]): string {
  return (
    JSON.stringify(
      states.map((s) => ({
        name: s.name,
        hash: s.hash,
        machineID: s.machineId,
        systemdLoadState: s.loadState,
        systemdActiveState: s.activeState,
        systemdSubState: s.subState,
      })),
      null,
      2,
    ) + '\n'
  );
}

export function unitsJson(units: readonly UnitInfo[]): string {
  return (
    JSON.stringify(
      units.map((u) => ({
        name: u.name,
        options: u.options,
        desiredState: u.desiredState,
        currentState: u.currentState,
        machineID: u.machineId ?? '',
        // Beyond fleet: why the unit's key holds a value fleet cannot use.
        ...(u.invalid !== undefined ? { invalid: u.invalid } : {}),
      })),
      null,
      2,
    ) + '\n'
  );
}

export function machinesJson(machines: readonly MachineInfo[]): string {
  return (
    JSON.stringify(
      machines.map((m) => ({
        id: m.id,
        primaryIP: m.primaryIp,
        metadata: m.metadata,
        ...(m.draining ? { draining: true } : {}),
      })),
      null,
      2,
    ) + '\n'
  );
}

/** States sorted by unit, then machine (fleet's API lists them in key order). */
export function sortStates(states: readonly UnitStateInfo[]): UnitStateInfo[] {
  return [...states].sort((a, b) =>
    a.name === b.name ? (a.machineId < b.machineId ? -1 : 1) : a.name < b.name ? -1 : 1,
  );
}
