/**
 * The agent on real systemd machines (fleet-lab): each machine runs dist/agent/main.js as its
 * fleetd.service (the lab's fleetd hook), configured by the lab's fleet.conf (agent_ttl 3 s). The
 * test plays the engine: it writes assignments as the elected, fenced leader.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Lab, REPO_ROOT } from '../../lab/lab.js';
import { createEtcdClient } from '../../lib/etcd-client.js';
import { Registry } from '../../lib/registry/index.js';
import { TestEngine, machineKeyExists, stateOf, until } from './helpers.js';

const svc = (desc: string, exec = '/bin/sleep 100000') =>
  `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=${exec}\n`;

describe('agent on fleet-lab machines (real systemd, real etcd)', function () {
  this.timeout(120000);
  let lab: Lab;
  let client: Etcd3;
  let reg: Registry;
  let engine: TestEngine;
  let m1: string;
  let m2: string;

  const sh = async (m: string, cmd: string) => (await lab.exec(m, ['sh', '-c', cmd])).stdout.trim();
  const show = (m: string, unit: string, prop: string) =>
    sh(m, `systemctl show --property=${prop} --value ${unit}`);
  const running = async (machineId: string, unit: string) => {
    const s = await stateOf(reg, machineId, unit);
    return s?.activeState === 'active' && s.subState === 'running' ? s : undefined;
  };

  before(async function () {
    this.timeout(90000);
    lab = await Lab.up({
      name: `ag${process.pid}`,
      machines: 2,
      agentTtl: 3,
      fleetdEntry: join(REPO_ROOT, 'dist/agent/main.js'),
    });
    client = createEtcdClient({ etcdServers: lab.endpoints, etcdRequestTimeoutMs: 5000 });
    reg = new Registry(client);
    await reg.checkSchema();
    engine = await TestEngine.start(reg);
    m1 = lab.state.machines[0]!.machineId;
    m2 = lab.state.machines[1]!.machineId;
    await until(
      async () => (await machineKeyExists(client, reg, m1)) && (await machineKeyExists(client, reg, m2)),
      'both agents registered',
    );
  });

  after(async function () {
    this.timeout(60000);
    client?.close();
    await lab?.down();
  });

  it('registers each machine on a lease with its public IP', async () => {
    const l = await reg.listMachines();
    const rec = l.items.find((i) => i.id === m1)!;
    expect(rec.record.publicIp).to.equal(lab.state.machines[0]!.ip);
    expect(rec.lease).to.not.equal('0');
  });

  it('loads and starts an assigned unit, reports it active/running, stops and unloads it', async () => {
    await engine.assign(m1, [{ name: 'hello.service', body: svc('hello') }]);
    const st = await until(() => running(m1, 'hello.service'), 'hello.service running');
    expect(st.loadState).to.equal('loaded');
    expect(await sh('m1', 'stat -c %a /run/fleet/units/hello.service')).to.equal('644');
    expect(await show('m1', 'hello.service', 'FragmentPath')).to.equal('/run/systemd/system/hello.service');
  });
});
