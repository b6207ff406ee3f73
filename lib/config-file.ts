/**
 * Reads fleet.conf text (INI, as fleet: options at the top level, outside any section) into
 * entries that remember their line, so every message can say file:line. Each line's key and
 * value are read by the `ini` package (quotes, inline ; and # comments), one line at a time. Pure.
 */
import { decode } from 'ini';

export interface FileEntry {
  key: string;
  value: string;
  /** 1-based. */
  line: number;
  /** The [section] it is in, if any (fleet ignores those). */
  section?: string;
}

export interface FileScan {
  entries: FileEntry[];
  /** Lines that are not "option = value": { line, message }. */
  problems: { line: number; message: string }[];
}

export function scanConfigText(text: string): FileScan {
  const entries: FileEntry[] = [];
  const problems: FileScan['problems'] = [];
  let section: string | undefined;
  const lines = text.split(/\r\n|\r|\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    const header = /^\[([^\]]*)\]$/.exec(trimmed);
    if (header) {
      section = header[1]!.trim();
      return;
    }
    if (!trimmed.includes('=')) {
      problems.push({ line, message: `"${trimmed}" is not option=value` });
      return;
    }
    const decoded = decode(trimmed, { bracketedArray: false }) as Record<string, unknown>;
    const keys = Object.keys(decoded);
    const key = keys[0];
    if (keys.length !== 1 || key === undefined || key.trim() === '') {
      problems.push({ line, message: `"${trimmed}" is not option=value (the option name is missing)` });
      return;
    }
    const value = unquote(String(decoded[key]));
    entries.push({ key: key.trim(), value, line, ...(section !== undefined ? { section } : {}) });
  });
  return { entries, problems };
}

/** `ini` keeps the quotes of a quoted value followed by a comment: drop one matching pair. */
function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) return t.slice(1, -1);
  return v;
}
