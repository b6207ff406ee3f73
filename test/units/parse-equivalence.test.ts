/**
 * The parser's fast paths (ASCII decoding, a string input encoded with Buffer, no per-line objects)
 * and the hash's (no per-unit Map) must not change a single result:
 * - a golden file, test/fixtures/parse-golden.json, holds what the parser and unitHash gave BEFORE
 *   those fast paths existed, for 2,000 seeded random ASCII inputs (and 400 with multi-byte
 *   characters, byte order marks and lone surrogates); each must still give exactly that, parsed
 *   as a string and as bytes (results, warning and error messages, line numbers and hashes);
 * - for random strings over a tricky alphabet, parsing the string, its bytes (stringToBytes), a
 *   Buffer of them and a view into a larger buffer all give the same result and the same hash.
 *
 * The golden file was recorded with this file run against units/ as of commit 8528a01 (before the
 * fast paths), by
 *   RECORD_PARSE_GOLDEN=1 npx mocha --no-config 'dist/test/units/parse-equivalence.test.js'
 * Re-recording it with newer code defeats its purpose: do so only for an intended change of results.
 */

import { expect } from 'chai';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { unitHash } from '../../units/canonical.js';
import { parseUnitFile, type ParseOptions, type ParseResult } from '../../units/parse.js';
import { stringToBytes } from '../../units/utf8.js';

const golden = new URL('../../../test/fixtures/parse-golden.json', import.meta.url);
const SEED = 0x5eed2026;
const ASCII_CASES = 2000;
const UNICODE_CASES = 400;

/** Everything observable in a result, as plain data (the error as its fields), plus the hash. */
function observe(r: ParseResult): unknown {
  if (!r.ok) {
    const e = r.error;
    return { ok: false, code: e.code, line: e.line, systemdLine: e.systemdLine ?? null, message: e.message };
  }
  return { ok: true, unit: r.unit, hash: unitHash(r.unit) };
}

/** mulberry32: a small deterministic PRNG, so the golden inputs can be generated again. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pieces the grammar cares about: line ends of every kind, NUL, backslashes, comments, headers. */
const ASCII_PIECES = [
  'a', 'Z', '0', '-', '_', '.', '/', '%', '"', "'", '\x01', '\x7f',
  ' ', '  ', '\t', '\r', '\n', '\r\n', '\n\r', '\n\n', '\0', '\n\0',
  '\\', '\\\\', '\\\n', '\\\r\n', '\\ \n', '#', ';', '[', ']', '=', '==',
  '[Unit]\n', '[Service]\n', '[X-Fleet]\n', '[Install]\n', '[Bogus]\n', '\n[Unit', ' [Unit] ',
  'Description=', 'ExecStart=/bin/true', 'Name = Value', ' # comment\n', '; note\n', 'x=y\n',
]; // prettier-ignore
const UNICODE_PIECES = ['é', '€', '😀', '\ufeff', '\ufffd', '\ud800', '\udfff', '\ufdd0', '\uffff', '\u0085'];

const OPTIONS: ParseOptions[] = [{}, { allowNul: true }, { unitType: 'service' }, { maxBytes: 64 }];

const HEADERS = [
  '[Unit]',
  '[Service]',
  '[X-Fleet]',
  '[Install]',
  '[Bogus]',
  '[ Unit ]',
  '[]',
  '[Unit',
  '[a"b]',
];
const KEYS = ['Description', 'ExecStart', 'X', 'a b', ' Name ', '', '#k', ';k'];
const ASSIGN = ['=', ' = ', '\t=', '==', ''];
const LINE_ENDS = [
  '\n',
  '\n',
  '\n',
  '\n',
  '\r\n',
  '\r',
  '\n\r',
  '\n\n',
  '\\\n',
  '\\\r\n',
  '\n',
  '\n',
  '\0',
  '',
];

/** A unit-file-shaped input: lines of headers, assignments, comments and junk, with any line end. */
function randomInput(next: () => number, unicode: boolean): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const junk = (max: number): string => {
    let s = '';
    const n = Math.floor(next() * (max + 1));
    for (let k = 0; k < n; k++) s += pick(unicode && next() < 0.25 ? UNICODE_PIECES : ASCII_PIECES);
    return s;
  };
  // Most inputs open a section first, so that most assignments count.
  const first = [
    '[Unit]\n',
    '[Service]\n',
    '[X-Fleet]\n',
    unicode ? '\ufeff[Unit]\r\n' : '[Unit]\r\n',
    // Sections opened twice, or first opened empty: options out of canonical order.
    '[Service]\nA=1\n[Unit]\nB=2\n[Service]\n',
    '[Unit]\n[Service]\nA=1\n[Unit]\n',
  ];
  let s = next() < 0.75 ? pick(first) : '';
  const lines = Math.floor(next() * 7);
  for (let l = 0; l < lines; l++) {
    const kind = next();
    if (kind < 0.2) s += pick(HEADERS);
    else if (kind < 0.65) s += pick(KEYS) + pick(ASSIGN) + junk(4);
    else if (kind < 0.75) s += pick([' # ', '#', ';', '\t;']) + junk(3);
    else s += junk(6);
    s += pick(LINE_ENDS);
  }
  return s;
}

interface GoldenCase {
  input: string;
  opts: ParseOptions;
  result: unknown;
}

function recordGolden(): void {
  const next = prng(SEED);
  const cases: GoldenCase[] = [];
  for (let i = 0; i < ASCII_CASES + UNICODE_CASES; i++) {
    const input = randomInput(next, i >= ASCII_CASES);
    const opts = OPTIONS[i % OPTIONS.length] as ParseOptions;
    cases.push({ input, opts, result: observe(parseUnitFile(input, opts)) });
  }
  writeFileSync(golden, `${JSON.stringify({ seed: SEED, cases })}\n`);
}

describe('units/parse: results unchanged by the fast paths', function () {
  let cases: GoldenCase[] = [];
  before(function () {
    if (process.env['RECORD_PARSE_GOLDEN']) recordGolden();
    cases = (JSON.parse(readFileSync(golden, 'utf8')) as { cases: GoldenCase[] }).cases;
  });

  it('the golden file holds the seeded inputs (2,000 ASCII-only, 400 with non-ASCII)', function () {
    const next = prng(SEED);
    expect(cases).to.have.length(ASCII_CASES + UNICODE_CASES);
    cases.forEach((c, i) => {
      expect(c.input).to.equal(randomInput(next, i >= ASCII_CASES));
      if (i < ASCII_CASES) expect([...c.input].every((ch) => ch.charCodeAt(0) < 0x80)).to.equal(true);
    });
  });

  it('parses every golden input, as a string and as bytes, to the recorded result and hash', function () {
    for (const c of cases) {
      expect(observe(parseUnitFile(c.input, c.opts)), JSON.stringify(c.input)).to.deep.equal(c.result);
      const bytes = stringToBytes(c.input);
      expect(observe(parseUnitFile(bytes, c.opts)), JSON.stringify(c.input)).to.deep.equal(c.result);
    }
  });

  // The alphabet of the golden inputs and more: every kind of line end, NUL, blanks, the
  // characters rules 1-8 look at, a byte order mark, 2-, 3- and 4-byte characters, noncharacters
  // and lone surrogates (which must be refused as the invalid UTF-8 they stand for).
  const piece = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...ASCII_PIECES) },
    { weight: 1, arbitrary: fc.constantFrom(...UNICODE_PIECES) },
  );
  const input = fc.array(piece, { maxLength: 60 }).map((a) => a.join(''));
  const opts = fc.constantFrom(...OPTIONS);

  it('a string, its bytes, a Buffer of them and a view into a larger buffer parse alike', function () {
    fc.assert(
      fc.property(input, opts, (s, o) => {
        const want = observe(parseUnitFile(s, o));
        const bytes = stringToBytes(s);
        expect(observe(parseUnitFile(bytes, o))).to.deep.equal(want);
        expect(observe(parseUnitFile(Buffer.from(bytes), o))).to.deep.equal(want);
        const padded = new Uint8Array(bytes.length + 6).fill(0x41);
        padded.set(bytes, 3);
        expect(observe(parseUnitFile(padded.subarray(3, 3 + bytes.length), o))).to.deep.equal(want);
      }),
      { numRuns: 1000, seed: SEED },
    );
  });
});
