/** Flags and steps several commands share (fleet's sharedFlags). */
import type { Argv } from 'yargs';
import { UsageError } from '../cli.js';
import { DEFAULT_BLOCK_INTERVAL_MS } from '../wait.js';

export interface BlockArgs {
  noBlock: boolean;
  blockAttempts: number;
  blockInterval: number;
}

export function blockOptions<T>(y: Argv<T>, what: string, noBlock = true): Argv<T & BlockArgs> {
  let out = y
    .option('block-attempts', {
      type: 'number',
      default: 0,
      describe: `wait until the units are ${what}, performing up to N attempts (every 0.5 s) before giving up; 0: no limit`,
    })
    .option('block-interval', { type: 'number', default: DEFAULT_BLOCK_INTERVAL_MS, hidden: true });
  if (noBlock) {
    out = out.option('no-block', {
      type: 'boolean',
      default: false,
      describe: `do not wait until the units are ${what} before exiting`,
    });
  }
  return out as unknown as Argv<T & BlockArgs>;
}

/** fleet's getBlockAttempts: -1 = do not block, 0 = no limit, N. Throws UsageError on a bad value. */
export function blockAttemptsOf(argv: Partial<BlockArgs>): number {
  const n = argv.blockAttempts ?? 0;
  if (!Number.isInteger(n) || n < 0) {
    throw new UsageError(
      `--block-attempts must be a whole number of attempts, 0 or more (0: no limit), not ${String(n)}`,
    );
  }
  if (argv.noBlock) return -1;
  return n;
}

export function intervalOf(argv: Partial<BlockArgs>): number {
  const ms = argv.blockInterval ?? DEFAULT_BLOCK_INTERVAL_MS;
  if (!Number.isFinite(ms) || ms < 0)
    throw new UsageError(`--block-interval must be milliseconds, 0 or more`);
  return ms;
}

export interface ListArgs {
  full: boolean;
  noLegend: boolean;
  fields: string;
  output: 'table' | 'json';
}

export function listOptions<T>(
  y: Argv<T>,
  defaultFields: string,
  valid: readonly string[],
): Argv<T & ListArgs> {
  return y
    .option('full', {
      alias: 'l',
      type: 'boolean',
      default: false,
      describe: 'do not ellipsize fields on output',
    })
    .option('no-legend', {
      type: 'boolean',
      default: false,
      describe: 'do not print a legend (column headers)',
    })
    .option('fields', {
      type: 'string',
      default: defaultFields,
      describe: `columns to print; valid fields are ${[...valid].sort().join(',')}`,
    })
    .option('output', {
      alias: 'o',
      type: 'string',
      choices: ['table', 'json'],
      default: 'table',
      describe: "table (fleet's columns) or json (fleet API v1 objects, one JSON array)",
    }) as unknown as Argv<T & ListArgs>;
}

export interface UnitsArgs {
  units: string[];
}

export function unitsPositional<T>(y: Argv<T>): Argv<T & UnitsArgs> {
  return y.positional('units', {
    type: 'string',
    array: true,
    demandOption: true,
    describe: 'unit names or unit file paths',
  }) as unknown as Argv<T & UnitsArgs>;
}
