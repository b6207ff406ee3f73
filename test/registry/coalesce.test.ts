import { expect } from 'chai';
import { CoalescedRead, type Snapshot } from '../../lib/registry/coalesce.js';

/** A read the test finishes by hand, at the revision it chooses. */
function manualReads(): {
  read: () => Promise<Snapshot<number>>;
  finish(revision: number): void;
  fail(e: Error): void;
  started(): number;
} {
  const pending: { resolve: (s: Snapshot<number>) => void; reject: (e: Error) => void }[] = [];
  let n = 0;
  return {
    read: () =>
      new Promise((resolve, reject) => {
        n++;
        pending.push({ resolve, reject });
      }),
    finish: (revision) => pending.shift()!.resolve({ revision: BigInt(revision), value: revision }),
    fail: (e) => pending.shift()!.reject(e),
    started: () => n,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('lib/registry CoalescedRead', () => {
  it('serves every waiting caller whose revision a read reaches with it, and the others with the next one', async () => {
    const m = manualReads();
    const c = new CoalescedRead(m.read);
    const a = c.get(5n);
    const b = c.get(7n);
    const late = c.get(12n);
    const late2 = c.get(11n);
    await tick();
    expect(m.started()).to.equal(1);
    m.finish(10);
    expect((await a).value).to.equal(10);
    expect((await b).value).to.equal(10);
    await tick();
    expect(m.started()).to.equal(2);
    m.finish(12);
    expect((await late).value).to.equal(12);
    expect((await late2).value).to.equal(12);
    // Reached already: no read at all.
    expect((await c.get(12n)).value).to.equal(12);
    expect(m.started()).to.equal(2);
  });

  it('reads again when a read is behind a caller, and passes a failure to the callers of that read', async () => {
    const m = manualReads();
    const c = new CoalescedRead(m.read);
    const a = c.get(20n);
    await tick();
    m.finish(15); // behind: read again
    await tick();
    expect(m.started()).to.equal(2);
    m.finish(21);
    expect((await a).value).to.equal(21);
    const b = c.get(30n);
    await tick();
    m.fail(new Error('etcd is gone'));
    let err: unknown;
    try {
      await b;
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('etcd is gone');
    expect(m.started()).to.equal(3);
  });
});
