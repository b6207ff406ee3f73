/**
 * Which unit an argument names, and lazy submission as fleet does it: for each argument, in order,
 *   1. a unit of that name in the cluster;
 *   2. a local file at that path (a path, or a name found in the working directory);
 *   3. for an instance (web@1.service), its template in the cluster;
 *   4. its template next to the argument on disk (./web@.service).
 * Everything is read (the cluster's units in one batch) and checked first; only then is anything
 * written (new units in batches), so an invalid name or file leaves the cluster untouched.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UNIT_SUFFIXES, loadUnit, parseUnitName, unitNameProblem } from '../units/index.js';
import { DriverError, type DesiredState, type Driver, type UnitInfo } from './driver.js';
import type { Output } from './output.js';
import { readUnitFile } from './unit-file.js';
import { isGlobalOptions, optionsOfBody } from './unit-text.js';

/** fleet's unitNameMangle: the base name, with ".service" added when it has no known unit type. */
export function unitNameOf(arg: string): string {
  const base = basename(arg);
  const dot = base.lastIndexOf('.');
  const suffix = dot === -1 ? '' : base.slice(dot + 1);
  return (UNIT_SUFFIXES as readonly string[]).includes(suffix) ? base : `${base}.service`;
}

/** The path to try for an argument's file: as given, plus ".service" when it had no unit type. */
export function localPathOf(arg: string): string {
  return basename(arg) === unitNameOf(arg) ? arg : `${arg}.service`;
}

/** Units whose desired state a command may cross with --replace (fleet's checkReplaceUnitState). */
export const REPLACE_ALLOWED: Readonly<Record<string, readonly DesiredState[]>> = {
  submit: ['inactive'],
  load: ['inactive', 'loaded'],
  start: ['inactive', 'loaded', 'launched'],
};

export interface Plan {
  name: string;
  action: 'exists' | 'create' | 'replace';
  body?: string;
  /** Where the file came from, for messages. */
  source?: string;
  /** The unit's desired state in the cluster (exists/replace). */
  desiredState?: DesiredState;
  /** [X-Fleet] Global=true (of the cluster's file, or of the file to create or replace with). */
  global: boolean;
}

export interface LazyOptions {
  command: 'submit' | 'load' | 'start';
  replace: boolean;
  /** Refuse templates (load/start cannot activate one). */
  refuseTemplates: boolean;
}

interface Local {
  body: string;
  hash: string;
  path: string;
  global: boolean;
}

/** Reads and checks a local unit file for `name`; throws a DriverError naming the file and why. */
function readLocal(path: string, name: string): Local {
  const read = readUnitFile(path);
  if (!read.ok) throw new DriverError('INVALID', `cannot use unit file ${path} for ${name}: ${read.reason}`);
  const loaded = loadUnit(name, read.bytes);
  if (!loaded.valid) {
    const why = loaded.errors.map((e) => (e.line === null ? e.message : `line ${e.line}: ${e.message}`));
    throw new DriverError(
      'INVALID',
      `unit file ${path} is not valid for ${name}: ${why.join('; ')}; fix it (fleetctl verify ${path} shows every problem); nothing was submitted`,
    );
  }
  const body = new TextDecoder().decode(read.bytes);
  return { body, hash: loaded.hash!, path, global: isGlobalOptions(optionsOfBody(body)) };
}

/** Works out, without writing, what to do for each argument. Throws on the first problem. */
export async function planUnits(
  args: readonly string[],
  driver: Driver,
  opts: LazyOptions,
  out: Output,
): Promise<Plan[]> {
  const named = namesOf(args, 'nothing was submitted');
  for (const { name } of named) {
    const info = parseUnitName(name);
    if (opts.refuseTemplates && info.kind === 'template') {
      throw new DriverError(
        'INVALID',
        `${name} is a template and cannot be ${opts.command === 'load' ? 'loaded' : 'started'}; ${opts.command} instances of it, e.g. ${info.prefix}@1.${info.suffix}; nothing was changed`,
      );
    }
  }
  // One batched read of every named unit and of the instances' templates.
  const templates = named.flatMap(({ name }) => parseUnitName(name).template ?? []);
  const inCluster = new Map(
    (await driver.getUnits([...new Set([...named.map((n) => n.name), ...templates])])).map((u) => [
      u.name,
      u,
    ]),
  );
  const plans: Plan[] = [];
  for (const { arg, name } of named) {
    const info = parseUnitName(name);
    const path = localPathOf(arg);
    const existing = inCluster.get(name);
    const local = existsSync(path) ? readLocal(path, name) : undefined;
    const templatePath = info.template ? join(dirname(path), info.template) : undefined;
    if (existing) {
      let differs: Local | undefined;
      if (local && local.hash !== existing.hash) differs = local;
      else if (!local && templatePath && existsSync(templatePath)) {
        const t = readLocal(templatePath, name);
        if (t.hash !== existing.hash) differs = t;
      }
      if (!differs) {
        if (opts.replace) out.stdout(`Found same Unit(${name}) in Registry, nothing to do\n`);
        plans.push(existsPlan(existing));
        continue;
      }
      if (!opts.replace) {
        out.stderr(
          `WARNING: Unit ${name} in registry differs from local ${differs === local ? 'unit' : 'template unit'} file ${differs.path}. Add --replace to override.\n`,
        );
        plans.push(existsPlan(existing));
        continue;
      }
      if (!REPLACE_ALLOWED[opts.command]!.includes(existing.desiredState)) {
        out.stderr(
          `Warning: can not replace Unit(${name}) in state '${existing.desiredState}', use the appropriate command\n`,
        );
        plans.push(existsPlan(existing));
        continue;
      }
      plans.push({
        name,
        action: 'replace',
        body: differs.body,
        source: differs.path,
        desiredState: existing.desiredState,
        global: differs.global,
      });
      continue;
    }
    if (local) {
      plans.push({ name, action: 'create', body: local.body, source: local.path, global: local.global });
      continue;
    }
    if (info.kind !== 'instance' || !info.template) {
      throw new DriverError(
        'UNIT_NOT_FOUND',
        `unit ${name} is not in the cluster and there is no file ${path}; give the unit file's path, or submit it first`,
      );
    }
    const tmpl = inCluster.get(info.template);
    if (tmpl) {
      const checked = loadUnit(name, tmpl.body);
      if (!checked.valid) {
        throw new DriverError(
          'INVALID',
          `template ${info.template} in the cluster does not make a valid ${name}: ${checked.errors.map((e) => e.message).join('; ')}`,
        );
      }
      plans.push({
        name,
        action: 'create',
        body: tmpl.body,
        source: `template ${info.template}`,
        global: tmpl.global,
      });
      continue;
    }
    if (templatePath && existsSync(templatePath)) {
      const t = readLocal(templatePath, name);
      plans.push({ name, action: 'create', body: t.body, source: t.path, global: t.global });
      continue;
    }
    throw new DriverError(
      'UNIT_NOT_FOUND',
      `unit ${name} is not in the cluster, and neither is its template ${info.template}; no file ${path} or ${templatePath} either; submit ${info.template} or give the file's path`,
    );
  }
  return plans;
}

function existsPlan(u: UnitInfo): Plan {
  return { name: u.name, action: 'exists', desiredState: u.desiredState, global: u.global };
}

/**
 * The unit names of the arguments, in order, each once; throws a DriverError naming the first
 * invalid one (`after`: what the message adds, e.g. "nothing was submitted"). Pure.
 */
export function namesOf(args: readonly string[], after?: string): { arg: string; name: string }[] {
  const out: { arg: string; name: string }[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    const name = unitNameOf(arg);
    const problem = unitNameProblem(name);
    if (problem)
      throw new DriverError(
        'INVALID',
        `invalid unit name ${JSON.stringify(name)} (from "${arg}"): ${problem}${after ? `; ${after}` : ''}`,
      );
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ arg, name });
  }
  return out;
}

/**
 * Writes the plans: the new units in batches, already in `desiredState` (what the command wants
 * them in), then the replaced files one by one. Returns the names created and replaced, and those
 * someone else created meanwhile (left as they are).
 */
export async function applyPlans(
  plans: readonly Plan[],
  driver: Driver,
  desiredState: DesiredState,
): Promise<{ created: string[]; replaced: string[]; raced: string[] }> {
  const creates = plans.filter((p) => p.action === 'create');
  const { created, existing } = await driver.submitUnits(
    creates.map((p) => ({ name: p.name, body: p.body!, desiredState })),
  );
  const replaced: string[] = [];
  for (const p of plans) {
    if (p.action !== 'replace') continue;
    await driver.replaceUnit(p.name, p.body!);
    replaced.push(p.name);
  }
  return { created, replaced, raced: existing };
}

/**
 * fleet's findUnits: the cluster's units named by the arguments, in argument order, read in one
 * batch. Unknown names are returned separately (fleet skipped them silently; fleetctl reports them).
 */
export async function findUnits(
  args: readonly string[],
  driver: Driver,
): Promise<{ found: UnitInfo[]; missing: string[] }> {
  const names = namesOf(args).map((n) => n.name);
  const byName = new Map((await driver.getUnits(names)).map((u) => [u.name, u]));
  const found: UnitInfo[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const u = byName.get(name);
    if (u) found.push(u);
    else missing.push(name);
  }
  return { found, missing };
}
