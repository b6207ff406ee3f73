import { expect } from 'chai';
import { ManualClock, systemClock } from '../../lib/clock.js';
import { createLogger, formatLogLine } from '../../lib/log.js';

describe('lib/clock', () => {
  it('ManualClock wakes sleepers in time order as it advances', async () => {
    const clock = new ManualClock(1000);
    const woke: string[] = [];
    const a = clock.sleep(300).then(() => woke.push(`a@${clock.now()}`));
    const b = clock.sleep(100).then(() => woke.push(`b@${clock.now()}`));
    const c = clock.sleep(500).then(() => woke.push(`c@${clock.now()}`));
    expect(clock.pending).to.equal(3);
    await clock.advance(300);
    await Promise.all([a, b]);
    expect(woke).to.deep.equal(['b@1100', 'a@1300']);
    expect(clock.now()).to.equal(1300);
    await clock.advance(199);
    expect(woke).to.have.length(2);
    await clock.advance(1);
    await c;
    expect(woke).to.deep.equal(['b@1100', 'a@1300', 'c@1500']);
  });

  it('ManualClock sleep rejects with the abort reason and forgets the sleeper', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const p = clock.sleep(1000, ac.signal);
    ac.abort(new Error('stopping'));
    let err: unknown;
    await p.catch((e) => (err = e));
    expect((err as Error).message).to.equal('stopping');
    expect(clock.pending).to.equal(0);
    const already = await clock.sleep(1, ac.signal).catch((e) => e);
    expect((already as Error).message).to.equal('stopping');
  });

  it('systemClock sleeps, and an abort ends the sleep at once', async () => {
    const t0 = Date.now();
    await systemClock.sleep(20);
    expect(Date.now() - t0).to.be.at.least(15);
    const ac = new AbortController();
    const t1 = Date.now();
    setTimeout(() => ac.abort(), 10);
    const err = await systemClock.sleep(10_000, ac.signal).catch((e) => e);
    expect((err as Error).name).to.equal('AbortError');
    expect(Date.now() - t1).to.be.below(1000);
  });
});

describe('lib/log', () => {
  it('formats one line per event, with quoted fields and escaped newlines', () => {
    const line = formatLogLine(0, 'info', 'engine', 'placed\nunit', {
      unit: 'web.service',
      reason: 'least loaded',
      err: new Error('boom'),
      n: 3,
      empty: '',
    });
    expect(line).to.equal(
      '1970-01-01T00:00:00.000Z info engine: placed\\nunit unit=web.service reason="least loaded" err=boom n=3 empty=""',
    );
  });

  it('gates debug and trace on verbosity', () => {
    for (const [verbosity, want] of [
      [0, ['error', 'warn', 'info']],
      [1, ['error', 'warn', 'info', 'debug']],
      [2, ['error', 'warn', 'info', 'debug', 'trace']],
    ] as const) {
      const lines: string[] = [];
      const log = createLogger({ verbosity, write: (l) => lines.push(l), clock: { now: () => 0 } }).child(
        'agent',
      );
      log.error('e');
      log.warn('w');
      log.info('i');
      log.debug('d');
      log.trace('t');
      expect(lines.map((l) => l.split(' ')[1])).to.deep.equal(want);
      expect(lines[0]).to.equal('1970-01-01T00:00:00.000Z error agent: e');
    }
  });
});
