/**
 * `fleetctl verify [--json] FILE...`: checks unit files offline, as fleet would read them.
 *
 * Exit 0 when every file is valid (warnings are printed to stderr), 1 when any file has an error;
 * each problem is printed as `FILE:LINE: reason` (`FILE: reason` when it concerns the whole file or
 * its name). With --json, stdout gets one JSON object per file and line (see VerifyReport).
 * The unit name is the file's base name; a template (`name@.service`) keeps its specifiers.
 */
import { basename } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import {
  emptyRequirements,
  loadUnit,
  problem,
  ProblemCode,
  type FleetRequirements,
  type UnitProblem,
} from '../../units/index.js';
import { ExitCode, processOutput, type Output } from '../output.js';
import { readUnitFile } from '../unit-file.js';

/** One problem in --json output. */
export interface ReportProblem {
  line: number | null;
  code: string;
  message: string;
}

/** The --json shape, one per file. Field order is part of the contract. */
export interface VerifyReport {
  file: string;
  name: string;
  valid: boolean;
  errors: ReportProblem[];
  warnings: ReportProblem[];
  hash: string | null;
  options: Array<{ section: string; name: string; value: string }>;
  requirements: FleetRequirements;
}

function toReport(p: UnitProblem): ReportProblem {
  return { line: p.line, code: p.code, message: p.message };
}

/** Verifies one file. Never throws. */
export function verifyFile(file: string): VerifyReport {
  const name = basename(file);
  const read = readUnitFile(file);
  if (!read.ok) {
    return {
      file,
      name,
      valid: false,
      errors: [toReport(problem(ProblemCode.File, null, read.reason))],
      warnings: [],
      hash: null,
      options: [],
      requirements: emptyRequirements(),
    };
  }
  const loaded = loadUnit(name, read.bytes);
  const r = loaded.requirements;
  return {
    file,
    name,
    valid: loaded.valid,
    errors: loaded.errors.map(toReport),
    warnings: loaded.warnings.map(toReport),
    hash: loaded.hash,
    options: (loaded.unit?.options ?? []).map((o) => ({ section: o.section, name: o.name, value: o.value })),
    // A fixed key order, whatever order readXFleet built them in.
    requirements: {
      global: r.global,
      machineId: r.machineId,
      machineOf: r.machineOf,
      conflicts: r.conflicts,
      replaces: r.replaces,
      machineMetadata: r.machineMetadata,
      machineMetadataNot: r.machineMetadataNot,
    },
  };
}

function where(file: string, line: number | null): string {
  return line === null ? `${file}:` : `${file}:${line}:`;
}

/** Runs verify over `files`, writing to `out`; returns the exit status. */
export function runVerify(files: readonly string[], opts: { json: boolean }, out: Output): number {
  let allValid = true;
  for (const file of files) {
    const report = verifyFile(file);
    allValid &&= report.valid;
    if (opts.json) {
      out.stdout(JSON.stringify(report) + '\n');
      continue;
    }
    // Errors and warnings together, in line order (whole-file problems first).
    const lines = [
      ...report.errors.map((e) => ({ line: e.line, text: e.message })),
      ...report.warnings.map((w) => ({ line: w.line, text: `warning: ${w.message}` })),
    ].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    for (const l of lines) out.stderr(`${where(file, l.line)} ${l.text}\n`);
    if (report.valid) out.stdout(`${file}: valid\n`);
  }
  return allValid ? ExitCode.Ok : ExitCode.Failure;
}

interface VerifyArgs {
  files: string[];
  json: boolean;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify <files..>',
  describe: 'Check unit files offline: names, syntax, [X-Fleet] requirements',
  builder: (y: Argv) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'unit files to check',
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe:
          'print one JSON object per file on stdout (file, name, valid, errors, warnings, hash, options, requirements)',
      })
      .epilogue(
        'Exit status: 0 when every file is valid (warnings allowed), 1 when a file has an error, 2 on a usage error.\n' +
          'Problems are printed as FILE:LINE: reason. The unit name is the file name; templates keep their specifiers.',
      ),
  handler: (argv) => {
    process.exitCode = runVerify(argv.files.map(String), { json: argv.json }, processOutput);
  },
};
