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

  it('fails a request past etcd_request_timeout with a typed retryable error', async () => {
    const cfg = { etcdServers: [etcd.endpoint], etcdRequestTimeoutMs: 300 };
    const client = await connectEtcd(cfg);
    const pid = etcd.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const raw = await caught(client.put('/t/deadline').value('x').exec());
      const elapsed = Date.now() - started;
      const err = etcdError(raw, cfg, 'write /t/deadline');
      expect(err.code).to.equal('ETCD_DEADLINE');
      expect(err.retryable).to.equal(true);
      expect(err.message).to.contain(etcd.endpoint).and.contain('300 ms').and.contain('write /t/deadline');
      // A write is not re-sent after a missed deadline: one deadline, not several.
      expect(elapsed).to.be.within(250, 1500);
    } finally {
      process.kill(pid, 'SIGCONT');
      client.close();
    }
  });
});
