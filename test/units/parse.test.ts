/**
 * One table row per grammar rule of units/parse.ts. The same rules are checked against systemd
 * 252's own verdicts in systemd-fixtures.test.ts; here the expected results are spelled out.
 */

import { expect } from 'chai';
import {
  DEFAULT_MAX_BYTES,
  LONG_LINE_MAX,
  UnitParseError,
  lastValue,
  listValues,
  parseUnitFile,
  type ParseOptions,
} from '../../units/parse.js';
import { type ParsedUnit } from '../../units/types.js';
import { unitHash } from '../../units/canonical.js';

type Opt = [section: string, name: string, value: string, line: number];
type Warn = [line: number, code: string, systemdLine?: number];

interface Row {
  rule: string;
  input: string | Uint8Array;
  opts?: ParseOptions;
  options?: Opt[];
  sections?: string[];
  warnings?: Warn[];
  error?: { code: string; line: number; systemdLine?: number };
}

const S = '[Service]\nExecStart=/bin/true\n';
const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? Array.from(Buffer.from(p, 'latin1')) : p)));

const rows: Row[] = [
  {
    rule: 'sections and Name=Value assignments, in file order with their lines',
    input: `[Unit]\nDescription=hello\n${S}`,
    options: [
      ['Unit', 'Description', 'hello', 2],
      ['Service', 'ExecStart', '/bin/true', 4],
    ],
    sections: ['Unit', 'Service'],
    warnings: [],
  },
  {
    rule: '# and ; start comments, also indented; inside a value they are text',
    input: '# c1\n; c2\n[Unit]\n  # c3\n\t; c4\nDescription=a # b ; c\n',
    options: [['Unit', 'Description', 'a # b ; c', 6]],
    warnings: [],
  },
  {
    rule: 'a trailing backslash continues the line; it becomes a space, the next line is kept as is',
    input: '[Unit]\nDescription=first \\\n   second\\\nthird\nDocumentation=man:x(1)\n',
    options: [
      ['Unit', 'Description', 'first     second third', 2],
      ['Unit', 'Documentation', 'man:x(1)', 5],
    ],
  },
  {
    rule: 'comment lines inside a continuation are skipped and the continuation goes on',
    input: '[Unit]\nDescription=one \\\n# comment\n; comment\n  # comment\ntwo\n',
    options: [['Unit', 'Description', 'one  two', 2]],
  },
  {
    rule: 'a backslash followed by trailing blanks is NOT a continuation',
    input: '[Unit]\nDescription=ends\\ \nDocumentation=man:a(1)\nX-A=tab\\\t\nX-B=b\n',
    options: [
      ['Unit', 'Description', 'ends\\', 2],
      ['Unit', 'Documentation', 'man:a(1)', 3],
      ['Unit', 'X-A', 'tab\\', 4],
      ['Unit', 'X-B', 'b', 5],
    ],
  },
  {
    rule: 'an escaped backslash (even count) at the end is not a continuation; an odd count is',
    input: '[Unit]\nA=two\\\\\nB=three\\\\\\\nC=next\n',
    options: [
      ['Unit', 'A', 'two\\\\', 2],
      ['Unit', 'B', 'three\\\\ C=next', 3],
    ],
  },
  {
    rule: 'an empty line ends a continuation',
    input: '[Unit]\nA=a \\\n\nB=b\n',
    options: [
      ['Unit', 'A', 'a', 2],
      ['Unit', 'B', 'b', 4],
    ],
  },
  {
    rule: 'whitespace around keys and values is trimmed (spaces, tabs), inner whitespace kept',
    input: '[Unit]\n   Description   =   spaced   value  \t \n\tX-Tab\t=\tv\t\n',
    options: [
      ['Unit', 'Description', 'spaced   value', 2],
      ['Unit', 'X-Tab', 'v', 3],
    ],
  },
  {
    rule: 'vertical tab and form feed are not trimmed (systemd trims only space, tab, CR, LF)',
    input: '[Unit]\nDescription=\vx\f\n',
    options: [['Unit', 'Description', '\vx\f', 2]],
  },
  {
    rule: 'the first = splits; further = belong to the value',
    input: '[Service]\nEnvironment=A=1=2 B==\nX==\n',
    options: [
      ['Service', 'Environment', 'A=1=2 B==', 2],
      ['Service', 'X', '=', 3],
    ],
  },
  {
    rule: 'quotes are kept verbatim',
    input: `[Unit]\nDescription="quoted 'v'" and 'single "q"'\n`,
    options: [['Unit', 'Description', `"quoted 'v'" and 'single "q"'`, 2]],
  },
  {
    rule: 'a key may contain blanks inside (systemd then reports an unknown key)',
    input: '[Unit]\nDescrip tion = x\n',
    options: [['Unit', 'Descrip tion', 'x', 2]],
  },
  {
    rule: 'CRLF line endings, also in continuations',
    input: '[Unit]\r\nDescription=crlf \\\r\n  more\r\nfoo\r\n',
    options: [['Unit', 'Description', 'crlf    more', 2]],
    warnings: [[4, 'missing-equals']],
  },
  {
    rule: 'a lone CR ends a line too',
    input: '[Unit]\rDescription=mac\rfoo\r',
    options: [['Unit', 'Description', 'mac', 2]],
    warnings: [[3, 'missing-equals']],
  },
  {
    rule: 'line ends: \\r\\n, \\n\\r count once; \\n\\n, \\r\\r twice',
    input: '[Unit]\n\rA=1\n\nfoo1\r\rfoo2\r\n\r\nfoo3\n',
    options: [['Unit', 'A', '1', 2]],
    warnings: [
      [4, 'missing-equals'],
      [6, 'missing-equals'],
      [8, 'missing-equals'],
    ],
  },
  {
    rule: 'a trailing backslash at the end of the file: the line is read, systemd numbers it one past the end',
    input: '[Unit]\nDescription=x\nno equals \\',
    options: [['Unit', 'Description', 'x', 2]],
    warnings: [[3, 'missing-equals', 4]],
  },
  {
    rule: 'a trailing backslash at the end of the file, value kept without the backslash',
    input: '[Unit]\nDescription=end \\\n',
    options: [['Unit', 'Description', 'end', 2]],
  },
  {
    rule: 'a warning on a continued line: line = first physical line, systemdLine = last',
    input: '[Unit]\nfoo \\\n# c\nbar\n',
    options: [],
    warnings: [[2, 'missing-equals', 4]],
  },
  {
    rule: 'repeated keys are all kept, in order',
    input: '[Unit]\nDescription=a\nDescription=b\n[Service]\nDescription=c\n[Unit]\nDescription=d\n',
    options: [
      ['Unit', 'Description', 'a', 2],
      ['Unit', 'Description', 'b', 3],
      ['Service', 'Description', 'c', 5],
      ['Unit', 'Description', 'd', 7],
    ],
    sections: ['Unit', 'Service'],
  },
  {
    rule: 'a UTF-8 byte order mark at the start is dropped',
    input: bytes([0xef, 0xbb, 0xbf], '[Unit]\nDescription=x\n'),
    options: [['Unit', 'Description', 'x', 2]],
    warnings: [],
  },
  {
    rule: 'a byte order mark before # makes the line NOT a comment',
    input: bytes([0xef, 0xbb, 0xbf], '#x=1\n[Unit]\n', [0xef, 0xbb, 0xbf], '#y=2\n'),
    options: [['Unit', '\ufeff#y', '2', 3]],
    warnings: [[1, 'assignment-outside-section']],
  },
  {
    rule: 'only the first line starting with a byte order mark loses it, wherever it is',
    input: bytes('[Unit]\n', [0xef, 0xbb, 0xbf], 'A=1\n', [0xef, 0xbb, 0xbf], 'B=2\n'),
    options: [
      ['Unit', 'A', '1', 2],
      ['Unit', '\ufeffB', '2', 3],
    ],
  },
  {
    rule: 'an assignment before any section is ignored with a warning',
    input: 'Description=outside\nfoo\n[Unit]\nDescription=inside\n',
    options: [['Unit', 'Description', 'inside', 4]],
    warnings: [
      [1, 'assignment-outside-section'],
      [2, 'assignment-outside-section'],
    ],
  },
  {
    rule: 'a line without = is ignored with a warning',
    input: '[Unit]\njust words\n',
    options: [],
    warnings: [[2, 'missing-equals']],
  },
  {
    rule: 'a line with nothing before = is ignored with a warning',
    input: '[Unit]\n=value\n   = spaced\n',
    options: [],
    warnings: [
      [2, 'missing-key'],
      [3, 'missing-key'],
    ],
  },
  {
    rule: 'an unterminated [Section refuses the file, with its line',
    input: '[Unit]\nDescription=x\n[Service\nExecStart=/bin/true\n',
    error: { code: 'invalid-section-header', line: 3 },
  },
  {
    rule: 'a lone [ refuses the file',
    input: '[Unit]\n[\n',
    error: { code: 'invalid-section-header', line: 2 },
  },
  {
    rule: 'a comment after a section header refuses the file',
    input: '[Unit] # comment\n',
    error: { code: 'invalid-section-header', line: 1 },
  },
  {
    rule: 'an unterminated header on a continued line: line = first, systemdLine = last',
    input: '[Unit]\n[Serv\\\nice\n',
    error: { code: 'invalid-section-header', line: 2, systemdLine: 3 },
  },
  {
    rule: 'section names are taken verbatim between the outer brackets (blanks, brackets, empty)',
    input: '  [Unit]  \t\n[ Service ]\na=1\n[Un]it]\nb=2\n[]\nc=3\n[[X]]\n',
    sections: ['Unit', ' Service ', 'Un]it', '', '[X]'],
    options: [
      [' Service ', 'a', '1', 3],
      ['Un]it', 'b', '2', 5],
      ['', 'c', '3', 7],
    ],
    warnings: [],
  },
  {
    rule: 'a section name with a quote, a backslash or a control character refuses the file',
    input: '[Unit]\nA=1\n[X-"q"]\n',
    error: { code: 'bad-section-name', line: 3 },
  },
  ...["'", '\\', '\t', '\v', '\x01', '\x7f'].map((c): Row => ({
    rule: `a section name holding ${JSON.stringify(c)} refuses the file`,
    input: `[Unit]\n[X-a${c}b]\n`,
    error: { code: 'bad-section-name', line: 2 },
  })),
  {
    rule: 'a section name may hold non-ASCII letters, blanks, %, ;, # and =',
    input: '[X-é€ %;#=b]\nfoo=1\n',
    sections: ['X-é€ %;#=b'],
    options: [['X-é€ %;#=b', 'foo', '1', 2]],
  },
  {
    rule: 'with a unit type, an unknown section is warned about and an X- section is silent',
    input: '[Unit]\nA=1\n[Foo]\nB=2\nno equals\n[X-Fleet]\nC=3\nno equals\n[Service]\n',
    opts: { unitType: 'service' },
    sections: ['Unit', 'Foo', 'X-Fleet', 'Service'],
    warnings: [
      [3, 'unknown-section'],
      [5, 'missing-equals'],
      [8, 'missing-equals'],
    ],
  },
  {
    rule: 'the known sections depend on the unit type',
    input: '[Unit]\n[Service]\n[Socket]\n[Install]\n',
    opts: { unitType: 'socket' },
    warnings: [[2, 'unknown-section']],
  },
  {
    rule: 'NUL bytes refuse the file by default, with the line',
    input: '[Unit]\nDescription=ab\0cd\n',
    error: { code: 'nul-byte', line: 2 },
  },
  {
    rule: 'with allowNul a NUL ends the line, as in systemd',
    input: '[Unit]\nDescription=ab\0cd\n\0\nfoo\0\rbar\n',
    opts: { allowNul: true },
    options: [['Unit', 'Description', 'ab', 2]],
    warnings: [
      [3, 'missing-equals'],
      [5, 'missing-equals'],
      [7, 'missing-equals'],
    ],
  },
  {
    rule: 'invalid UTF-8 refuses the file, with the line',
    input: bytes('[Unit]\nDescription=bad ', [0xff], ' byte\n'),
    error: { code: 'invalid-utf8', line: 2 },
  },
  {
    rule: 'invalid UTF-8 in a comment is fine',
    input: bytes('[Unit]\n# bad ', [0xff, 0xfe], '\nDescription=ok\n'),
    options: [['Unit', 'Description', 'ok', 3]],
  },
  {
    rule: 'invalid UTF-8 even in a section systemd skips refuses the file',
    input: bytes('[X-Fleet]\nMachineOf=', [0xc3], '\n'),
    error: { code: 'invalid-utf8', line: 2 },
  },
  {
    rule: 'UTF-8 noncharacters (U+FFFE, U+FDD0), overlong forms, surrogates, > U+10FFFF are refused',
    input: bytes('[Unit]\nA=', [0xef, 0xbf, 0xbe], '\n'),
    error: { code: 'invalid-utf8', line: 2 },
  },
  {
    rule: 'a string with a lone surrogate is refused like the invalid UTF-8 it stands for',
    input: '[Unit]\nDescription=\ud800x\n',
    error: { code: 'invalid-utf8', line: 2 },
  },
  {
    rule: 'valid multi-byte UTF-8, and a byte order mark inside a value, are kept',
    input: '[Unit]\nDescription=é€😀 \ufeff bom\n',
    options: [['Unit', 'Description', 'é€😀 \ufeff bom', 2]],
  },
  {
    rule: 'binary data is refused with a typed error',
    input: bytes([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0xb0, 0x9f]),
    error: { code: 'nul-byte', line: 1 },
  },
  {
    rule: 'binary data without NUL bytes is refused as invalid UTF-8',
    input: bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    error: { code: 'invalid-utf8', line: 1 },
  },
  {
    rule: 'an empty file parses, with a warning that systemd takes it as masked',
    input: '',
    options: [],
    sections: [],
    warnings: [[0, 'empty-file']],
  },
  {
    rule: 'a file of comments and blank lines parses to nothing, without warnings',
    input: '# a\n\n   \n\t\n; b',
    options: [],
    sections: [],
    warnings: [],
  },
];

function check(row: Row): void {
  const result = parseUnitFile(row.input, row.opts);
  if (row.error) {
    expect(result.ok, 'refused').to.equal(false);
    if (result.ok) return;
    expect(result.error).to.be.instanceOf(UnitParseError);
    expect(result.error.code).to.equal(row.error.code);
    expect(result.error.line).to.equal(row.error.line);
    expect(result.error.systemdLine).to.equal(row.error.systemdLine);
    return;
  }
  if (!result.ok) expect.fail(`refused: ${result.error.message}`);
  const unit = result.unit;
  if (row.options)
    expect(unit.options.map((o) => [o.section, o.name, o.value, o.line])).to.deep.equal(row.options);
  if (row.sections) expect(unit.sections).to.deep.equal(row.sections);
  if (row.warnings)
    expect(
      unit.warnings.map((w): Warn =>
        w.systemdLine === undefined ? [w.line, w.code!] : [w.line, w.code!, w.systemdLine],
      ),
    ).to.deep.equal(row.warnings);
}

describe('units/parse: the grammar, rule by rule', () => {
  for (const row of rows) it(row.rule, () => check(row));
});

describe('units/parse: sizes and limits', () => {
  const comment = (n: number) => '#' + 'x'.repeat(n - 1);

  it(`a physical line of LONG_LINE_MAX-1 (${LONG_LINE_MAX - 1}) bytes is read`, () => {
    const r = parseUnitFile(`${comment(LONG_LINE_MAX - 1)}\n[Unit]\nA=1\n`, { maxBytes: Infinity });
    expect(r.ok).to.equal(true);
  });

  it('a physical line of LONG_LINE_MAX bytes refuses the file, with its line (also at end of file)', () => {
    for (const text of [`[Unit]\n${comment(LONG_LINE_MAX)}\nA=1\n`, `[Unit]\n${comment(LONG_LINE_MAX)}`]) {
      const r = parseUnitFile(text, { maxBytes: Infinity });
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.error.code).to.equal('line-too-long');
        expect(r.error.line).to.equal(2);
      }
    }
  });

  it('continued lines may add up to LONG_LINE_MAX bytes, not one more', () => {
    const first = 'X-Long=' + 'a'.repeat(600000 - 8) + '\\';
    const ok = parseUnitFile(`[Unit]\n${first}\n${'b'.repeat(LONG_LINE_MAX - 600000)}\n`, {
      maxBytes: Infinity,
    });
    expect(ok.ok).to.equal(true);
    if (ok.ok) expect(lastValue(ok.unit, 'Unit', 'X-Long')).to.have.length(LONG_LINE_MAX - 'X-Long='.length);
    const bad = parseUnitFile(`[Unit]\n${first}\n${'b'.repeat(LONG_LINE_MAX - 600000 + 1)}\n`, {
      maxBytes: Infinity,
    });
    expect(bad.ok).to.equal(false);
    if (!bad.ok) {
      expect(bad.error.code).to.equal('continuation-too-long');
      expect(bad.error.line).to.equal(3);
      expect(bad.error.reason).to.contain('from line 2');
    }
  });

  it('a 10 MB file is refused by default (line 0: the whole file) and read with maxBytes: Infinity', () => {
    const text = '[Unit]\nDescription=big\n' + '# filler line for a large file\n'.repeat(340000);
    expect(text.length).to.be.greaterThan(10_000_000);
    const r = parseUnitFile(text);
    expect(r.ok).to.equal(false);
    if (!r.ok) {
      expect(r.error.code).to.equal('too-large');
      expect(r.error.line).to.equal(0);
      expect(r.error.reason).to.contain(`${DEFAULT_MAX_BYTES} bytes`);
    }
    const all = parseUnitFile(text, { maxBytes: Infinity });
    expect(all.ok).to.equal(true);
    if (all.ok) expect(lastValue(all.unit, 'Unit', 'Description')).to.equal('big');
  });

  it('the size cap counts bytes, not characters', () => {
    expect(parseUnitFile('[Unit]\nA=éé\n', { maxBytes: 12 }).ok).to.equal(false);
    expect(parseUnitFile('[Unit]\nA=éé\n', { maxBytes: 14 }).ok).to.equal(true);
  });
});

describe('units/parse: errors and warnings say what and where', () => {
  it('an error names the line in its message and what to do in its reason', () => {
    const r = parseUnitFile('[Unit]\n[Service\n');
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.error.message).to.match(/^line 2: invalid section header "\[Service"/);
    expect(r.error.reason).to.not.match(/^line/);
    expect(r.error.reason).to.contain('Close the bracket');
    expect(r.error.name).to.equal('UnitParseError');
  });

  it('a NUL byte is located by line and column', () => {
    for (const [text, col] of [
      ['[Unit]\nA=ab\0cd\n', 5],
      ['[Unit]\nA=ab\n\0cd\n', 6],
      ['[Unit]\nA=ab\r\n\0', 7],
    ] as const) {
      const r = parseUnitFile(text);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.message).to.match(new RegExp(`^line 2: .*NUL byte \\(at column ${col}\\)`));
    }
  });

  it('a warning quotes the line and says what to do', () => {
    const r = parseUnitFile('[Unit]\njust words\n');
    expect(r.ok && r.unit.warnings[0]?.message)
      .to.contain('"just words" in [Unit] has no \'=\'')
      .and.contain('Name=Value');
  });

  it('never throws, even for input of the wrong type', () => {
    for (const bad of [null, undefined, 42, {}, ['[Unit]']]) {
      const r = parseUnitFile(bad as unknown as string);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal('internal');
    }
  });
});

describe('units/values: lastValue and listValues', () => {
  const unit = (text: string): ParsedUnit => {
    const r = parseUnitFile(text);
    if (!r.ok) throw r.error;
    return r.unit;
  };

  it('lastValue: the last assignment wins, per section; undefined when unset; empty when emptied', () => {
    const u = unit('[Unit]\nDescription=a\n[Service]\nDescription=s\n[Unit]\nDescription=b\nX=1\nX=\n');
    expect(lastValue(u, 'Unit', 'Description')).to.equal('b');
    expect(lastValue(u, 'Service', 'Description')).to.equal('s');
    expect(lastValue(u, 'Unit', 'Missing')).to.equal(undefined);
    expect(lastValue(u, 'Unit', 'X')).to.equal('');
  });

  it('listValues: assignments in order; an empty assignment resets the list', () => {
    const u = unit('[Unit]\nAfter=a\nAfter=b c\n[Service]\nAfter=z\n[Unit]\nAfter=\nAfter=d\nAfter=e\n');
    expect(listValues(u, 'Unit', 'After')).to.deep.equal(['d', 'e']);
    expect(listValues(u, 'Service', 'After')).to.deep.equal(['z']);
    expect(listValues(u, 'Unit', 'Wants')).to.deep.equal([]);
    const v = unit('[Unit]\nAfter=a\nAfter=b c\n');
    expect(listValues(v, 'Unit', 'After')).to.deep.equal(['a', 'b c']);
    expect(listValues(unit('[Unit]\nAfter=a\nAfter=\n'), 'Unit', 'After')).to.deep.equal([]);
  });
});

describe('units: pathological input stays linear in time', () => {
  // No wall-clock bound (the host may be busy): the same shape at 1 MB and at 250 KB, each timed
  // three times back to back, fastest taken. Linear parsing costs ~4x for 4x the input; a quadratic
  // one ~16x.
  const M = 1000 * 1000;
  const shapes: [string, (n: number) => string][] = [
    [
      'a long run of blanks inside a value and a key',
      (n) => `[Unit]\nA=x${' '.repeat(n / 2)}y\nB${' \t'.repeat(n / 4)}C=1\n`,
    ],
    ['a long run of backslashes', (n) => `[Unit]\nA=${'\\'.repeat(n - 20)}x\n`],
    ['a long continued line', (n) => `[Unit]\nA=${'a \\\n'.repeat(n / 5)}end\n`],
    ['many short lines', (n) => `[Unit]\n${'A=1\n# c\n'.repeat(n / 8)}`],
    ['many sections', (n) => '[S]\nA=1\n'.repeat(n / 8)],
  ];
  const fastest = (text: string): number => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      const r = parseUnitFile(text, { maxBytes: Infinity });
      expect(r.ok).to.equal(true);
      if (r.ok) expect(unitHash(r.unit)).to.have.length(64);
      best = Math.min(best, performance.now() - start);
    }
    return best;
  };
  for (const [what, make] of shapes) {
    it(`${what}: 4x the input (1 MB) costs well under 16x the time`, function () {
      this.timeout(60000);
      const small = fastest(make(M / 4));
      const big = fastest(make(M));
      expect(
        big / Math.max(small, 1),
        `1 MB: ${big.toFixed(0)} ms, 250 KB: ${small.toFixed(0)} ms`,
      ).to.be.lessThan(10);
    });
  }
});
