import { expect } from 'chai';
import { isAlive } from '../../lab/etcd-server.js';
import { sharedEtcd, useEtcd } from '../fixtures/etcd.js';

describe('test/fixtures/etcd', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  const prefixes: string[] = [];
  let firstClient: { put: unknown } | undefined;

  it('hands out one shared etcd and a fresh prefix and client per test (1)', async () => {
    prefixes.push(etcd.prefix);
    firstClient = etcd.client;
    expect(etcd.prefix).to.match(/^\/t-[0-9a-f]{8}\/$/);
    expect(await sharedEtcd()).to.equal(etcd.server);
    expect(isAlive(etcd.server.pid!)).to.equal(true);
    await etcd.client.put(`${etcd.prefix}k`).value('v');
  });

  it('hands out one shared etcd and a fresh prefix and client per test (2)', async () => {
    prefixes.push(etcd.prefix);
    expect(prefixes[1]).to.not.equal(prefixes[0]);
    expect(etcd.client).to.not.equal(firstClient);
    // The previous test's keys were deleted after it.
    expect(await etcd.client.get(`${prefixes[0]}k`).string()).to.equal(null);
  });

  it('restarts etcd (graceful and kill -9) on the same data', async () => {
    await etcd.client.put(`${etcd.prefix}kept`).value('1');
    const pid = etcd.server.pid!;
    await etcd.restartEtcd();
    expect(etcd.server.pid).to.not.equal(pid);
    expect(isAlive(pid)).to.equal(false);
    expect(await etcd.newClient().get(`${etcd.prefix}kept`).string()).to.equal('1');
    const pid2 = etcd.server.pid!;
    let downSeen = false;
    await etcd.kill9AndRestart(async () => {
      downSeen = !isAlive(pid2);
    });
    expect(downSeen).to.equal(true);
    expect(await etcd.newClient().get(`${etcd.prefix}kept`).string()).to.equal('1');
  });
});
