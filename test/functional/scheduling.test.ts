/**
 * Functional: fleet's scheduling options and unit actions on real machines (fleet-lab, fleetd in
 * each), as fleet's functional/scheduling_test.go and unit_action_test.go covered them, plus
 * fleet-ts's `!=`, Global with a machine joining and leaving, and socket activation answering a
 * request from another machine. Every check reads the machines' own systemd.
 */
import { expect } from 'chai';
import { DoubleRunSampler, FunctionalLab, svc, until } from './helpers.js';

describe('functional: [X-Fleet] options and unit actions on real machines', function () {
  this.timeout(120000);
  let f: FunctionalLab;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // fleet-lab needs root (namespaces, cgroups)
    this.timeout(180000);
    f = await FunctionalLab.up('fs', {
      machines: 3,
      agentTtl: 3,
      metadata: {
        m1: { role: 'web', disk: 'ssd', host: 'm1' },
        m2: { role: 'web', disk: 'hdd', host: 'm2' },
        m3: { role: 'db', disk: 'ssd', host: 'm3' },
      },
    });
  });

  after(async () => {
    await f?.down();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && f) console.log(await f.journals());
  });

  it('submit, load, start, stop, unload, destroy: each step as systemd sees it', async () => {
    const p = f.file('life.service', svc('lifecycle', 'MachineMetadata=host=m2'));
    await f.ok('submit', p);
    expect(await f.assignedTo('life.service'), 'submitted: not scheduled').to.deep.equal([]);
    await f.ok('load', p);
    expect(await f.assignedTo('life.service')).to.deep.equal(['m2']);
    const sd = await f.systemd('m2');
    await until(
      async () => (await sd.list(['life.service'])).get('life.service')?.loadState === 'loaded' || undefined,
      'life.service loaded on m2',
    );
    expect((await sd.list(['life.service'])).get('life.service')?.activeState).to.equal('inactive');
    await f.ok('start', p);
    await f.waitRunning({ 'life.service': 'm2' }, 'life.service running on m2');
    await f.ok('stop', 'life.service');
    await f.waitRunning({ 'life.service': [] }, 'life.service stopped');
    await f.ok('unload', 'life.service');
    await until(
      async () => (await sd.list(['life.service'])).get('life.service')?.loadState !== 'loaded' || undefined,
      'life.service unloaded from m2',
    );
    expect(await f.sh('m2', 'ls /run/fleet/units')).to.not.contain('life.service');
    await f.ok('destroy', 'life.service');
    const list = await f.ok('list-unit-files', '--no-legend');
    expect(list).to.not.contain('life.service');
  });

  it('MachineID (full and 8-character prefix) runs the unit on that machine only', async () => {
    const full = f.file('pin-full.service', svc('pinned', `MachineID=${f.machineId('m3')}`));
    const short = f.file('pin-short.service', svc('pinned', `MachineID=${f.machineId('m1').slice(0, 8)}`));
    await f.ok('start', '--no-block', full, short);
    await f.waitRunning({ 'pin-full.service': 'm3', 'pin-short.service': 'm1' }, 'pinned units placed');
  });

  it('MachineMetadata: the same key is OR, different keys are AND, != excludes', async () => {
    const or = f.file('md-or.service', svc('or', 'MachineMetadata=host=m2\nMachineMetadata=host=m3'));
    const and = f.file('md-and.service', svc('and', 'MachineMetadata=role=web\nMachineMetadata=disk=ssd'));
    const not = f.file('md-not.service', svc('not', 'MachineMetadata=role!=web'));
    const notAnd = f.file(
      'md-not-and.service',
      svc('not+and', 'MachineMetadata=disk=ssd\nMachineMetadata=host!=m1'),
    );
    await f.ok('start', '--no-block', or, and, not, notAnd);
    await f.waitRunning(
      { 'md-and.service': 'm1', 'md-not.service': 'm3', 'md-not-and.service': 'm3' },
      'metadata units placed',
    );
    const orAt = await f.assignedTo('md-or.service');
    expect(orAt).to.have.length(1);
    expect(['m2', 'm3']).to.include(orAt[0]);
    await f.waitRunning({ 'md-or.service': orAt[0]! }, 'md-or running where assigned');
    // nothing fits: not placed, and fleetctl says why
    const none = f.file('md-none.service', svc('none', 'MachineMetadata=role=gpu'));
    await f.ok('start', '--no-block', none);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await f.assignedTo('md-none.service')).to.deep.equal([]);
    const why = await f.fleetctl('why', 'md-none.service');
    expect(why.stdout + why.stderr).to.match(/role/);
  });

  it('MachineOf: the unit runs on the machine of its target', async () => {
    const target = f.file('anchor.service', svc('anchor', 'MachineMetadata=host=m2'));
    const follower = f.file('follower.service', svc('follower', 'MachineOf=anchor.service'));
    await f.ok('start', '--no-block', follower, target);
    await f.waitRunning({ 'anchor.service': 'm2', 'follower.service': 'm2' }, 'follower next to its anchor');
  });

  it('Conflicts: never on one machine, checked both ways; one too many is not placed', async () => {
    const files = [1, 2, 3].map((i) =>
      f.file(`conflict.${i}.service`, svc(`conflict ${i}`, 'Conflicts=conflict.*.service')),
    );
    await f.ok('start', '--no-block', ...files);
    const placed = await until(async () => {
      const at = await Promise.all([1, 2, 3].map((i) => f.assignedTo(`conflict.${i}.service`)));
      return at.every((a) => a.length === 1) ? at.map((a) => a[0]!) : undefined;
    }, 'three conflicting units placed');
    expect(new Set(placed).size, `placed on ${placed.join(',')}`).to.equal(3);
    await f.waitRunning(
      Object.fromEntries(placed.map((m, k) => [`conflict.${k + 1}.service`, m])),
      'conflicting units running',
    );
    // conflict.4 has no machine left; one-way: plain.service names no conflict but conflict.* do
    const fourth = f.file('conflict.4.service', svc('conflict 4', 'Conflicts=conflict.*.service'));
    const oneWay = f.file('oneway.service', svc('one way', 'Conflicts=pin-full.service'));
    await f.ok('start', '--no-block', fourth, oneWay);
    await until(
      async () => (await f.assignedTo('oneway.service')).length === 1 || undefined,
      'oneway placed',
    );
    expect(await f.assignedTo('oneway.service'), 'not next to pin-full (m3)').to.not.include('m3');
    expect(await f.assignedTo('conflict.4.service')).to.deep.equal([]);
  });

  it('Replaces: the new unit takes the machine, the replaced one moves elsewhere, never both at once', async () => {
    const old = f.file('old.service', svc('old', 'MachineMetadata=role=web'));
    await f.ok('start', old);
    const [at] = await f.assignedTo('old.service');
    const other = at === 'm1' ? 'm2' : 'm1';
    const sampler = new DoubleRunSampler(f, () => ['old.service', 'new.service']);
    sampler.start();
    try {
      const fresh = f.file('new.service', svc('new', `MachineMetadata=host=${at}\nReplaces=old.service`));
      await f.ok('start', '--no-block', fresh);
      await f.waitRunning({ 'new.service': at!, 'old.service': other }, 'old moved off for new');
    } finally {
      await sampler.stop();
    }
    expect(sampler.samples).to.be.greaterThan(3);
    // both on one machine would be a Replaces violation; the sampler also checks each unit once
    expect(sampler.doubles, JSON.stringify(sampler.doubles.slice(0, 5))).to.deep.equal([]);
  });

  it('templates: instances from a local template run with their %i, %p and %n', async () => {
    const tpl = f.file(
      'tpl@.service',
      svc('instance %i', '', "/bin/sh -c 'echo %p %i %n > /run/tpl-%i; exec sleep 100000'"),
    );
    const dir = tpl.replace(/\/tpl@\.service$/, '');
    await f.ok('start', '--no-block', `${dir}/tpl@a.service`, `${dir}/tpl@b.service`);
    const where = await until(async () => {
      const a = await f.assignedTo('tpl@a.service');
      const b = await f.assignedTo('tpl@b.service');
      return a.length === 1 && b.length === 1 ? { a: a[0]!, b: b[0]! } : undefined;
    }, 'instances placed');
    await f.waitRunning({ 'tpl@a.service': where.a, 'tpl@b.service': where.b }, 'instances running');
    expect(await f.sh(where.a, 'cat /run/tpl-a')).to.equal('tpl a tpl@a.service');
    expect(await f.sh(where.b, 'cat /run/tpl-b')).to.equal('tpl b tpl@b.service');
  });

  it('start --replace swaps the file of a running unit: restarted with the new body, same rules', async () => {
    const p = f.file(
      'swap.service',
      svc('v1', 'MachineMetadata=host=m3', "/bin/sh -c 'echo v1 > /run/swap; exec sleep 100000'"),
    );
    await f.ok('start', p);
    await f.waitRunning({ 'swap.service': 'm3' }, 'swap v1 running');
    const before = await f.facts('m3', 'swap.service');
    f.file(
      'swap.service',
      svc('v2', 'MachineMetadata=host=m3', "/bin/sh -c 'echo v2 > /run/swap; exec sleep 100000'"),
    );
    const plain = await f.fleetctl('start', p);
    expect(plain.code, 'without --replace the cluster keeps its file').to.equal(0);
    expect(await f.sh('m3', 'cat /run/swap')).to.equal('v1');
    await f.ok('start', '--replace', p);
    await until(async () => (await f.sh('m3', 'cat /run/swap')) === 'v2' || undefined, 'v2 running');
    await f.waitRunning({ 'swap.service': 'm3' }, 'swap v2 running');
    expect(await f.facts('m3', 'swap.service')).to.not.equal(before);
    expect(await f.ok('cat', 'swap.service')).to.contain('Description=v2');
  });

  it('socket activation across machines: socket and service land together; a request from another machine answers', async () => {
    f.file('ping.socket', '[Socket]\nListenStream=7001\n\n[X-Fleet]\nMachineMetadata=role=db\n');
    f.file(
      'ping.service',
      `[Service]\nExecStart=${process.execPath} -e "require('net').createServer(c=>c.end('pong from '+require('os').hostname()+'\\\\n')).listen({fd:3})"\n`,
    );
    await f.ok('load', '--no-block', `${f.dir}/ping.service`);
    await f.ok('start', '--no-block', `${f.dir}/ping.socket`);
    await until(async () => {
      const s = await f.assignedTo('ping.socket');
      const v = await f.assignedTo('ping.service');
      return s.length === 1 && v.join() === s.join() ? s : undefined;
    }, 'ping.socket and ping.service on one machine');
    expect(await f.assignedTo('ping.socket')).to.deep.equal(['m3']);
    const ip = f.lab.machine('m3').ip;
    const answer = await until(
      async () => {
        const out = await f.sh(
          'm1',
          `${process.execPath} -e "const s=require('net').connect(7001,'${ip}');let d='';s.on('data',c=>d+=c);s.on('end',()=>console.log(d.trim()));s.on('error',()=>{})"`,
        );
        return out !== '' ? out : undefined;
      },
      `an answer from ${ip}:7001 to m1`,
      30000,
    );
    expect(answer).to.equal('pong from m3');
    await f.waitRunning({ 'ping.service': 'm3' }, 'ping.service started by its socket on m3');
  });

  it('Global: on every fitting machine, on a machine that joins, gone with a machine that leaves', async () => {
    const all = f.file('everywhere.service', svc('global', 'Global=true'));
    const web = f.file('webglobal.service', svc('global web', 'Global=true\nMachineMetadata=role=web'));
    await f.ok('start', '--no-block', all, web);
    await f.waitRunning(
      { 'everywhere.service': ['m1', 'm2', 'm3'], 'webglobal.service': ['m1', 'm2'] },
      'global units on their machines',
    );
    const joined = await f.lab.addMachine({ metadata: { role: 'web', disk: 'ssd', host: 'm4' } });
    expect(joined).to.equal('m4');
    await f.waitMachines(['m4']);
    await f.waitRunning(
      { 'everywhere.service': ['m1', 'm2', 'm3', 'm4'], 'webglobal.service': ['m1', 'm2', 'm4'] },
      'global units on the machine that joined',
    );
    await f.lab.poweroff('m4');
    await until(
      async () => !(await f.reg.listMachines()).items.some((i) => i.id === f.machineId('m4')) || undefined,
      'm4 gone from the registry',
      30000,
    );
    await until(
      async () => (await f.assignedTo('everywhere.service')).join() === 'm1,m2,m3' || undefined,
      'm4 assignments removed',
      30000,
    );
    await f.waitRunning(
      { 'everywhere.service': ['m1', 'm2', 'm3'], 'webglobal.service': ['m1', 'm2'] },
      'global units still once on each remaining machine',
    );
  });
});
