import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, REPO_ROOT } from '../../lab/lab.js';
import { clusterDir } from '../../lab/state.js';
import { leftovers } from './helpers.js';

describe('lab: the fleetd hook (fleetd.service in every machine, with a stand-in fleetd)', function () {
  this.timeout(60000);
  const name = `t${process.pid}f`;
  const entry = join(REPO_ROOT, 'dist/test/lab/fixtures/fake-fleetd.js');
  let lab: Lab | undefined;

  after(async () => {
    if (existsSync(clusterDir(name))) await Lab.down(name);
  });

  it('runs fleetd.service from the read-only checkout, configured by fleet.conf, and kill -9s it', async () => {
    lab = await Lab.up({ name, machines: 2, fleetdEntry: entry, metadata: { m2: { region: 'eu' } } });
    // up waited for fleetd.service to be active in every machine.
    for (const m of lab.machineNames()) {
      const unit = await lab.exec(m, [
        'systemctl',
        'show',
        '--property=ExecStart',
        '--value',
        'fleetd.service',
      ]);
      expect(unit.stdout, m).to.contain(entry);
    }
    const journal = await lab.exec('m2', ['journalctl', '-u', 'fleetd.service', '-o', 'cat', '--no-pager']);
    expect(journal.stdout).to.contain(`fake fleetd: metadata=region=eu etcd_servers=${lab.endpoints[0]}`);

    const pid = await lab.killFleetd('m1');
    expect(pid).to.be.greaterThan(1);
    const s = await lab.status();
    expect(s.machines.map((m) => m.fleetd)).to.deep.equal(['failed', 'active']);
    const result = await lab.exec('m1', [
      'systemctl',
      'show',
      '--property=Result',
      '--value',
      'fleetd.service',
    ]);
    expect(result.stdout.trim()).to.equal('signal');

    const st = lab.state;
    await lab.down();
    expect(leftovers(st)).to.deep.equal([]);
  });

  it('refuses a fleetd entry outside the checkout (the machines would not see it)', async () => {
    let err: unknown;
    try {
      await Lab.up({ name, machines: 1, fleetdEntry: '/usr/local/bin/fleetd.js' });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.contain('outside the checkout');
    expect(existsSync(clusterDir(name))).to.equal(false);
  });
});
