/**
 * What one file of an applied directory says (pure): its unit name (the file name), the unit file
 * to submit and the desired state it declares, or why it is skipped. A directory entry is read by
 * read-dir.ts; everything decided about its bytes is decided here.
 *
 * The desired state is declared in the file itself, in a section fleet-ts owns and strips before
 * submitting (systemd would ignore it anyway, as every `[X-...]` section):
 *
 *     [X-Fleet-Apply]
 *     DesiredState=loaded        # inactive | loaded | launched (default launched; templates: inactive)
 *
 * Because the section is stripped, changing only DesiredState changes the desired state of the unit
 * and not its file (its hash), so the unit is not restarted for it.
 *
 * An EMPTY file named like an instance (`web@2.service`) declares an instance of the template file
 * next to it (`web@.service`): it gets the template's file. An instance file may also be a symbolic
 * link to the template, or a copy of it.
 */
import { isTemplate, loadUnit, parseUnitFile, templateOf, unitNameProblem } from '../../units/index.js';
import { DESIRED_STATES, type DesiredState } from '../registry/records.js';

export const APPLY_SECTION = 'X-Fleet-Apply';

/** A file that is a unit, ready to be compared with the cluster. */
export interface SourceUnit {
  kind: 'unit';
  path: string;
  name: string;
  /** The unit file as submitted ([X-Fleet-Apply] removed). */
  body: string;
  /** units/canonical's hash of `body`. */
  hash: string;
  desiredState: DesiredState;
}

/** A file that is skipped, with why. `name` is set when the file name is a unit name. */
export interface SkippedFile {
  kind: 'skipped';
  path: string;
  name?: string;
  reason: string;
}

export type SourceFile = SourceUnit | SkippedFile;

/** The suffixes a unit file may have (units/'s unit types). */
const UNIT_SUFFIX = /\.(service|socket|device|mount|automount|swap|target|path|timer|snapshot|slice|scope)$/;

/**
 * Whether a directory entry is considered at all. Hidden files (editors' swap and lock files,
 * `.#hello.service`) and names without a unit type suffix (README, `hello.service~`,
 * `hello.service.swp`) are ignored silently; every other name is a unit file, and a bad one is
 * reported.
 */
export function isCandidate(fileName: string): boolean {
  return !fileName.startsWith('.') && UNIT_SUFFIX.test(fileName);
}

/** Why a file name is not a unit name, or undefined when it is one. */
export function fileNameProblem(fileName: string): string | undefined {
  const p = unitNameProblem(fileName);
  return p === null ? undefined : `${JSON.stringify(fileName)} is not a unit name: ${p}`;
}

/** Removes the [X-Fleet-Apply] section (its header line up to the next section header). Pure. */
export function stripApplySection(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    const t = line.trim();
    if (t.startsWith('[')) inside = t === `[${APPLY_SECTION}]`;
    if (!inside) out.push(line);
  }
  return out.join('\n');
}

/**
 * Interprets a file's bytes. `templateOfInstance` gives the interpreted template file of the
 * directory for an empty instance file (undefined: there is none).
 */
export function interpretFile(
  path: string,
  fileName: string,
  bytes: Uint8Array,
  templateOfInstance: (template: string) => SourceFile | undefined,
): SourceFile {
  const nameProblem = fileNameProblem(fileName);
  if (nameProblem !== undefined) return { kind: 'skipped', path, reason: nameProblem };
  const name = fileName;
  const skip = (reason: string): SkippedFile => ({ kind: 'skipped', path, name, reason });
  const template = templateOf(name);
  if (bytes.length === 0) {
    if (template === null) return skip('the file is empty (still being written?); a unit file sets options');
    const t = templateOfInstance(template);
    if (t === undefined) {
      return skip(`an empty instance file uses its template ${template}, which is not in the directory`);
    }
    if (t.kind === 'skipped') return skip(`its template ${template} is skipped: ${t.reason}`);
    return { kind: 'unit', path, name, body: t.body, hash: t.hash, desiredState: 'launched' };
  }
  const parsed = parseUnitFile(bytes);
  if (!parsed.ok) {
    const line = parsed.error.line > 0 ? ` (line ${parsed.error.line})` : '';
    return skip(`not a unit file${line}: ${parsed.error.reason}`);
  }
  let desiredState: DesiredState = isTemplate(name) ? 'inactive' : 'launched';
  for (const o of parsed.unit.options) {
    if (o.section !== APPLY_SECTION) continue;
    if (o.name !== 'DesiredState') {
      return skip(`line ${o.line}: [${APPLY_SECTION}] knows only DesiredState=, not ${o.name}=`);
    }
    if (!(DESIRED_STATES as readonly string[]).includes(o.value)) {
      return skip(`line ${o.line}: DesiredState=${o.value} is not one of ${DESIRED_STATES.join(', ')}`);
    }
    desiredState = o.value as DesiredState;
  }
  if (isTemplate(name) && desiredState !== 'inactive') {
    return skip(
      `a template cannot be ${desiredState}; drop DesiredState= and add instance files (e.g. ${name.replace('@.', '@1.')})`,
    );
  }
  const body = stripApplySection(Buffer.from(bytes).toString('utf8'));
  const loaded = loadUnit(name, body);
  if (!loaded.valid || loaded.hash === null) {
    return skip(
      `refused: ${loaded.errors.map((e) => (e.line ? `line ${e.line}: ` : '') + e.message).join('; ')}`,
    );
  }
  if ((loaded.unit?.options.length ?? 0) === 0) return skip('the file sets no option (is it a unit file?)');
  return { kind: 'unit', path, name, body, hash: loaded.hash, desiredState };
}
