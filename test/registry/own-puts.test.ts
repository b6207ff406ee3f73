import { expect } from 'chai';
import type { Registry, Stored, UnitRecord } from '../../lib/registry/index.js';
import type { RegistryStream, StreamEvent } from '../../lib/registry/stream.js';
import { useEtcd } from '../fixtures/etcd.js';
import { body, record, registry, until } from './helpers.js';

/** "put a.service" / "delete b.service", in order. */
function lines(events: StreamEvent<UnitRecord>[]): string[] {
  return events.map((e) => (e.type === 'put' ? `put ${e.item.id}` : `delete ${e.prev.id}`));
}

/** Hands a write of ours to the stream, as the engine does once its transaction committed. */
function own(stream: RegistryStream<UnitRecord>, s: Stored<UnitRecord>): void {
  stream.putOwn(s.id, s.key, s.record, BigInt(s.modRevision));
}

/**
 * Writes first.service, hands it over and asks the stream to watch deletes only from there; it
 * switches once it has seen everything up to that revision.
 */
async function switchAfterFirstWrite(reg: Registry, stream: RegistryStream<UnitRecord>): Promise<void> {
  const first = await reg.submitUnit({ name: 'first.service', body: body('first') });
  own(stream, first);
  stream.ignorePutsFrom(BigInt(first.modRevision));
  await until(() => BigInt(stream.revision) >= BigInt(first.modRevision), 'the switch');
}

describe('lib/registry streams: a writer hands its own puts over (putOwn, ignorePutsFrom)', function () {
  this.timeout(30000);
  const etcd = useEtcd();

  it('takes in an own put at its commit revision; the watch bringing it back adds nothing', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const stream = reg.watchUnits();
    const events = record(stream);
    await stream.start();
    try {
      const a = await reg.submitUnit({ name: 'a.service', body: body('a') });
      own(stream, a);
      expect(lines(events)).to.deep.equal(['put a.service']);
      await until(() => BigInt(stream.revision) >= BigInt(a.modRevision), 'the watch to pass a.service');
      own(stream, a); // a late second hand-over changes nothing either
      expect(lines(events)).to.deep.equal(['put a.service']);
      expect(stream.get(a.key)?.modRevision).to.equal(a.modRevision);
    } finally {
      await stream.stop();
    }
  });

  it('after ignorePutsFrom it watches deletes only; puts by others show at the next listing, and again after watchPuts', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const { reg: other } = registry(etcd.client, etcd.prefix);
    const stream = reg.watchUnits();
    const events = record(stream);
    await stream.start();
    try {
      await switchAfterFirstWrite(reg, stream);
      const before = events.length;
      await other.submitUnit({ name: 'late.service', body: body('late') });
      const mine = await reg.submitUnit({ name: 'mine.service', body: body('mine') });
      own(stream, mine);
      await other.destroyUnit('first.service');
      await until(() => lines(events).includes('delete first.service'), 'the delete of first.service');
      const after = lines(events).slice(before);
      expect(after).to.deep.equal(['put mine.service', 'delete first.service']);
      // late.service was written by someone else after the switch: the next listing shows it.
      await stream.resync();
      expect(lines(events).slice(-1)).to.deep.equal(['put late.service']);
      // Watching puts again: someone else's change arrives by the watch.
      stream.watchPuts();
      await other.setDesiredState('late.service', 'launched');
      await until(() => events.length === before + 4, 'late.service changed');
      const last = events[events.length - 1]!;
      expect(last.type === 'put' && last.item.record.desiredState).to.equal('launched');
    } finally {
      await stream.stop();
    }
  });

  it('does not take in an own put older than a delete it has seen (the delete may come first) or than its last listing', async () => {
    const { reg } = registry(etcd.client, etcd.prefix);
    const { reg: other } = registry(etcd.client, etcd.prefix);
    let inFlight = new Set<string>();
    const stream = reg.watchUnits({ ownPutInFlight: (key) => inFlight.has(key) });
    const events = record(stream);
    await stream.start();
    try {
      await switchAfterFirstWrite(reg, stream);
      // Written by us, deleted by someone else, and the delete is seen before our hand-over.
      const k = await reg.submitUnit({ name: 'k.service', body: body('k') });
      inFlight = new Set([k.key]);
      await other.destroyUnit('k.service');
      const marker = await other.submitUnit({ name: 'marker.service', body: body('m') });
      await other.destroyUnit('marker.service');
      await until(() => BigInt(stream.revision) > BigInt(marker.modRevision), 'the deletes');
      own(stream, k);
      expect(stream.get(k.key)).to.equal(undefined);
      // The same with a key the stream knew: its delete is emitted, and our older put stays out.
      const j1 = await reg.submitUnit({ name: 'j.service', body: body('j') });
      own(stream, j1);
      const j2 = await reg.replaceUnit({ name: 'j.service', body: body('j2') });
      inFlight = new Set([j2.key]);
      await other.destroyUnit('j.service');
      await until(() => lines(events).includes('delete j.service'), 'the delete of j.service');
      own(stream, j2);
      expect(stream.get(j2.key)).to.equal(undefined);
      inFlight = new Set();
      // Older than the last listing: the listing already showed it, or what came after it.
      const l = await reg.submitUnit({ name: 'l.service', body: body('l') });
      await other.destroyUnit('l.service');
      await stream.resync();
      own(stream, l);
      expect(stream.get(l.key)).to.equal(undefined);
      expect(lines(events)).to.deep.equal(['put first.service', 'put j.service', 'delete j.service']);
    } finally {
      await stream.stop();
    }
  });
});
