import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

describe('package', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string> };

  for (const [name, file] of Object.entries(pkg.bin)) {
    it(`bin ${name} -> ${file} runs from the repo root`, () => {
      expect(existsSync(file), `${file} exists`).to.equal(true);
      const r = spawnSync(process.execPath, [file, '--help'], { encoding: 'utf8', timeout: 15000 });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.contain(name);
    });
  }
});
