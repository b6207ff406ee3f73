/**
 * Markdown tables, read and written: the benchmarks print their results as markdown tables, and
 * bench/all.ts reads them back from each benchmark's output to print one combined table. Pure
 * (no I/O); tested in test/bench/table.test.ts.
 */

/** One markdown table: its header cells and its body rows (cells trimmed, `\|` unescaped). */
export interface MarkdownTable {
  header: string[];
  rows: string[][];
}

/** A body row found by its label (first cell), with its cells by header name. */
export interface FoundRow {
  table: MarkdownTable;
  cells: string[];
  /** Header name -> cell (lower-cased header names); missing cells are ''. */
  byHeader: Map<string, string>;
}

const SEPARATOR_CELL = /^:?-+:?$/;

/** Splits `| a | b \| c |` into ['a', 'b | c']; undefined for a line that is not a table row. */
export function splitRow(line: string): string[] | undefined {
  const t = line.trim();
  if (!t.startsWith('|')) return undefined;
  const cells: string[] = [];
  let cur = '';
  for (let i = 1; i < t.length; i++) {
    const ch = t[i]!;
    if (ch === '\\' && t[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (ch === '|') {
      cells.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  // A row without a closing pipe keeps its last cell.
  if (cur.trim() !== '') cells.push(cur.trim());
  return cells;
}

function isSeparator(cells: string[]): boolean {
  return cells.length > 0 && cells.every((c) => SEPARATOR_CELL.test(c));
}

/**
 * Every markdown table in `text`, in order: a header row, a separator row (`|---|:--:|`), then the
 * body rows up to the first line that is not a table row. Other lines (titles, progress, `$ cmd`)
 * are skipped; pipe-lines without a separator under their first line are not tables.
 */
export function parseTables(text: string): MarkdownTable[] {
  const lines = text.split(/\r?\n/);
  const tables: MarkdownTable[] = [];
  for (let i = 0; i < lines.length; i++) {
    const header = splitRow(lines[i]!);
    const sep = i + 1 < lines.length ? splitRow(lines[i + 1]!) : undefined;
    if (!header || !sep || !isSeparator(sep)) continue;
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length; j++) {
      const cells = splitRow(lines[j]!);
      if (!cells) break;
      rows.push(cells);
    }
    tables.push({ header, rows });
    i = j - 1;
  }
  return tables;
}

/**
 * The first body row, in any of the tables, whose first cell is `label` (exact, ignoring case and
 * surrounding space) or matches it (a RegExp).
 */
export function findRow(tables: readonly MarkdownTable[], label: string | RegExp): FoundRow | undefined {
  const want = typeof label === 'string' ? label.trim().toLowerCase() : undefined;
  for (const table of tables) {
    for (const cells of table.rows) {
      const first = cells[0] ?? '';
      const hit = want !== undefined ? first.toLowerCase() === want : (label as RegExp).test(first);
      if (!hit) continue;
      const byHeader = new Map(table.header.map((h, k) => [h.toLowerCase(), cells[k] ?? '']));
      return { table, cells, byHeader };
    }
  }
  return undefined;
}

/** A cell's text made safe inside a table row: pipes escaped, line breaks flattened. */
export function escapeCell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** A markdown table: header, separator (`align`: 'l' or 'r' per column, default left), rows. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align = '',
): string {
  const sep = header.map((_, k) => (align[k] === 'r' ? '--:' : '---'));
  const line = (cells: readonly string[]) =>
    `| ${header.map((_, k) => escapeCell(cells[k] ?? '')).join(' | ')} |`;
  return [line(header), `|${sep.join('|')}|`, ...rows.map(line)].join('\n');
}

/** Median (the mean of the middle two for an even count), minimum and maximum. */
export function summarize(xs: readonly number[]): { median: number; min: number; max: number; n: number } {
  if (xs.length === 0) throw new RangeError('summarize: no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/**
 * The line of a failed bench's stderr that says why: the last error message (not a stack frame,
 * not a brace of a dumped object), else the last line.
 */
export function failureLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^\[\w+\] /, '').trim())
    .filter(Boolean);
  const msg = [...lines].reverse().find((l) => /^(\w*Error\b|bench\/[\w-]+:|error:)/i.test(l));
  return msg ?? lines[lines.length - 1] ?? '';
}
