/** lib/apply's keepApplied on a real directory (inotify): debounced bursts, a re-created directory. */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepApplied } from '../../lib/apply/index.js';
import { until } from '../fixtures/until.js';

describe('apply: keeping a directory applied (fs.watch)', function () {
  this.timeout(30000);
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'apply-watch-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('runs once at start, once per burst of changes, and stops when aborted', async () => {
    const dir = join(tmp, 'd');
    mkdirSync(dir);
    const seen: number[] = [];
    const stop = new AbortController();
    const done = keepApplied(dir, () => Promise.resolve(void seen.push(readdirSync(dir).length)), {
      signal: stop.signal,
      debounceMs: 300,
      resyncMs: 0,
    });
    await until(() => seen.length === 1, 'the first run');
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, `u${i}.service`), 'x');
    await until(() => seen.at(-1) === 20, 'a run that sees the whole burst');
    // A burst written within the debounce time gives one run (two if the host is very slow).
    expect(seen.length).to.be.at.most(3);
    stop.abort();
    await done;
    const after = seen.length;
    writeFileSync(join(dir, 'late.service'), 'x');
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.length).to.equal(after);
  });

  it('a directory removed and made again is watched again (and a missing one is not fatal)', async () => {
    const dir = join(tmp, 'd');
    mkdirSync(dir);
    const seen: string[][] = [];
    const stop = new AbortController();
    const done = keepApplied(
      dir,
      () => {
        try {
          seen.push(readdirSync(dir));
        } catch {
          seen.push(['(missing)']);
        }
        return Promise.resolve();
      },
      { signal: stop.signal, debounceMs: 50, resyncMs: 500 },
    );
    try {
      await until(() => seen.length >= 1, 'the first run');
      rmSync(dir, { recursive: true });
      await until(() => seen.some((s) => s[0] === '(missing)'), 'a run that finds it missing');
      mkdirSync(dir);
      await until(() => seen.length > 0 && seen.at(-1)!.length === 0, 'a run on the new directory');
      const runs = seen.length;
      writeFileSync(join(dir, 'a.service'), 'x');
      await until(() => seen.at(-1)!.includes('a.service'), 'the change in the new directory seen');
      expect(seen.length).to.be.greaterThan(runs);
    } finally {
      stop.abort();
      await done;
    }
  });
});
