import { expect } from 'chai';
import { EtcdServer, freePort } from '../../lab/etcd-server.js';
import { connectEtcd, etcdError, EtcdClientError } from '../../lib/etcd-client.js';
import { isRetryable } from '../../lib/errors.js';

async function caught(p: PromiseLike<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('lib/etcd-client against a real etcd', function () {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await EtcdServer.start();
  });
  after(async () => {
    await etcd?.remove();
  });

  it('works with several endpoints when one of them is dead', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const cfg = { etcdServers: [dead, etcd.endpoint], etcdRequestTimeoutMs: 2000 };
    const client = await connectEtcd(cfg);
    try {
      for (let i = 0; i < 20; i++) {
        await client.put(`/t/multi/${i}`).value(String(i));
        expect(await client.get(`/t/multi/${i}`).string()).to.equal(String(i));
      }
    } finally {
      client.close();
    }
  });

  it('reports an unreachable cluster as a retryable typed error naming the endpoint', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const err = await caught(connectEtcd({ etcdServers: [dead], etcdRequestTimeoutMs: 500 }));
    expect(err).to.be.instanceOf(EtcdClientError);
    expect((err as EtcdClientError).code).to.equal('ETCD_UNAVAILABLE');
    expect(isRetryable(err)).to.equal(true);
    expect((err as Error).message).to.contain(dead);
  });

  /** Runs fn while etcd is frozen (SIGSTOP): connections stay open, nothing answers. */
  async function whileFrozen<T>(fn: () => Promise<T>): Promise<T> {
    const pid = etcd.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      return await fn();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }

  it('fails a write past etcd_request_timeout with a typed retryable error, without re-sending it', async () => {
    const cfg = { etcdServers: [etcd.endpoint], etcdRequestTimeoutMs: 500 };
    const client = await connectEtcd(cfg);
    try {
      await whileFrozen(async () => {
        const started = Date.now();
        const raw = await caught(client.put('/t/deadline').value('x').exec());
        const elapsed = Date.now() - started;
        const err = etcdError(raw, cfg, 'write /t/deadline');
        expect(err.code).to.equal('ETCD_DEADLINE');
        expect(err.retryable).to.equal(true);
        expect(err.message).to.contain(etcd.endpoint).and.contain('500 ms').and.contain('write /t/deadline');
        // A write that timed out may have been applied: one deadline, not several.
        expect(elapsed).to.be.within(450, 950);
      });
    } finally {
      client.close();
    }
  });

  it('retries a read past etcd_request_timeout before failing with the same typed error', async () => {
    const cfg = { etcdServers: [etcd.endpoint], etcdRequestTimeoutMs: 500 };
    const client = await connectEtcd(cfg);
    try {
      await whileFrozen(async () => {
        const started = Date.now();
        const raw = await caught(client.get('/t/deadline').string());
        const elapsed = Date.now() - started;
        const err = etcdError(raw, cfg, 'read /t/deadline');
        expect(err.code).to.equal('ETCD_DEADLINE');
        expect(err.retryable).to.equal(true);
        // Reads are safe to repeat: 1 + 2 retries (one endpoint), each with its own deadline.
        expect(elapsed).to.be.within(1450, 4000);
      });
    } finally {
      client.close();
    }
  });
});
