import { expect } from 'chai';
import { JobWaiters } from '../../agent/job-waiters.js';

describe('agent/job-waiters: waiting for systemd jobs (JobRemoved)', () => {
  const job = '/org/freedesktop/systemd1/job/42';
  const done = { unit: 'a.service', result: 'done' };

  it('answers EVERY waiter of one job (systemd merges a second StopUnit into the queued stop job)', async () => {
    const w = new JobWaiters();
    // the reconcile's unload and the fencing stop wait for the same job path
    const first = w.wait(job, 10000);
    const second = w.wait(job, 10000);
    w.finish(job, done);
    expect(await first).to.deep.equal(done);
    expect(await second).to.deep.equal(done);
    expect(w.pending).to.equal(0);
  });

  it('a job that finished before anyone waited (the reply trailed JobRemoved) answers at once, also twice', async () => {
    const w = new JobWaiters();
    w.finish(job, done);
    expect(await w.wait(job, 10)).to.deep.equal(done);
    expect(await w.wait(job, 10)).to.deep.equal(done);
  });

  it('times out with undefined, leaving other waiters of the job in place', async () => {
    const w = new JobWaiters();
    const short = w.wait(job, 10);
    const long = w.wait(job, 10000);
    expect(await short).to.equal(undefined);
    expect(w.pending).to.equal(1);
    w.finish(job, done);
    expect(await long).to.deep.equal(done);
  });

  it('remembers only the most recent finished jobs', async () => {
    const w = new JobWaiters(2);
    for (const n of [1, 2, 3]) w.finish(`/job/${n}`, { unit: `u${n}.service`, result: 'done' });
    expect(await w.wait('/job/1', 10)).to.equal(undefined);
    expect((await w.wait('/job/3', 10))?.unit).to.equal('u3.service');
  });
});
