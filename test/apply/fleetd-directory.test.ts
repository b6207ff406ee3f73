/**
 * fleetd's units directory (unit_source_directory): the component in-process on a real etcd, with
 * the stand-in engine + agent of test/fleetctl/harness.ts: a dropped file is created and started,
 * an edited one replaced, a deleted one pruned; another source's unit is never touched; the
 * option is read from fleet.conf like any other.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplyComponent } from '../../fleetd/apply-component.js';
import { fleetdSource } from '../../lib/apply/index.js';
import { resolveConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { Registry } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { until } from '../fixtures/until.js';
import { StandInCluster } from '../fleetctl/harness.js';
import { MetricsRegistry } from '../../fleetd/metrics.js';

const HELLO = '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sleep 1000\n';
const HELLO2 = '[Unit]\nDescription=Hello again\n\n[Service]\nExecStart=/bin/sleep 2000\n';
const MID = 'feedfacefeedfacefeedfacefeedface';

describe('fleetd units directory (unit_source_directory; real etcd)', function () {
  this.timeout(60000);
  const etcd = useEtcd();
  let tmp: string;
  let cluster: StandInCluster | undefined;
  let component: ApplyComponent | undefined;
  const stop = new AbortController();

  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'fleetd-units-d-'))));
  afterEach(async () => {
    await component?.stop();
    component = undefined;
    await cluster?.stop();
    cluster = undefined;
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the option: empty by default (off), an absolute path when set', () => {
    const d = resolveConfig({});
    expect(d.ok && d.config.unitSourceDirectory).to.equal(undefined);
    const s = resolveConfig({
      file: { path: 'fleet.conf', text: 'unit_source_directory=/etc/fleet/units.d\n' },
    });
    expect(s.ok && s.config.unitSourceDirectory).to.equal('/etc/fleet/units.d');
    const bad = resolveConfig({ env: { FLEET_UNIT_SOURCE_DIRECTORY: 'relative/dir' } });
    expect(bad.ok).to.equal(false);
  });

  it('drop -> created and running; edit -> replaced; delete -> pruned; another source untouched', async () => {
    const dir = join(tmp, 'units.d');
    mkdirSync(dir);
    writeFileSync(join(tmp, 'machine-id'), `${MID}\n`);
    const r = resolveConfig({
      env: { FLEET_UNIT_SOURCE_DIRECTORY: dir, FLEET_MACHINE_ID_FILE: join(tmp, 'machine-id') },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    cluster = new StandInCluster(etcd.client, etcd.prefix);
    await cluster.addMachine(MID, '10.0.0.9');
    cluster.autopilot(50);
    await reg.submitUnit({ name: 'theirs.service', body: HELLO, source: 'api', desiredState: 'launched' });
    const lines: string[] = [];
    component = new ApplyComponent(
      {
        config: r.config,
        client: etcd.client,
        registry: reg,
        log: createLogger({ write: (l) => lines.push(l) }),
        metrics: new MetricsRegistry(),
        setPlacementExplainer: () => undefined,
      },
      { debounceMs: 50, resyncMs: 0 },
    );
    await component.start(stop.signal);
    const source = fleetdSource(MID, dir);

    writeFileSync(join(dir, 'hello.service'), HELLO);
    const created = await until(async () => {
      const u = await reg.getUnit('hello.service');
      return u?.record.source === source ? u : undefined;
    }, 'hello.service created from the directory');
    expect(created.record.desiredState).to.equal('launched');
    await until(
      async () =>
        (await reg.listUnitStates()).items.find(
          (s) => s.record.unit === 'hello.service' && s.record.activeState === 'active',
        ),
      'hello.service running',
    );

    writeFileSync(join(dir, 'hello.service'), HELLO2);
    await until(
      async () => (await reg.getUnit('hello.service'))?.record.body === HELLO2,
      'hello.service replaced',
    );

    writeFileSync(join(dir, 'theirs.service'), HELLO2);
    await until(() => lines.some((l) => l.includes('theirs.service conflict')), 'the conflict logged');
    expect((await reg.getUnit('theirs.service'))!.record.body).to.equal(HELLO);

    unlinkSync(join(dir, 'hello.service'));
    unlinkSync(join(dir, 'theirs.service'));
    await until(async () => (await reg.getUnit('hello.service')) === undefined, 'hello.service pruned');
    expect(await reg.getUnit('theirs.service')).to.not.equal(undefined);
    expect(lines.some((l) => l.includes('hello.service created'))).to.equal(true);
    expect(lines.some((l) => l.includes('hello.service replaced'))).to.equal(true);
    expect(lines.some((l) => l.includes('hello.service pruned'))).to.equal(true);
  });
});
