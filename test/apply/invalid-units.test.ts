/**
 * etcd automation writing bad unit keys (raw puts with the etcd3 client, as docs/etcd-schema.md
 * tells automation to write): each is marked invalid with its reason by the engine (reasons/<unit>,
 * fenced), shown by `fleetctl list-unit-files` (state "invalid", -o json "invalid") and `fleetctl
 * why`, with both drivers; nothing else is touched (the good unit is placed, the engine keeps going).
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../engine/engine.js';
import { createApi } from '../../fleetd/api/server.js';
import { Registry, invalidUnitKeyName } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { until } from '../fixtures/until.js';
import { etcdArgs, run } from '../fleetctl/harness.js';

const BODY = '[Unit]\nDescription=ok\n\n[Service]\nExecStart=/bin/sleep 1000\n';

describe('invalid unit keys written by automation (real etcd, in-process engine, fleetctl both drivers)', function () {
  this.timeout(60000);
  const etcd = useEtcd();
  let engine: Engine | undefined;
  let server: Server | undefined;
  let api: ReturnType<typeof createApi> | undefined;
  let tmp: string;

  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'invalid-units-'))));
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((ok) => server!.close(() => ok()));
      server = undefined;
    }
    await api?.close();
    api = undefined;
    rmSync(tmp, { recursive: true, force: true });
  });

  it('marks each bad key invalid with its reason, places the good unit, clears the mark when fixed or deleted', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    const lease = etcd.client.lease(30);
    await reg.putMachine(
      { id: 'm1', publicIp: '10.0.0.1', metadata: {}, version: '0', draining: false },
      await lease.grant(),
    );
    const put = (key: string, value: string) => etcd.client.put(`${etcd.prefix}units/${key}`).value(value);
    await put('ok.service', JSON.stringify({ body: BODY, desiredState: 'launched', source: 'script' }));
    await put('nojson.service', 'this is not JSON');
    await put('badbody.service', JSON.stringify({ body: 'no section here', desiredState: 'launched' }));
    await put('badstate.service', JSON.stringify({ body: BODY, desiredState: 'running' }));
    await put('bad name.service', JSON.stringify({ body: BODY, desiredState: 'launched' }));
    await put('noext', JSON.stringify({ body: BODY, desiredState: 'launched' }));

    engine = new Engine({ registry: reg, candidate: 'e1', leaseTtlSeconds: 2, reconcileIntervalMs: 60000 });
    await engine.start();
    const expected: Record<string, RegExp> = {
      'nojson.service': /not JSON/,
      'badbody.service': /"body" is not a valid unit file/,
      'badstate.service': /"desiredState" must be one of/,
      [invalidUnitKeyName('bad name.service')]: /spaces/,
      [invalidUnitKeyName('noext')]: /unit type/,
    };
    await until(async () => {
      const r = await reg.listReasons();
      return Object.keys(expected).every((n) => r.items.some((i) => i.record.unit === n && i.record.invalid));
    }, 'every bad key marked invalid');
    const reasons = new Map((await reg.listReasons()).items.map((i) => [i.record.unit, i.record]));
    for (const [name, why] of Object.entries(expected)) {
      expect(reasons.get(name)!.invalid, name).to.match(why);
      expect(reasons.get(name)!.reasons[0], name).to.include(`${etcd.prefix}units/`);
    }
    expect(reasons.has('ok.service')).to.equal(false);
    await until(
      async () => (await reg.listSchedule()).items.some((i) => i.record.unit === 'ok.service'),
      'ok.service placed',
    );

    // fleetctl shows them, with both drivers.
    api = createApi({ registry: new Registry(etcd.client, { prefix: etcd.prefix }) });
    server = createServer(api.handle);
    const sock = join(tmp, 'fleet.sock');
    await new Promise<void>((ok) => server!.listen(sock, ok));
    for (const args of [etcdArgs(etcd.endpoint, etcd.prefix), [`--endpoint=unix://${sock}`]]) {
      const l = await run([...args, 'list-unit-files', '--no-legend', '--fields=unit,state']);
      expect(l.status, l.stderr).to.equal(0);
      const rows = l.stdout
        .trim()
        .split('\n')
        .map((x) => x.split(/\s+/));
      expect(rows).to.deep.include(['badstate.service', 'invalid']);
      expect(rows).to.deep.include(['nojson.service', 'invalid']);
      expect(rows).to.deep.include(['ok.service', 'launched']);
      const j = await run([...args, 'list-unit-files', '-o', 'json']);
      const units = JSON.parse(j.stdout) as { name: string; invalid?: string }[];
      expect(units.find((u) => u.name === 'badbody.service')!.invalid).to.match(/not a valid unit file/);
      expect(units.find((u) => u.name === 'ok.service')!.invalid).to.equal(undefined);
      const w = await run([...args, 'why', 'badstate.service']);
      expect(w.stdout + w.stderr).to.match(/badstate\.service is invalid: "desiredState" must be one of/);
    }

    // Fixed: placed, and the mark is gone. Deleted: the mark is gone.
    await put('badstate.service', JSON.stringify({ body: BODY, desiredState: 'launched' }));
    await etcd.client.delete().key(`${etcd.prefix}units/nojson.service`);
    await until(async () => {
      const r = await reg.listReasons();
      return !r.items.some((i) => i.record.unit === 'badstate.service' || i.record.unit === 'nojson.service');
    }, 'marks cleared');
    await until(
      async () => (await reg.listSchedule()).items.some((i) => i.record.unit === 'badstate.service'),
      'badstate.service placed once fixed',
    );
    await lease.revoke();
  });
});
