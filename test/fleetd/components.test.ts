import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type FleetConfig } from '../../lib/config.js';
import type { Component, ComponentFactory } from '../../fleetd/component.js';
import { Fleetd } from '../../fleetd/daemon.js';
import type { Notifier } from '../../fleetd/notify.js';
import { useEtcd } from '../fixtures/etcd.js';
import { call } from './helpers.js';
import { createServer, type AddressInfo } from 'node:net';
import { Registry } from '../../lib/registry/index.js';

function config(flags: Record<string, string>): FleetConfig {
  const r = resolveConfig({ flags });
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.config;
}

describe('fleetd components (the seam for the agent and the engine)', function () {
  this.timeout(30000);
  const etcd = useEtcd();
  let dir: string;
  let events: string[];
  let lines: string[];
  const notifier: Notifier = {
    enabled: true,
    ready: async (s) => void events.push(`notify READY ${s ?? ''}`),
    reloading: async () => void events.push('notify RELOADING'),
    stopping: async () => void events.push('notify STOPPING'),
    status: async (t) => void events.push(`notify STATUS ${t}`),
  };
  const factory = (
    name: string,
    role: ComponentFactory['role'],
    failStart = false,
    failStop = false,
  ): ComponentFactory => ({
    name,
    role,
    create: (ctx) => {
      events.push(`create ${name} prefix=${ctx.config.etcdKeyPrefix}`);
      ctx.metrics.counter(`fleet_${name}_things_total`, 'Things.').inc();
      if (role === 'engine') ctx.setPlacementExplainer(() => [`${name} says: no machine has region=us`]);
      const c: Component = {
        start: async (signal) => {
          events.push(`start ${name}`);
          if (failStart) throw new Error(`${name} cannot start`);
          signal.addEventListener('abort', () => events.push(`abort seen by ${name}`));
        },
        stop: async () => {
          events.push(`stop ${name}`);
          if (failStop) throw new Error(`${name} could not stop its units`);
        },
        reload: async (cfg) => void events.push(`reload ${name} verbosity=${cfg.verbosity}`),
      };
      ctx.log.info(`${name} created`);
      return c;
    },
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetd-comp-'));
    events = [];
    lines = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  let port = 0;
  beforeEach(async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
  });
  const flags = (extra: Record<string, string> = {}) => ({
    etcd_servers: etcd.endpoint,
    etcd_key_prefix: etcd.prefix,
    api_unix_socket: join(dir, 'fleet.sock'),
    api_tcp_address: `127.0.0.1:${port}`,
    ...extra,
  });

  it('starts components in order after the listeners, READY after all; reload; stop in reverse', async () => {
    let verbosity = '0';
    const d = new Fleetd({
      loadConfig: () => ({ config: config(flags({ verbosity })), warnings: [] }),
      components: [factory('agent', 'agent'), factory('engine', 'engine')],
      notifier,
      env: {},
      write: (l) => lines.push(l),
    });
    await d.start();
    expect(events).to.deep.equal([
      `create agent prefix=${etcd.prefix}`,
      'start agent',
      `create engine prefix=${etcd.prefix}`,
      'start engine',
      'notify READY serving',
    ]);
    expect(lines.some((l) => l.includes('info fleetd/agent: agent created'))).to.equal(true);
    verbosity = '1';
    expect(await d.reload()).to.equal(true);
    expect(events.slice(5)).to.deep.equal([
      'notify RELOADING',
      'reload agent verbosity=1',
      'reload engine verbosity=1',
      'notify READY serving',
    ]);
    await d.stop();
    expect(events.slice(9)).to.deep.equal([
      'notify STOPPING',
      'abort seen by agent',
      'abort seen by engine',
      'stop engine',
      'stop agent',
    ]);
  });

  it("serves the engine's explanations and the components' metrics through the API", async () => {
    const d = new Fleetd({
      loadConfig: () => ({ config: config(flags()), warnings: [] }),
      components: [factory('engine', 'engine')],
      notifier,
      env: {},
      write: (l) => lines.push(l),
    });
    await d.start();
    try {
      const tcp = d.listenerList.find((l) => l.description.startsWith('tcp'))!;
      const base = `http://127.0.0.1:${(tcp.server.address() as AddressInfo).port}`;
      const reg = new Registry(etcd.client, { prefix: etcd.prefix });
      await reg.submitUnit({
        name: 'w.service',
        body: '[Service]\nExecStart=/bin/true\n',
        desiredState: 'launched',
      });
      const why = await call(base, 'GET', '/fleet/v1/units/w.service/why');
      expect(why.json).to.deep.include({ placed: false, reasons: ['engine says: no machine has region=us'] });
      const m = await call(base, 'GET', '/metrics');
      expect(m.text).to.contain('fleet_engine_things_total 1');
    } finally {
      await d.stop();
    }
  });

  it('skips the engine with disable_engine; a failing start stops what started and throws', async () => {
    const d = new Fleetd({
      loadConfig: () => ({ config: config(flags({ disable_engine: 'true' })), warnings: [] }),
      components: [factory('agent', 'agent'), factory('engine', 'engine')],
      notifier,
      env: {},
      write: (l) => lines.push(l),
    });
    await d.start();
    await d.stop();
    expect(events.filter((e) => e.includes('engine'))).to.deep.equal([]);
    expect(lines.some((l) => l.includes('engine disabled (disable_engine)'))).to.equal(true);

    events = [];
    const bad = new Fleetd({
      loadConfig: () => ({ config: config(flags()), warnings: [] }),
      components: [factory('agent', 'agent'), factory('engine', 'engine', true)],
      notifier,
      env: {},
      write: (l) => lines.push(l),
    });
    let err: unknown;
    try {
      await bad.start();
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('engine cannot start');
    expect(events).to.include('stop agent');
    expect(events).to.not.include('notify READY serving');
    expect(events).to.not.include('stop engine');
  });

  it('a component that does not stop cleanly: the others still stop, then stop() rejects (fleetd exits 1, so ExecStopPost fences)', async () => {
    const d = new Fleetd({
      loadConfig: () => ({ config: config(flags()), warnings: [] }),
      components: [factory('agent', 'agent', false, true), factory('engine', 'engine')],
      notifier,
      env: {},
      write: (l) => lines.push(l),
    });
    await d.start();
    let err: unknown;
    try {
      await d.stop();
    } catch (e) {
      err = e;
    }
    expect((err as Error | undefined)?.message).to.match(/^agent did not stop cleanly/);
    expect(events).to.include.members(['stop engine', 'stop agent']);
    expect(lines.some((l) => l.includes('agent could not stop its units'))).to.equal(true);
  });
});
