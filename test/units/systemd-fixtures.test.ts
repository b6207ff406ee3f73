/**
 * Our parser against what systemd 252 itself reported for the same files.
 *
 * test/fixtures/systemd-grammar/cases/ holds the unit files; expected/ holds what
 * `systemd-analyze verify` (systemd 252, offline, debug logging) reported for each, recorded by
 * test/fixtures/systemd-grammar/record.sh. The parser runs in systemd mode (no size cap, NUL bytes
 * end lines, the unit type taken from the file name) and must agree on: refusal or not (and the line
 * and kind of a refusal), every grammar warning and its line, the unknown-key names systemd saw, and
 * the Description / Documentation / Environment values systemd loaded.
 *
 * expected-pid1/ holds what a real running systemd 252 (PID 1 of a throw-away machine, booted by
 * record-pid1.sh as in shared/MACHINES-IN-A-BOX.md) answered to `systemctl show` for the same
 * files: load state, Description and Documentation must agree with our parse too.
 */

import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { isUnitType, lastValue, listValues, parseUnitFile, type ParseResult } from '../../units/parse.js';

const dir = new URL('../../../test/fixtures/systemd-grammar/', import.meta.url);

interface Facts {
  logs: { line: number; message: string }[];
  refused: string | undefined;
  masked: boolean;
  dump: Map<string, string[]>;
}

function readFacts(name: string): Facts {
  const facts: Facts = { logs: [], refused: undefined, masked: false, dump: new Map() };
  const text = readFileSync(new URL(`expected/${name}.txt`, dir), 'utf8');
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^log (\d+): (.*)$/.exec(raw))) facts.logs.push({ line: Number(m[1]), message: m[2] as string });
    else if ((m = /^refused (.*)$/.exec(raw))) facts.refused = m[1];
    else if (raw === 'masked') facts.masked = true;
    else if ((m = /^dump ([^:]+): (.*)$/.exec(raw))) {
      const list = facts.dump.get(m[1] as string) ?? [];
      list.push(m[2] as string);
      facts.dump.set(m[1] as string, list);
    } else throw new Error(`expected/${name}.txt: unreadable fact ${JSON.stringify(raw)}; re-run record.sh`);
  }
  return facts;
}

/**
 * Splits a value into words as systemd does for the plain values the cases use: blanks separate,
 * "..." groups (with \\ and \" escapes inside, as systemctl show prints them).
 */
function words(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  return out;
}

/** Environment= as systemd applies it: a later assignment of a variable replaces the earlier one in place. */
function environment(assignments: string[]): string[] {
  const out: string[] = [];
  for (const word of assignments) {
    const key = word.slice(0, word.indexOf('='));
    const at = out.findIndex((w) => w.startsWith(`${key}=`));
    if (at >= 0) out[at] = word;
    else out.push(word);
  }
  return out;
}

/** The grammar warnings systemd logs, as [line, our warning code]. */
function grammarLogs(facts: Facts): string[] {
  const out: string[] = [];
  for (const { line, message } of facts.logs) {
    if (message === "Missing '=', ignoring line.") out.push(`${line} missing-equals`);
    else if (message === "Missing key name before '=', ignoring line.") out.push(`${line} missing-key`);
    else if (message === 'Assignment outside of section. Ignoring.')
      out.push(`${line} assignment-outside-section`);
    else if (/^Unknown section '.*'\. Ignoring\.$/.test(message)) out.push(`${line} unknown-section`);
  }
  return out.sort();
}

/** `systemctl show` output: Property=Value lines. */
function readPid1(name: string): Map<string, string> {
  const text = readFileSync(new URL(`expected-pid1/${name}.txt`, dir), 'utf8');
  const m = new Map<string, string>();
  for (const l of text.split('\n')) {
    const eq = l.indexOf('=');
    if (eq > 0) m.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return m;
}

const cases = readdirSync(new URL('cases/', dir)).sort();

function load(file: string): { name: string; result: ParseResult } {
  const name = file.replace(/\.gz$/, '');
  let bytes: Uint8Array = readFileSync(new URL(`cases/${file}`, dir));
  if (file.endsWith('.gz')) bytes = gunzipSync(bytes);
  const suffix = name.slice(name.lastIndexOf('.') + 1);
  const result = parseUnitFile(bytes, {
    maxBytes: Infinity,
    allowNul: true,
    ...(isUnitType(suffix) ? { unitType: suffix } : {}),
  });
  return { name, result };
}

describe('units/parse agrees with systemd 252 (recorded by test/fixtures/systemd-grammar/record.sh)', () => {
  it('has recorded facts for every case, from systemd 252', () => {
    const version = readFileSync(new URL('expected/SYSTEMD_VERSION', dir), 'utf8');
    expect(version).to.match(/^systemd 252 /);
    expect(cases.length).to.be.greaterThan(60);
    for (const file of cases) readFacts(file.replace(/\.gz$/, ''));
    const pid1 = readFileSync(new URL('expected-pid1/SYSTEMD_VERSION', dir), 'utf8');
    expect(pid1).to.match(/^systemd 252 /);
    for (const file of cases) expect(readPid1(file.replace(/\.gz$/, '')).get('LoadState')).to.be.a('string');
  });

  for (const file of cases) {
    it(file, () => {
      const { name, result } = load(file);
      const facts = readFacts(name);
      const pid1 = readPid1(name);
      const loadState = pid1.get('LoadState');

      if (facts.refused !== undefined) {
        expect(result.ok, `systemd refused ${name} (${facts.refused}); we accepted it`).to.equal(false);
        expect(loadState, 'PID 1 LoadState').to.equal('error');
        expect(pid1.get('LoadError')).to.contain(facts.refused);
        if (result.ok) return;
        const err = result.error;
        if (facts.refused === 'No buffer space available') {
          expect(err.code).to.be.oneOf(['line-too-long', 'continuation-too-long']);
        } else if (facts.refused === 'Bad message') {
          const bad = facts.logs.some((l) => l.message.startsWith('Bad characters in section header'));
          expect(err.code).to.equal(bad ? 'bad-section-name' : 'invalid-section-header');
        } else {
          expect(facts.refused).to.equal('Invalid argument');
          expect(err.code).to.equal('invalid-utf8');
        }
        // Where systemd names a line for the refusal, ours must match it.
        const named = facts.logs.filter(
          (l) =>
            l.message.startsWith('Invalid section header') ||
            l.message.startsWith('Bad characters in section header') ||
            l.message.startsWith('String is not UTF-8'),
        );
        for (const l of named) expect(err.systemdLine ?? err.line).to.equal(l.line);
        return;
      }

      if (!result.ok) expect.fail(`systemd loaded ${name}; we refused it: ${result.error.message}`);
      const unit = result.unit;

      // Grammar warnings: the same kinds on the same lines, no more, no fewer.
      const ours = unit.warnings
        .filter((w) => !w.systemdSilent && w.code !== 'empty-file')
        .map((w) => `${w.systemdLine ?? w.line} ${w.code}`)
        .sort();
      expect(ours, 'grammar warnings (line code)').to.deep.equal(grammarLogs(facts));

      // An empty file is masked by systemd; we say so with a warning.
      expect(facts.masked, 'masked').to.equal(unit.warnings.some((w) => w.code === 'empty-file'));
      expect(loadState, 'PID 1 LoadState').to.equal(facts.masked ? 'masked' : 'loaded');
      if (facts.masked) return;

      // Keys systemd did not know: it saw exactly the name we parsed, in that section.
      for (const { line, message } of facts.logs) {
        const m = /^Unknown key '(.*)' in section \[(.*)\], ignoring\.$/.exec(message);
        if (!m) continue;
        const hit = unit.options.find(
          (o) => o.name === m[1] && o.section === m[2] && (o.systemdLine ?? o.line) === line,
        );
        expect(hit, `option ${m[1]} in [${m[2]}] at line ${line}`).to.not.equal(undefined);
      }

      expect(facts.dump.get('Unit Load State')).to.deep.equal(['loaded']);

      const description = lastValue(unit, 'Unit', 'Description');
      expect(facts.dump.get('Description')).to.deep.equal([description ? description : name]);
      expect(pid1.get('Description'), 'PID 1 Description').to.equal(description ? description : name);

      const invalidUrls = new Set(
        facts.logs.flatMap((l) => {
          const m = /^Invalid URL, ignoring: (.*)$/.exec(l.message);
          return m ? [m[1] as string] : [];
        }),
      );
      const docs = listValues(unit, 'Unit', 'Documentation')
        .flatMap(words)
        .filter((w) => !invalidUrls.has(w));
      expect(facts.dump.get('Documentation') ?? [], 'Documentation').to.deep.equal(docs);
      expect(words(pid1.get('Documentation') ?? ''), 'PID 1 Documentation').to.deep.equal(docs);

      // Environment= values systemd could not split (it says "Invalid syntax") are dropped whole.
      const invalidSyntax = new Set(
        facts.logs.flatMap((l) => {
          const m = /^Invalid syntax, ignoring: (.*)$/.exec(l.message);
          return m ? [m[1] as string] : [];
        }),
      );
      const env = environment(
        listValues(unit, 'Service', 'Environment')
          .filter((v) => !invalidSyntax.has(v))
          .flatMap(words),
      );
      expect(facts.dump.get('Environment') ?? [], 'Environment').to.deep.equal(env);
    });
  }
});
