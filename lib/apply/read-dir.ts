/**
 * Reading an applied directory (the I/O half of source-file.ts): every candidate entry is read
 * once, without following it into a FIFO or device, and every failure becomes a skipped file with
 * its path and a reason (never an exception): gone meanwhile, permission denied, a directory,
 * not a regular file, too large. Only a directory that cannot be listed at all is an error, so a
 * vanished directory never looks like an empty one (which would prune everything).
 */
import { closeSync, constants, fstatSync, openSync, readSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FleetError } from '../errors.js';
import { MAX_BODY_BYTES } from '../registry/records.js';
import { fileNameProblem, interpretFile, isCandidate, type SourceFile } from './source-file.js';

export class ApplyDirectoryError extends FleetError<'APPLY_DIRECTORY'> {
  constructor(message: string, cause?: unknown) {
    super('APPLY_DIRECTORY', message, { cause, retryable: true });
  }
}

export type FileBytes = { ok: true; bytes: Uint8Array } | { ok: false; reason: string };

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'the file vanished while being read (renamed or deleted); it is read again at the next change';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; make the file readable by fleet';
    case 'EISDIR':
      return 'is a directory, not a unit file';
    case 'ELOOP':
      return 'too many levels of symbolic links (or a dangling loop)';
    default:
      return `cannot read it (${code ?? (err instanceof Error ? err.message : String(err))})`;
  }
}

/** Reads one file; never throws. */
export function readFileBytes(path: string): FileBytes {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused below).
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return { ok: false, reason: describe(err) };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { ok: false, reason: describe({ code: 'EISDIR' }) };
    if (!st.isFile()) return { ok: false, reason: 'not a regular file (a FIFO, socket or device)' };
    if (st.size > MAX_BODY_BYTES) {
      return { ok: false, reason: `the file is ${st.size} bytes; a unit file has at most ${MAX_BODY_BYTES}` };
    }
    const bytes = new Uint8Array(st.size);
    let at = 0;
    while (at < bytes.length) {
      const n = readSync(fd, bytes, at, bytes.length - at, at);
      if (n === 0) break;
      at += n;
    }
    return { ok: true, bytes: bytes.subarray(0, at) };
  } catch (err) {
    return { ok: false, reason: describe(err) };
  } finally {
    try {
      closeSync(fd);
    } catch {
      // Only read.
    }
  }
}

/**
 * Every unit file of `dir`, interpreted (templates first, so an empty instance file can use its
 * template). Throws ApplyDirectoryError when the directory itself cannot be listed.
 */
export function readSourceDirectory(
  dir: string,
  read: (path: string) => FileBytes = readFileBytes,
): SourceFile[] {
  const abs = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'ENOTDIR'
          ? 'it is not a directory'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : `cannot list it (${code ?? String(err)})`;
    throw new ApplyDirectoryError(
      `cannot read the unit directory ${abs}: ${why}; nothing was applied (and nothing pruned)`,
      err,
    );
  }
  const candidates = names.filter(isCandidate).sort();
  const templates = new Map<string, SourceFile>();
  const noTemplate = () => undefined;
  const interpret = (n: string, lookup: (t: string) => SourceFile | undefined): SourceFile => {
    const path = join(abs, n);
    const r = read(path);
    if (!r.ok) {
      // A file that cannot be read keeps its name (so its unit is never pruned for it).
      const bad = fileNameProblem(n);
      return bad === undefined
        ? { kind: 'skipped', path, name: n, reason: r.reason }
        : { kind: 'skipped', path, reason: `${bad}; and ${r.reason}` };
    }
    return interpretFile(path, n, r.bytes, lookup);
  };
  for (const n of candidates) if (n.includes('@.')) templates.set(n, interpret(n, noTemplate));
  const out: SourceFile[] = [];
  for (const n of candidates) {
    const t = templates.get(n);
    if (t !== undefined) out.push(t);
    else out.push(interpret(n, (tpl) => templates.get(tpl)));
  }
  return out;
}
