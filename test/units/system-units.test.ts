/**
 * Every unit file this machine's systemd ships (/lib/systemd/system) parses without an error or a
 * grammar warning, and survives the canonical round trip. Masks (links to /dev/null) and
 * directories (*.wants/, *.d/) are not unit files and are left out.
 */

import { expect } from 'chai';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalUnitText, unitHash } from '../../units/canonical.js';
import { isUnitType, parseUnitFile } from '../../units/parse.js';

const DIR = '/lib/systemd/system';

function unitFiles(): string[] {
  return readdirSync(DIR)
    .filter((name) => isUnitType(name.slice(name.lastIndexOf('.') + 1)))
    .map((name) => join(DIR, name))
    .filter((path) => {
      const st = statSync(path, { throwIfNoEntry: false });
      return st !== undefined && st.isFile();
    });
}

describe(`units/parse: the unit files under ${DIR}`, function () {
  before(function () {
    // Not every CI machine has systemd installed; the Debian hosts this project targets do.
    if (!existsSync(DIR)) this.skip();
  });

  it('all parse without error or warning, and round-trip through the canonical form', () => {
    const files = unitFiles();
    expect(files.length, `unit files found in ${DIR}`).to.be.greaterThan(100);
    const problems: string[] = [];
    for (const path of files) {
      const suffix = path.slice(path.lastIndexOf('.') + 1);
      const r = parseUnitFile(readFileSync(path), isUnitType(suffix) ? { unitType: suffix } : {});
      if (!r.ok) {
        problems.push(`${path}: ${r.error.message}`);
        continue;
      }
      for (const w of r.unit.warnings) problems.push(`${path}:${w.line}: ${w.message}`);
      if (r.unit.options.length === 0) problems.push(`${path}: no options read`);
      const again = parseUnitFile(canonicalUnitText(r.unit));
      if (!again.ok || unitHash(again.unit) !== unitHash(r.unit))
        problems.push(`${path}: canonical round trip`);
    }
    expect(problems).to.deep.equal([]);
  });
});
