/** forEachPage (lib/registry/range.ts) against a real etcd: pages, a compaction between pages, a failing consumer. */
import { expect } from 'chai';
import { forEachPage } from '../../lib/registry/range.js';
import { useEtcd } from '../fixtures/etcd.js';

describe('lib/registry/range: forEachPage against a real etcd', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  const key = (i: number) => `${etcd.prefix}p/k${String(i).padStart(3, '0')}`;

  async function fill(n: number): Promise<void> {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, j) => etcd.client.put(key(i + j)).value('v')),
      );
    }
  }

  it('hands over every key in order, page by page, at one revision', async () => {
    await fill(100);
    const pages: string[][] = [];
    const { revision } = await forEachPage(
      etcd.client,
      `${etcd.prefix}p/`,
      { pageSize: 16, maxPageSize: 16 },
      (kvs, restarted) => {
        expect(restarted).to.equal(false);
        pages.push(kvs.map((kv) => kv.key.toString()));
      },
    );
    expect(pages.length).to.equal(7);
    expect(pages.flat()).to.deep.equal(Array.from({ length: 100 }, (_, i) => key(i)));
    expect(Number(revision)).to.be.greaterThan(0);
  });

  it('starts over at a new revision when etcd compacts between pages, and says so', async () => {
    await fill(100);
    const kv = etcd.client.kv;
    const range = kv.range.bind(kv);
    let calls = 0;
    kv.range = async (req) => {
      // Before the third page is read: a key is added, one removed, and the revision the reading
      // is pinned to is compacted away.
      if (++calls === 3) {
        await etcd.client.put(key(999)).value('new');
        await etcd.client.delete().key(key(50));
        const rev = (await range({ key: Buffer.from(key(0)) })).header.revision;
        await kv.compact({ revision: rev, physical: true });
      }
      return range(req);
    };
    let kept: string[] = [];
    const restarts: number[] = [];
    try {
      let page = 0;
      await forEachPage(
        etcd.client,
        `${etcd.prefix}p/`,
        { pageSize: 16, maxPageSize: 16 },
        (kvs, restarted) => {
          page++;
          if (restarted) {
            restarts.push(page);
            kept = [];
          }
          kept.push(...kvs.map((x) => x.key.toString()));
        },
      );
    } finally {
      kv.range = range;
    }
    expect(restarts).to.deep.equal([3]);
    const now = [...Array.from({ length: 100 }, (_, i) => key(i)).filter((k) => k !== key(50)), key(999)];
    expect(kept).to.deep.equal(now);
  });

  it('a consumer that throws ends the reading with its error, and the page read ahead is not left unhandled', async () => {
    await fill(40);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      let err: unknown;
      await forEachPage(etcd.client, `${etcd.prefix}p/`, { pageSize: 16, maxPageSize: 16 }, () => {
        throw new Error('consumer failed');
      }).catch((e: unknown) => (err = e));
      expect((err as Error).message).to.equal('consumer failed');
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
