import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { EtcdServer, isAlive } from '../../lab/etcd-server.js';

async function health(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    return ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

describe('lab/etcd-server', () => {
  it('starts a real etcd, survives kill -9 + restart on the same data, and cleans up', async () => {
    const etcd = await EtcdServer.start();
    const pid = etcd.pid!;
    try {
      expect(await health(etcd.endpoint)).to.equal(true);
      await etcd.kill9();
      expect(isAlive(pid)).to.equal(false);
      expect(await health(etcd.endpoint)).to.equal(false);
      await etcd.restart();
      expect(etcd.pid).to.not.equal(pid);
      expect(await health(etcd.endpoint)).to.equal(true);
    } finally {
      await etcd.remove();
    }
    expect(existsSync(etcd.dataDir)).to.equal(false);
    expect(etcd.pid).to.equal(undefined);
  });

  it('reports a taken port as an error naming the endpoint', async () => {
    const a = await EtcdServer.start();
    try {
      let err: unknown;
      try {
        const b = await EtcdServer.start({ clientPort: a.clientPort, startTimeoutMs: 5000 });
        await b.remove();
      } catch (e) {
        err = e;
      }
      expect(String(err)).to.contain(`${a.clientPort}`);
    } finally {
      await a.remove();
    }
  });

  it('is found again from its record (another process), and a record whose PID was reused is never signalled', async () => {
    const etcd = await EtcdServer.start({ detached: true });
    let adopted: EtcdServer | undefined;
    try {
      const rec = etcd.toRecord();
      expect(rec.pid).to.equal(etcd.pid);
      expect(rec.pidStart).to.be.a('number');
      // A record naming the same PID with another start time is someone else's process now.
      const stranger = EtcdServer.adopt({ ...rec, pidStart: rec.pidStart! + 1 });
      expect(stranger.pid).to.equal(undefined);
      await stranger.kill9();
      expect(isAlive(rec.pid!)).to.equal(true);
      adopted = EtcdServer.adopt(rec);
      expect(adopted.pid).to.equal(rec.pid);
      await adopted.kill9();
      expect(isAlive(rec.pid!)).to.equal(false);
      await adopted.restart();
      expect(await health(adopted.endpoint)).to.equal(true);
    } finally {
      await adopted?.stop();
      await etcd.remove();
    }
  });
});
