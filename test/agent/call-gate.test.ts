import { expect } from 'chai';
import { CallGate } from '../../agent/call-gate.js';

describe('agent/call-gate: at most N calls in flight', () => {
  const tick = () => new Promise((r) => setImmediate(r));

  it('runs at most max at once, the rest in arrival order, and every call settles', async () => {
    const gate = new CallGate(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const release: (() => void)[] = [];
    const calls = Array.from({ length: 10 }, (_, i) =>
      gate.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => release.push(r));
        running--;
        return i;
      }),
    );
    await tick();
    expect(started).to.deep.equal([0, 1, 2]);
    expect(gate.queued).to.equal(7);
    while (release.length > 0 || started.length < 10) {
      release.shift()?.();
      await tick();
      await tick();
    }
    expect(await Promise.all(calls)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(started).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(peak).to.equal(3);
    expect(gate.active).to.equal(0);
  });

  it('a call that throws frees its slot and the error reaches its caller only', async () => {
    const gate = new CallGate(1);
    const bad = gate.run(() => Promise.reject(new Error('boom')));
    const good = gate.run(() => Promise.resolve('ok'));
    const err = await bad.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('boom');
    expect(await good).to.equal('ok');
    expect(gate.active).to.equal(0);
  });

  it('refuses a max that is not a positive integer', () => {
    expect(() => new CallGate(0)).to.throw(/positive integer/);
  });
});
