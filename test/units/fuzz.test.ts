/**
 * Property tests: random bytes, random strings, unit-file-shaped text and mutations of it.
 * - parseUnitFile never throws and always returns a well-typed result;
 * - what parses, written canonically, parses back to the same options (and the canonical text is a
 *   fixed point);
 * - the hash does not move when the file is reformatted (comments, spacing, line endings,
 *   continuation lines, a section split in two) and moves when an option changes.
 */

import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalUnitText, unitHash } from '../../units/canonical.js';
import { UnitParseError, parseUnitFile, type ParseOptions, type ParseResult } from '../../units/parse.js';
import { type ParsedUnit } from '../../units/types.js';

const RUNS = 300;

function assertTyped(r: ParseResult): void {
  if (r.ok) {
    expect(r.unit.options).to.be.an('array');
    expect(r.unit.sections).to.be.an('array');
    for (const o of r.unit.options) {
      expect(o.line).to.be.a('number').and.at.least(1);
      expect(o.name).to.be.a('string').and.not.equal('');
      expect(o.name).to.not.contain('=');
      expect(o.value).to.be.a('string');
      expect(o.value).to.not.match(/^[ \t]|[ \t]$/);
      expect(r.unit.sections).to.include(o.section);
    }
    for (const w of r.unit.warnings) {
      expect(w.line).to.be.a('number').and.at.least(0);
      expect(w.message).to.be.a('string').and.not.equal('');
    }
  } else {
    expect(r.error).to.be.instanceOf(UnitParseError);
    expect(r.error.line).to.be.a('number').and.at.least(0);
    expect(r.error.reason.length).to.be.greaterThan(20);
    expect(r.error.code).to.not.equal('internal');
  }
}

const opts: fc.Arbitrary<ParseOptions> = fc.record(
  { allowNul: fc.boolean(), maxBytes: fc.constantFrom(Infinity, 64, 4096) },
  { requiredKeys: [] },
);

// Pieces of unit-file-shaped text, rich in the characters the grammar cares about.
const char = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'Z', '0', '-', '_', '.', '@', '%', '/', ':') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(' ', '\t', '=', '"', "'", '#', ';', '[', ']', '\\', '\\\\', '\\ '),
  },
  { weight: 1, arbitrary: fc.constantFrom('é', '€', '😀', '\ufeff', '\v', '\f', '\r', '\n', '\0', '\ud800') },
);
const text = (max: number) => fc.array(char, { maxLength: max }).map((a) => a.join(''));
/** Mostly well-formed pieces, so that many generated files parse and the round trip gets exercised. */
const tame = (max: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom('a', 'Z', '0', '-', '.', ' ', '=') },
        { weight: 2, arbitrary: char },
      ),
      {
        maxLength: max,
      },
    )
    .map((a) => a.join('').replace(/[\r\n\0\ud800]/g, ''));
const blanks = fc.constantFrom('', ' ', '\t', '  \t');
const eol = fc.constantFrom('\n', '\n', '\n', '\r\n', '\r', '\n\r');
const line = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(blanks, fc.oneof(tame(8), text(8)), blanks, blanks, fc.oneof(tame(16), text(16)), blanks)
      .map((p) => `${p[0]}${p[1]}${p[2]}=${p[3]}${p[4]}${p[5]}`),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        blanks,
        fc.oneof(
          // mostly names systemd accepts (no control characters, quotes or backslashes)
          {
            weight: 4,
            arbitrary: tame(8).map((n) =>
              [...n].filter((c) => c >= ' ' && c !== '\x7f' && !`"'\\`.includes(c)).join(''),
            ),
          },
          { weight: 1, arbitrary: text(8) },
        ),
        fc.boolean(),
        fc.boolean(),
        blanks,
      )
      .map(
        ([b, n, closed, closed2, t]) => `${b}[${n.replace(/^\s*\[/, '')}${closed || closed2 ? ']' : ''}${t}`,
      ),
  },
  { weight: 2, arbitrary: fc.tuple(blanks, fc.constantFrom('#', ';'), text(12)).map((p) => p.join('')) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: text(12) },
  { weight: 1, arbitrary: fc.oneof(tame(12), text(12)).map((t) => `${t}\\`) },
);
const unitText = fc
  .tuple(fc.boolean(), fc.array(fc.tuple(line, eol), { maxLength: 14 }), fc.boolean())
  .map(([bom, lines, lastEol]) => {
    let s = bom ? '\ufeff' : '';
    lines.forEach(([l, e], i) => (s += l + (i < lines.length - 1 || lastEol ? e : '')));
    return s;
  });

/** Random byte edits: insert, delete, overwrite, including NUL and bytes that break UTF-8. */
const mutated = fc
  .tuple(
    unitText,
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom('insert', 'delete', 'set'),
        fc.constantFrom(0x00, 0x0a, 0x0d, 0x5c, 0x5b, 0x3d, 0x23, 0x80, 0xc3, 0xef, 0xff, 0x20),
      ),
      { maxLength: 4 },
    ),
  )
  .map(([t, edits]) => {
    const b = Array.from(Buffer.from(t, 'utf8'));
    for (const [at, op, byte] of edits) {
      const i = b.length === 0 ? 0 : at % (b.length + 1);
      if (op === 'insert') b.splice(i, 0, byte);
      else if (op === 'delete') b.splice(i, 1);
      else if (i < b.length) b[i] = byte;
    }
    return Uint8Array.from(b);
  });

/** section -> [name, value][], sections in order of first header: a unit's meaning without formatting. */
function bySection(u: ParsedUnit): [string, [string, string][]][] {
  const m = new Map<string, [string, string][]>(u.sections.map((s) => [s, []]));
  for (const o of u.options) m.get(o.section)?.push([o.name, o.value]);
  return [...m].filter(([, options]) => options.length > 0);
}

/**
 * The one spelling the canonical form cannot write back (see units/canonical.ts): among option names
 * that start with a byte order mark, `#` or `;`, only the first may start with `#` or `;`.
 */
function representable(u: ParsedUnit): boolean {
  const names = bySection(u).flatMap(([, options]) => options.map(([name]) => name));
  const special = names.filter((n) => /^[\ufeff#;]/.test(n));
  return special.slice(1).every((n) => n.startsWith('\ufeff'));
}

function parsed(x: string | Uint8Array): ParsedUnit | undefined {
  const r = parseUnitFile(x, { maxBytes: Infinity, allowNul: true });
  return r.ok ? r.unit : undefined;
}

describe('units/parse: properties (fast-check)', () => {
  it('random bytes: never throws, typed result', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), opts, (b, o) => assertTyped(parseUnitFile(b, o))),
      { numRuns: RUNS },
    );
  });

  it('random strings (any UTF-16, lone surrogates included): never throws, typed result', () => {
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.string({ unit: anyUnit, maxLength: 200 }), opts, (s, o) =>
        assertTyped(parseUnitFile(s, o)),
      ),
      { numRuns: RUNS },
    );
  });

  it('unit-file-shaped text and byte mutations of it: never throws, typed result', () => {
    fc.assert(
      fc.property(fc.oneof(unitText, mutated), opts, (t, o) => assertTyped(parseUnitFile(t, o))),
      { numRuns: RUNS * 2 },
    );
  });

  it('parse(canonical(parse(x))) has the same options as parse(x); canonical text is a fixed point', () => {
    let checked = 0;
    fc.assert(
      fc.property(fc.oneof(unitText, mutated), (t) => {
        const u = parsed(t);
        if (!u || !representable(u)) return;
        checked++;
        const text1 = canonicalUnitText(u);
        const again = parseUnitFile(text1);
        if (!again.ok)
          expect.fail(`canonical text refused: ${again.error.message}\n${JSON.stringify(text1)}`);
        expect(bySection(again.unit)).to.deep.equal(bySection(u));
        // Canonical text has nothing systemd would warn about (an empty one is an empty file).
        expect(again.unit.warnings.map((w) => w.code)).to.deep.equal(text1 === '' ? ['empty-file'] : []);
        expect(canonicalUnitText(again.unit)).to.equal(text1);
      }),
      { numRuns: RUNS * 2 },
    );
    expect(checked, 'enough generated files parse').to.be.greaterThan(RUNS / 2);
  });
});

/** Writes `u` again with different formatting; `choices` drives every decision. */
function reformat(u: ParsedUnit, choices: number[]): string {
  let k = 0;
  const pick = (n: number): number =>
    choices.length === 0 ? 0 : (choices[k++ % choices.length] as number) % n;
  const eols = ['\n', '\r\n', '\r', '\n\r'];
  const lineEnd = eols[pick(eols.length)] as string;
  const canonical = canonicalUnitText(u);
  const needsBom = /(^|\n)\ufeff/.test(canonical);
  const out: string[] = [];
  const comment = (): void => {
    if (pick(3) === 0) out.push(['# note', '; note', '  # indented', ''][pick(4)] as string);
  };

  const sections = bySection(u);
  const parts = sections.map(([name, options]) => {
    const cut = pick(options.length + 1);
    return [name, options.slice(0, cut), options.slice(cut)] as const;
  });
  const emitted = new Set<string>();
  const emit = (section: string, options: [string, string][]): void => {
    if (options.length === 0 && emitted.has(section)) return;
    emitted.add(section);
    comment();
    out.push(`${[' ', '', '\t'][pick(3)]}[${section}]${['', ' ', '\t '][pick(3)]}`);
    for (const [name, value] of options) {
      comment();
      let body = value;
      // Split the value at a space into continuation lines where that cannot change it.
      const spaces = [...value.matchAll(/ /g)].map((m) => m.index);
      if (spaces.length > 0 && pick(2) === 0) {
        const at = spaces[pick(spaces.length)] as number;
        const before = value.slice(0, at);
        const after = value.slice(at + 1);
        const evenBackslashes = (/\\*$/.exec(before)?.[0].length ?? 0) % 2 === 0;
        if (evenBackslashes && !/^[ \t]*[#;]/.test(after) && !after.startsWith('\ufeff')) {
          body = `${before}\\${lineEnd}${pick(2) === 0 ? `# inside${lineEnd}` : ''}${after}`;
        }
      }
      const raw = `${name}=${body}`;
      const odd = (/\\+$/.exec(raw)?.[0].length ?? 0) % 2 === 1;
      const lead =
        raw.startsWith('\ufeff') || raw.startsWith('#') || raw.startsWith(';')
          ? ''
          : ['', '  ', '\t'][pick(3)];
      const eqSpace = ['', ' ', ' \t'][pick(3)];
      const l = `${lead}${name}${eqSpace}=${eqSpace}${body}${odd ? ' ' : ['', ' ', '\t'][pick(3)]}`;
      out.push(l);
    }
  };
  for (const [name, first] of parts) emit(name, first);
  for (const [name, , second] of parts) if (second.length > 0) emit(name, second);
  comment();
  let text = out.join(lineEnd) + (pick(2) === 0 ? lineEnd : '');
  // The canonical form's own byte order mark (if it has one) must stay the first one in the file.
  // (Not in front of a comment: a byte order mark makes `# ...` an ordinary line, as in systemd.)
  if (!needsBom && !/^[ \t]*[#;]/.test(text) && pick(3) === 0) text = `\ufeff${text}`;
  if (needsBom) {
    // Where canonical text put a byte order mark in front of a line, put it there too.
    const first = out.findIndex((l) => /^(\ufeff|#|;)/.test(l));
    if (first >= 0) out[first] = `\ufeff${out[first] as string}`;
    text = out.join(lineEnd) + lineEnd;
  }
  return text;
}

describe('units/canonical: hash properties (fast-check)', () => {
  const unitAndChoices = fc.tuple(
    fc.oneof(unitText, mutated),
    fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
  );

  it('the hash does not change when the file is reformatted', () => {
    let checked = 0;
    fc.assert(
      fc.property(unitAndChoices, ([t, choices]) => {
        const u = parsed(t);
        if (!u || !representable(u) || u.options.length === 0) return;
        checked++;
        const again = parsed(reformat(u, choices));
        expect(again, 'reformatted file parses').to.not.equal(undefined);
        expect(bySection(again!)).to.deep.equal(bySection(u));
        expect(unitHash(again!)).to.equal(unitHash(u));
      }),
      { numRuns: RUNS * 3 },
    );
    expect(checked, 'enough generated files with options parse').to.be.greaterThan(RUNS / 6);
  });

  it('the hash changes when any option changes (value, order of repeated keys, section)', () => {
    fc.assert(
      fc.property(unitAndChoices, ([t, choices]) => {
        const u = parsed(t);
        if (!u || u.options.length === 0) return;
        const h = unitHash(u);
        const i = (choices[0] as number) % u.options.length;
        const o = u.options[i]!;
        const edit = (f: (opts: ParsedUnit['options']) => void): string => {
          const copy: ParsedUnit = { ...u, options: u.options.map((x) => ({ ...x })) };
          f(copy.options);
          return unitHash(copy);
        };
        expect(edit((opts) => (opts[i]!.value += 'x'))).to.not.equal(h);
        expect(edit((opts) => (opts[i]!.name += 'x'))).to.not.equal(h);
        expect(edit((opts) => (opts[i]!.section += 'x'))).to.not.equal(h);
        expect(edit((opts) => opts.splice(i, 1))).to.not.equal(h);
        const j = u.options.findIndex(
          (x, n) => n > i && x.section === o.section && (x.name !== o.name || x.value !== o.value),
        );
        if (j > 0)
          expect(
            edit((opts) => {
              [opts[i], opts[j]] = [opts[j]!, opts[i]!];
            }),
          ).to.not.equal(h);
      }),
      { numRuns: RUNS },
    );
  });
});
