/**
 * Reading a unit file from disk for fleetctl, with every failure turned into a reason a user can
 * read (never a stack trace): missing, unreadable, a directory, not a regular file, far too large.
 * The bytes go to the grammar as they are: it reports NUL bytes, invalid UTF-8 and its own size cap.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Files larger than this are not read at all (the grammar's own cap is lower; this guards memory). */
export const READ_LIMIT_BYTES = 64 * 1024 * 1024;

export type UnitFileRead = { ok: true; bytes: Uint8Array } | { ok: false; reason: string };

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file; check the path';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; make the file readable or run as a user who can read it';
    case 'EISDIR':
      return 'is a directory, not a unit file; pass the unit files inside it';
    case 'ENOTDIR':
      return 'a part of the path is not a directory; check the path';
    case 'ELOOP':
      return 'too many levels of symbolic links; check the link';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    default:
      return `cannot read it (${code ?? (err instanceof Error ? err.message : String(err))})`;
  }
}

export function readUnitFile(path: string): UnitFileRead {
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
    if (!st.isFile())
      return { ok: false, reason: 'not a regular file (a device, FIFO or socket); pass a unit file' };
    if (st.size > READ_LIMIT_BYTES) {
      return {
        ok: false,
        reason: `the file is ${st.size} bytes; unit files are small text files (not read past ${READ_LIMIT_BYTES} bytes)`,
      };
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
      // Nothing to do: the file was only read.
    }
  }
}
