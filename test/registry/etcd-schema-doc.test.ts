/**
 * Runs the etcdctl examples of docs/etcd-schema.md against the fixture etcd (with the test's prefix
 * in place of /fleet/) and checks that the registry reads what they write exactly as it reads
 * fleetctl-written records. Needs `etcdctl` (Debian's etcd-client).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { UnitRecord } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { record, registry, until } from './helpers.js';

const run = promisify(execFile);
const DOC = new URL('../../../docs/etcd-schema.md', import.meta.url);
const HELLO =
  '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sh -c "while true; do echo hello; sleep 5; done"\n';

/** The ```sh block following each `<!-- example: NAME -->` marker. */
export function examples(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<!-- example: ([\w-]+) -->\n```sh\n([\s\S]*?)```/g;
  for (const m of markdown.matchAll(re)) out.set(m[1]!, m[2]!);
  return out;
}

describe('docs/etcd-schema.md: the etcdctl examples work and fleet reads them like its own writes', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  const doc = examples(readFileSync(DOC, 'utf8'));

  async function sh(name: string): Promise<string> {
    const script = doc.get(name);
    if (script === undefined) throw new Error(`docs/etcd-schema.md has no "${name}" example`);
    try {
      const { stdout } = await run(
        'bash',
        ['-euo', 'pipefail', '-c', script.replaceAll('/fleet/', etcd.prefix)],
        {
          env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: etcd.endpoint },
        },
      );
      return stdout;
    } catch (e) {
      if ((e as { stderr?: string }).stderr?.includes('etcdctl: command not found')) {
        throw new Error('etcdctl is not installed: apt-get install -y etcd-client (scripts/ensure-deps.sh)', {
          cause: e,
        });
      }
      throw e;
    }
  }

  it('has the examples this test runs', () => {
    expect([...doc.keys()]).to.include.members(['submit', 'start', 'stop', 'read-states', 'destroy']);
  });

  it('submit, start, read states, stop, destroy', async () => {
    const { reg, invalid } = registry(etcd.client, etcd.prefix);
    await reg.checkSchema();
    const stream = reg.watchUnits();
    const events = record(stream);
    await stream.start();
    try {
      // Submit: created once; the second time etcd says FAILURE and nothing changes.
      expect(await sh('submit')).to.match(/^SUCCESS/);
      const mine = (await reg.getUnit('hello.service'))!;
      const fleetctl = await reg.submitUnit({ name: 'twin.service', body: HELLO, source: 'etcdctl' });
      const same = (r: UnitRecord) => ({
        body: r.body,
        hash: r.hash,
        desiredState: r.desiredState,
        source: r.source,
      });
      expect(same(mine.record)).to.deep.equal(same(fleetctl.record));
      expect(mine.record.body).to.equal(HELLO);
      expect(await sh('submit')).to.match(/^FAILURE/);
      expect((await reg.getUnit('hello.service'))!.modRevision).to.equal(mine.modRevision);

      // Start: a compare-and-swap on the mod revision.
      await sh('start');
      expect((await reg.getUnit('hello.service'))!.record.desiredState).to.equal('launched');
      await until(
        () => events.some((e) => e.type === 'put' && e.item.record.desiredState === 'launched'),
        'start',
      );

      // The engine places it and the agent reports; the documented reads show both.
      const c = reg.engineElection(10).campaign('e');
      await new Promise<void>((ok, ko) => c.on('elected', ok).on('error', ko));
      const fence = await reg.fenceFor(await c.getCampaignKey());
      await reg.applySchedule(fence, [
        {
          type: 'put',
          record: {
            unit: 'hello.service',
            machineId: 'm1',
            body: HELLO,
            hash: mine.record.hash,
            desiredState: 'launched',
          },
        },
      ]);
      const lease = etcd.client.lease(10, { autoKeepAlive: false });
      const leaseId = await lease.grant();
      await reg.putMachine(
        { id: 'm1', publicIp: '10.0.0.1', metadata: { region: 'eu' }, version: '0.1.0', draining: false },
        leaseId,
      );
      const state = {
        unit: 'hello.service',
        machineId: 'm1',
        loadState: 'loaded',
        activeState: 'active',
        subState: 'running',
        hash: mine.record.hash,
      };
      await reg.putUnitStates([state], leaseId);
      const out = (await sh('read-states')).split('\n');
      expect(out).to.include(`${etcd.prefix}schedule/m1/hello.service`);
      const states = out.filter((l) => l.startsWith('{"unit"')).map((l) => JSON.parse(l) as object);
      expect(states).to.deep.equal([state, state]); // all machines, then m1's
      expect(
        out.filter((l) => l.startsWith('{"id"')).map((l) => JSON.parse(l) as { metadata: object })[0]!
          .metadata,
      ).to.deep.equal({
        region: 'eu',
      });

      // Stop.
      await sh('stop');
      expect((await reg.getUnit('hello.service'))!.record.desiredState).to.equal('inactive');

      // Destroy: the unit is gone for every reader.
      await sh('destroy');
      expect(await reg.getUnit('hello.service')).to.equal(undefined);
      await until(
        () => events.some((e) => e.type === 'delete' && e.prev.id === 'hello.service'),
        'the delete',
      );
      expect(
        events
          .filter((e) => (e.type === 'put' ? e.item.id : e.prev.id) === 'hello.service')
          .map((e) => e.type),
      ).to.deep.equal(['put', 'put', 'put', 'delete']);
      expect(invalid).to.deep.equal([]);
      await lease.revoke();
      await c.resign();
    } finally {
      await stream.stop();
    }
  });
});
