/**
 * Unit names as systemd 252 reads them (`unit_name_is_valid`, `unit_name_escape`,
 * `unit_name_path_escape` and their inverses in src/basic/unit-name.c). Pure: no I/O.
 *
 * A name is `prefix.suffix` (plain), `prefix@.suffix` (template) or `prefix@instance.suffix`
 * (instance). The suffix is the text after the LAST dot; the instance starts after the FIRST `@`.
 */
import { UNIT_TYPES, type UnitType } from './sections.js';

/** systemd's UNIT_NAME_MAX is 256 including the terminating NUL: 255 characters at most. */
export const UNIT_NAME_MAX_LENGTH = 255;

/**
 * The unit types systemd 252 knows (unit_type_table), shared with the grammar (sections.ts).
 * fleet itself only documents service, socket, device, mount, automount, timer and path.
 */
export const UNIT_SUFFIXES = UNIT_TYPES;
export type UnitSuffix = UnitType;

const SUFFIX_SET: ReadonlySet<string> = new Set(UNIT_SUFFIXES);
/** Characters allowed before the suffix (systemd's VALID_CHARS_WITH_AT). */
const NAME_CHAR = /^[a-zA-Z0-9:_.\\@-]$/;
/** Characters `unit_name_escape` keeps as they are (systemd's VALID_CHARS, minus `-` and `\`). */
const KEEP_CHAR = /^[a-zA-Z0-9:_.]$/;

export type UnitNameKind = 'plain' | 'template' | 'instance';

/** A unit name systemd would refuse; `unitName` is the offending input, `reason` says why. */
export class InvalidUnitNameError extends Error {
  override readonly name = 'InvalidUnitNameError';
  constructor(
    readonly unitName: string,
    readonly reason: string,
  ) {
    super(`invalid unit name ${JSON.stringify(unitName)}: ${reason}`);
  }
}

/** A string `unescapeName`/`unescapePath` cannot decode, or a path `escapePath` refuses. */
export class UnitEscapeError extends Error {
  override readonly name = 'UnitEscapeError';
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`cannot (un)escape ${JSON.stringify(input)}: ${reason}`);
  }
}

/** The parts of a valid unit name, like fleet's UnitNameInfo. */
export interface UnitNameInfo {
  /** The whole name, e.g. `foo@bar.service`. */
  fullName: string;
  /** The name without its suffix, e.g. `foo@bar`. */
  name: string;
  /** The part before the first `@` (or the whole name without suffix), e.g. `foo`. */
  prefix: string;
  /** The text between the first `@` and the suffix's dot; `''` for templates and plain units. */
  instance: string;
  /** The unit type, e.g. `service`. */
  suffix: UnitSuffix;
  kind: UnitNameKind;
  /** For templates and instances, the template's name, e.g. `foo@.service`; otherwise null. */
  template: string | null;
}

/** Why `name` is not a valid unit name, or null when it is. */
export function unitNameProblem(name: string): string | null {
  if (name.length === 0) return 'a unit name cannot be empty; use e.g. "web.service"';
  if (name.length > UNIT_NAME_MAX_LENGTH) {
    return `it is ${name.length} characters long; systemd allows at most ${UNIT_NAME_MAX_LENGTH}`;
  }
  if (name.includes('/')) {
    return 'it contains "/"; a unit name is a file name, not a path (pass the file\'s base name, or escape a path with systemd-escape --path)';
  }
  // systemd accepts ".." inside a prefix, but our unit names become file names and etcd keys:
  // refuse it so that no name can look like a parent directory.
  if (name.includes('..')) return 'it contains ".."; rename the unit without consecutive dots';
  const dot = name.lastIndexOf('.');
  if (dot === -1) {
    return `it has no type suffix; add one of .${UNIT_SUFFIXES.join(', .')} (e.g. "${name}.service")`;
  }
  if (dot === 0) return 'the part before the type suffix is empty';
  const suffix = name.slice(dot + 1);
  if (!SUFFIX_SET.has(suffix)) {
    return `unknown unit type ".${suffix}"; use one of .${UNIT_SUFFIXES.join(', .')}`;
  }
  for (const ch of name.slice(0, dot)) {
    if (!NAME_CHAR.test(ch)) {
      return `character ${JSON.stringify(ch)} is not allowed; only letters, digits and ":_.\\@-" are (escape other text with systemd-escape)`;
    }
  }
  if (name.startsWith('@')) return 'it starts with "@"; a template or instance needs a prefix before the "@"';
  return null;
}

export function isValidUnitName(name: string): boolean {
  return unitNameProblem(name) === null;
}

/** Throws InvalidUnitNameError unless `name` is a valid unit name. */
export function validateUnitName(name: string): void {
  const problem = unitNameProblem(name);
  if (problem !== null) throw new InvalidUnitNameError(name, problem);
}

/** Splits a valid unit name into its parts; throws InvalidUnitNameError otherwise. */
export function parseUnitName(name: string): UnitNameInfo {
  validateUnitName(name);
  const dot = name.lastIndexOf('.');
  const base = name.slice(0, dot);
  const suffix = name.slice(dot + 1) as UnitSuffix;
  const at = base.indexOf('@');
  if (at === -1) {
    return { fullName: name, name: base, prefix: base, instance: '', suffix, kind: 'plain', template: null };
  }
  const prefix = base.slice(0, at);
  const instance = base.slice(at + 1);
  return {
    fullName: name,
    name: base,
    prefix,
    instance,
    suffix,
    kind: instance === '' ? 'template' : 'instance',
    template: `${prefix}@.${suffix}`,
  };
}

/** `foo@.service` is a template. False for instances, plain names and invalid names. */
export function isTemplate(name: string): boolean {
  return isValidUnitName(name) && parseUnitName(name).kind === 'template';
}

/** `foo@bar.service` is an instance. False for templates, plain names and invalid names. */
export function isInstance(name: string): boolean {
  return isValidUnitName(name) && parseUnitName(name).kind === 'instance';
}

/** The instance part of `foo@bar.service` (`bar`), or null when `name` is not an instance. */
export function instanceOf(name: string): string | null {
  if (!isValidUnitName(name)) return null;
  const info = parseUnitName(name);
  return info.kind === 'instance' ? info.instance : null;
}

/** The template of an instance or template (`foo@.service`), or null for plain/invalid names. */
export function templateOf(name: string): string | null {
  if (!isValidUnitName(name)) return null;
  return parseUnitName(name).template;
}

/** The prefix (`foo` for `foo@bar.service` and `foo.service`); throws on an invalid name. */
export function prefixOf(name: string): string {
  return parseUnitName(name).prefix;
}

/** Builds `prefix@instance.suffix` from a template name and an (already escaped) instance. */
export function instanceName(template: string, instance: string): string {
  const info = parseUnitName(template);
  if (info.kind !== 'template') {
    throw new InvalidUnitNameError(template, 'it is not a template (templates look like "name@.service")');
  }
  const name = `${info.prefix}@${instance}.${info.suffix}`;
  validateUnitName(name);
  return name;
}

function escapeByte(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * Escapes arbitrary text into a string usable inside a unit name, as `systemd-escape TEXT`:
 * `/` becomes `-`; letters, digits, `:`, `_` and `.` stay; every other byte (UTF-8) becomes
 * `\xNN`; a leading `.` is escaped too.
 */
export function escapeName(text: string): string {
  let out = '';
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    const ch = String.fromCharCode(byte);
    if (i === 0 && ch === '.') out += escapeByte(byte);
    else if (ch === '/') out += '-';
    else if (byte < 0x80 && KEEP_CHAR.test(ch)) out += ch;
    else out += escapeByte(byte);
  }
  return out;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/**
 * The inverse of escapeName, as `systemd-escape --unescape`: `-` becomes `/`, `\xNN` becomes the
 * byte NN. Throws UnitEscapeError on any other backslash sequence or on bytes that are not UTF-8.
 */
export function unescapeName(escaped: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    const ch = escaped[i] as string;
    if (ch === '-') bytes.push(0x2f);
    else if (ch === '\\') {
      const hex = escaped.slice(i + 2, i + 4);
      if (escaped[i + 1] !== 'x' || !HEX.test(hex)) {
        throw new UnitEscapeError(
          escaped,
          `bad escape at offset ${i}: only "\\xNN" (two hex digits) is allowed`,
        );
      }
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      for (const b of new TextEncoder().encode(ch)) bytes.push(b);
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    throw new UnitEscapeError(escaped, 'the escaped bytes are not valid UTF-8');
  }
}

/** Removes repeated slashes, `.` components and trailing slashes (systemd's path_simplify). */
function simplifyPath(path: string): string {
  const absolute = path.startsWith('/');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  return (absolute ? '/' : '') + parts.join('/');
}

/**
 * Escapes a file-system path, as `systemd-escape --path PATH`: the path is simplified, leading
 * and trailing slashes are dropped, and the rest is escaped; `/` alone becomes `-`. A path with a
 * `..` component is refused (UnitEscapeError), as systemd refuses non-normalized paths.
 */
export function escapePath(path: string): string {
  if (path.length === 0) throw new UnitEscapeError(path, 'the path is empty');
  if (path.includes('\0')) throw new UnitEscapeError(path, 'the path contains a NUL byte');
  const simple = simplifyPath(path);
  if (simple === '' || simple === '/') return '-';
  if (simple.split('/').includes('..')) {
    throw new UnitEscapeError(path, 'the path contains ".."; pass a normalized path');
  }
  return escapeName(simple.replace(/^\/+/, ''));
}

/** The inverse of escapePath, as `systemd-escape --unescape --path`: always an absolute path. */
export function unescapePath(escaped: string): string {
  if (escaped.length === 0) throw new UnitEscapeError(escaped, 'an escaped path cannot be empty');
  if (escaped === '-') return '/';
  const path = '/' + unescapeName(escaped);
  const parts = path.split('/').slice(1);
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UnitEscapeError(
      escaped,
      `it decodes to ${JSON.stringify(path)}, which is not a normalized path`,
    );
  }
  return path;
}
