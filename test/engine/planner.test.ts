import { expect } from 'chai';
import { plan } from '../../engine/planner.js';
import { UnitReader } from '../../engine/unit-info.js';
import { model, placements, reasonsOf, step, unitBody } from './helpers.js';

describe('engine/planner', () => {
  describe('least-loaded placement (fleet)', () => {
    it('spreads units over the least-loaded machines, ties by machine ID, each decision seen by the next', () => {
      const m = model(['a.service', 'b.service', 'c.service', 'd.service'], ['m3', 'm1', 'm2']);
      const p = step(m);
      expect(placements(m)).to.deep.equal({
        'a.service': 'm1',
        'b.service': 'm2',
        'c.service': 'm3',
        'd.service': 'm1',
      });
      expect(p.decisions.every((d) => d.type === 'place')).to.equal(true);
      expect(p.unplaced).to.deep.equal([]);
    });

    it('counts units already placed, global ones included, in the load', () => {
      const m = model(
        ['x.service', 'y.service', { name: 'g.service', xfleet: ['Global=true'] }, 'new.service'],
        ['m1', 'm2', 'm3'],
        { 'x.service': 'm1', 'y.service': 'm2', 'g.service': ['m1', 'm2'] },
      );
      step(m);
      // g is added on m3 first (load 1 there), then new goes to the least-loaded: m3 (1) < m1, m2 (2).
      expect(placements(m)['new.service']).to.equal('m3');
      expect(placements(m)['g.service']).to.deep.equal(['m1', 'm2', 'm3']);
    });

    it('does not rebalance when a machine joins', () => {
      const m = model(['a.service', 'b.service'], ['m1'], { 'a.service': 'm1', 'b.service': 'm1' });
      m.putMachine({ id: 'm2', metadata: {}, draining: false });
      expect(plan(m, 0).decisions).to.deep.equal([]);
    });

    it('plans nothing twice: a second pass over the applied plan is empty', () => {
      const m = model(['a.service', 'b.service', 'c.service'], ['m1', 'm2']);
      step(m);
      expect(plan(m, 0).decisions).to.deep.equal([]);
    });

    it('says so when there is no machine', () => {
      const m = model(['a.service'], []);
      expect(reasonsOf(step(m), 'a.service')).to.deep.equal(['no machine is known']);
    });
  });

  describe('unplacing', () => {
    it('unplaces a unit whose desired state is inactive, and does not place inactive units', () => {
      const m = model(
        [
          { name: 'a.service', state: 'inactive' },
          { name: 'b.service', state: 'inactive' },
        ],
        ['m1'],
        { 'a.service': 'm1' },
      );
      const p = step(m);
      expect(p.decisions).to.deep.equal([
        { type: 'unplace', unit: 'a.service', machineId: 'm1', reason: 'desired state is inactive' },
      ]);
      expect(placements(m)).to.deep.equal({});
      expect(p.unplaced).to.deep.equal([]);
    });

    it('re-places the units of a machine that went away in the same pass', () => {
      const m = model(['a.service', 'b.service'], ['m2', 'm3'], { 'a.service': 'gone', 'b.service': 'm2' });
      const p = step(m);
      expect(p.decisions.map((d) => `${d.type} ${d.unit} ${d.machineId}`)).to.deep.equal([
        'unplace a.service gone',
        'place a.service m3',
      ]);
      expect(p.decisions[0]!.reason).to.equal('machine gone went away');
    });

    it('moves a unit that no longer fits its machine (metadata changed)', () => {
      const m = model(
        [{ name: 'a.service', xfleet: ['MachineMetadata=disk=ssd'] }],
        [
          { id: 'm1', metadata: { disk: 'hdd' } },
          { id: 'm2', metadata: { disk: 'ssd' } },
        ],
        { 'a.service': 'm1' },
      );
      const p = step(m);
      expect(placements(m)).to.deep.equal({ 'a.service': 'm2' });
      expect(p.decisions[0]!.reason).to.match(/no longer fits machine m1/);
    });

    it('removes the assignments of a destroyed unit', () => {
      const m = model([], ['m1'], { 'gone.service': 'm1' });
      const p = step(m);
      expect(p.decisions).to.deep.equal([
        { type: 'unplace', unit: 'gone.service', machineId: 'm1', reason: 'the unit was destroyed' },
      ]);
    });

    it('keeps one assignment of a non-global unit placed twice', () => {
      const m = model(['a.service'], ['m1', 'm2'], { 'a.service': ['m1', 'm2'] });
      const p = step(m);
      expect(p.decisions.map((d) => `${d.type} ${d.machineId}`)).to.deep.equal(['unplace m2']);
      expect(placements(m)).to.deep.equal({ 'a.service': 'm1' });
    });

    it('rewrites an assignment when the desired state or file changes', () => {
      const m = model([{ name: 'a.service', state: 'loaded' }], ['m1'], { 'a.service': 'm1' });
      const u = m.units.get('a.service')!;
      m.putUnit({ ...u, desiredState: 'launched' });
      const p = plan(m, 0);
      expect(p.decisions.map((d) => d.type)).to.deep.equal(['update']);
    });
  });

  describe('MachineID', () => {
    const id = 'abcdef0123456789';
    it('places on the machine with that full ID', () => {
      const m = model([{ name: 'a.service', xfleet: [`MachineID=${id}`] }], ['m1', id]);
      step(m);
      expect(placements(m)).to.deep.equal({ 'a.service': id });
    });
    it('accepts the 8-character short ID', () => {
      const m = model([{ name: 'a.service', xfleet: ['MachineID=abcdef01'] }], ['m1', id]);
      step(m);
      expect(placements(m)).to.deep.equal({ 'a.service': id });
    });
    it('says no machine matches when none does', () => {
      const m = model([{ name: 'a.service', xfleet: ['MachineID=nothere1'] }], ['m1', 'm2']);
      expect(reasonsOf(step(m), 'a.service')).to.deep.equal(['no machine matches MachineID=nothere1']);
    });
  });

  describe('MachineMetadata', () => {
    const machines: { id: string; metadata: Record<string, string> }[] = [
      { id: 'm1', metadata: { region: 'us', disk: 'ssd' } },
      { id: 'm2', metadata: { region: 'eu', disk: 'hdd' } },
      { id: 'm3', metadata: { region: 'eu', disk: 'ssd' } },
      { id: 'm4', metadata: { region: 'ap' } },
    ];
    it('repeated values of a key are OR, different keys are AND', () => {
      const m = model(
        [
          { name: 'or.service', xfleet: ['MachineMetadata=region=ap', 'MachineMetadata=region=us'] },
          { name: 'and.service', xfleet: ['MachineMetadata=region=eu', 'MachineMetadata=disk=ssd'] },
        ],
        machines,
      );
      step(m);
      expect(placements(m)).to.deep.equal({ 'and.service': 'm3', 'or.service': 'm1' });
    });
    it('!= excludes a value (beyond fleet)', () => {
      const m = model(
        [{ name: 'a.service', xfleet: ['MachineMetadata=region!=us', 'MachineMetadata=disk=ssd'] }],
        machines,
      );
      step(m);
      expect(placements(m)).to.deep.equal({ 'a.service': 'm3' });
    });
    it('picks the least-loaded machine among those that fit', () => {
      const m = model(['x.service', { name: 'a.service', xfleet: ['MachineMetadata=region=eu'] }], machines, {
        'x.service': 'm2',
      });
      step(m);
      expect(placements(m)['a.service']).to.equal('m3');
    });
    it('explains a requirement no machine meets', () => {
      const m = model([{ name: 'a.service', xfleet: ['MachineMetadata=region=eu-west'] }], machines);
      expect(reasonsOf(step(m), 'a.service')).to.deep.equal(['no machine has region=eu-west']);
    });
    it('explains several rules at once', () => {
      const m = model(
        ['web1.service', { name: 'b.service', xfleet: ['MachineMetadata=region=eu', 'Conflicts=web*'] }],
        machines,
        { 'web1.service': 'm2' },
      );
      m.putUnit({ ...m.units.get('web1.service')! });
      const reader = new UnitReader();
      const body = unitBody({ name: 'web2.service' });
      m.putUnit(
        reader.read({
          name: 'web2.service',
          body,
          hash: 'w2',
          desiredState: 'launched',
        }),
      );
      m.putAssignment({ unit: 'web2.service', machineId: 'm3', hash: 'w2', desiredState: 'launched' });
      expect(reasonsOf(step(m), 'b.service')).to.deep.equal([
        '2 machines excluded by Conflicts=web*',
        '2 machines lack region=eu',
      ]);
    });
  });

  describe('MachineOf', () => {
    it('follows its target', () => {
      const m = model(
        ['a.service', 'x.service', { name: 'b.service', xfleet: ['MachineOf=a.service'] }],
        ['m1', 'm2'],
      );
      step(m);
      expect(placements(m)['b.service']).to.equal(placements(m)['a.service']);
    });
    it('waits while the target is not placed', () => {
      const m = model(
        [
          { name: 'a.service', state: 'inactive' },
          { name: 'b.service', xfleet: ['MachineOf=a.service'] },
        ],
        ['m1'],
      );
      const p = step(m);
      expect(placements(m)).to.deep.equal({});
      expect(reasonsOf(p, 'b.service')).to.deep.equal([
        'waiting for a.service (MachineOf), which is inactive',
      ]);
    });
    it('resolves a chain in one pass, whatever the name order', () => {
      const m = model(
        [
          { name: 'a.service', xfleet: ['MachineOf=b.service'] },
          { name: 'b.service', xfleet: ['MachineOf=c.service'] },
          'c.service',
          'z.service',
        ],
        ['m1', 'm2'],
        { 'z.service': 'm1' },
      );
      step(m);
      expect(placements(m)).to.deep.include({ 'a.service': 'm2', 'b.service': 'm2', 'c.service': 'm2' });
    });
    it('moves followers with their target when the target moves', () => {
      const m = model(
        [
          { name: 'a.service', xfleet: ['MachineMetadata=ok=yes'] },
          { name: 'b.service', xfleet: ['MachineOf=a.service'] },
        ],
        [
          { id: 'm1', metadata: { ok: 'no' } },
          { id: 'm2', metadata: { ok: 'yes' } },
        ],
        { 'a.service': 'm1', 'b.service': 'm1' },
      );
      step(m);
      expect(placements(m)).to.deep.equal({ 'a.service': 'm2', 'b.service': 'm2' });
    });
    it('refuses to follow to a machine the follower cannot use', () => {
      const m = model(
        ['a.service', { name: 'b.service', xfleet: ['MachineOf=a.service', 'MachineMetadata=x=y'] }],
        ['m1'],
      );
      const p = step(m);
      expect(reasonsOf(p, 'b.service')[0]).to.match(/cannot follow a.service to machine m1/);
    });
  });

  describe('Conflicts', () => {
    it('keeps conflicting units apart, globs checked both ways', () => {
      const m = model(
        [
          { name: 'web1.service', xfleet: ['Conflicts=web*.service'] },
          'web2.service',
          { name: 'db.service', xfleet: ['Conflicts=other*'] },
        ],
        ['m1', 'm2'],
      );
      step(m);
      const p = placements(m);
      expect(p['web1.service']).to.not.equal(p['web2.service']);
    });
    it('the reverse direction: an existing unit conflicts with the newcomer', () => {
      const m = model([{ name: 'a.service', xfleet: ['Conflicts=b.*'] }, 'b.service'], ['m1', 'm2'], {
        'a.service': 'm1',
      });
      step(m);
      expect(placements(m)['b.service']).to.equal('m2');
    });
    it('explains how many machines a conflict excludes', () => {
      const m = model(
        ['web1.service', 'web2.service', { name: 'x.service', xfleet: ['Conflicts=web*'] }],
        ['m1', 'm2'],
        { 'web1.service': 'm1', 'web2.service': 'm2' },
      );
      expect(reasonsOf(step(m), 'x.service')).to.deep.equal(['2 machines excluded by Conflicts=web*']);
    });
  });

  describe('Replaces', () => {
    it('moves the replaced unit to the least-loaded other machine', () => {
      const m = model(
        ['old.service', 'x.service', 'y.service', { name: 'new.service', xfleet: ['Replaces=old.service'] }],
        ['m1', 'm2', 'm3'],
        { 'old.service': 'm1', 'x.service': 'm2', 'y.service': 'm2' },
      );
      const p = step(m);
      // new goes to the least-loaded machine, m3 (0)? No: m3 has 0, m1 has 1: m3.
      expect(placements(m)['new.service']).to.equal('m3');
      expect(p.decisions).to.have.length(1);
    });
    it('displaces the replaced unit from the machine it takes', () => {
      const m = model(
        ['old.service', 'x.service', { name: 'new.service', xfleet: ['Replaces=old.service'] }],
        ['m1', 'm2', 'm3'],
        { 'old.service': 'm1', 'x.service': 'm2' },
      );
      m.putUnit({ ...m.units.get('x.service')! });
      // m3 gets a unit too, so m1 (old) is the least loaded with m2/m3 at 1: tie by ID -> m1.
      const reader = new UnitReader();
      const body = unitBody({ name: 'z.service' });
      m.putUnit(reader.read({ name: 'z.service', body, hash: 'z', desiredState: 'launched' }));
      m.putAssignment({ unit: 'z.service', machineId: 'm3', hash: 'z', desiredState: 'launched' });
      const p = step(m);
      expect(placements(m)['new.service']).to.equal('m1');
      expect(placements(m)['old.service']).to.equal('m2');
      expect(p.decisions.find((d) => d.type === 'unplace')!.reason).to.match(/replaced by new.service/);
    });
    it('never places a unit where a unit that replaces it runs', () => {
      const m = model(
        [{ name: 'new.service', xfleet: ['Replaces=old.service'] }, 'old.service'],
        ['m1', 'm2'],
        { 'new.service': 'm1' },
      );
      step(m);
      expect(placements(m)['old.service']).to.equal('m2');
    });
    it('ignores two units that replace each other (fleet)', () => {
      const m = model(
        [
          { name: 'a.service', xfleet: ['Replaces=b.service'] },
          { name: 'b.service', xfleet: ['Replaces=a.service'] },
        ],
        ['m1'],
      );
      step(m);
      expect(placements(m)).to.deep.equal({ 'a.service': 'm1', 'b.service': 'm1' });
    });
  });

  describe('Global', () => {
    const g = { name: 'g.service', xfleet: ['Global=true', 'MachineMetadata=role=worker'] };
    it('one assignment per fitting machine', () => {
      const m = model(
        [g],
        [
          { id: 'm1', metadata: { role: 'worker' } },
          { id: 'm2', metadata: { role: 'db' } },
          { id: 'm3', metadata: { role: 'worker' } },
        ],
      );
      step(m);
      expect(placements(m)).to.deep.equal({ 'g.service': ['m1', 'm3'] });
    });
    it('added when a fitting machine joins, removed when one leaves or stops fitting', () => {
      const m = model(
        [g],
        [
          { id: 'm1', metadata: { role: 'worker' } },
          { id: 'm2', metadata: { role: 'worker' } },
        ],
      );
      step(m);
      m.putMachine({ id: 'm3', metadata: { role: 'worker' }, draining: false });
      m.deleteMachine('m1');
      m.putMachine({ id: 'm2', metadata: { role: 'db' }, draining: false });
      const p = step(m);
      expect(placements(m)).to.deep.equal({ 'g.service': ['m3'] });
      expect(p.decisions.map((d) => `${d.type} ${d.machineId}`)).to.deep.equal([
        'unplace m1',
        'unplace m2',
        'place m3',
      ]);
    });
    it('respects Conflicts on each machine', () => {
      const m = model(
        [{ name: 'g.service', xfleet: ['Global=true', 'Conflicts=x.service'] }, 'x.service'],
        ['m1', 'm2'],
        { 'x.service': 'm1' },
      );
      step(m);
      expect(placements(m)['g.service']).to.deep.equal(['m2']);
    });
    it('explains a global unit placed nowhere', () => {
      const m = model([g], [{ id: 'm1', metadata: {} }]);
      expect(reasonsOf(step(m), 'g.service')).to.deep.equal(['no machine has role=worker']);
    });
  });

  describe('draining (beyond fleet)', () => {
    it('gets nothing new, and its units are re-placed', () => {
      const m = model(
        ['a.service', 'b.service', { name: 'g.service', xfleet: ['Global=true'] }],
        [{ id: 'm1', draining: true }, 'm2'],
        { 'a.service': 'm1', 'g.service': ['m1', 'm2'] },
      );
      const p = step(m);
      expect(placements(m)).to.deep.equal({ 'a.service': 'm2', 'b.service': 'm2', 'g.service': ['m2'] });
      expect(p.decisions.find((d) => d.unit === 'a.service' && d.type === 'unplace')!.reason).to.match(
        /draining/,
      );
    });
    it('explains a unit that only fits a draining machine', () => {
      const m = model(
        [{ name: 'a.service', xfleet: ['MachineMetadata=x=1'] }],
        [{ id: 'm1', metadata: { x: '1' }, draining: true }, 'm2'],
      );
      expect(reasonsOf(step(m), 'a.service')).to.deep.equal(['1 machine draining', '1 machine lacks x=1']);
    });
  });

  describe('socket activation (beyond fleet)', () => {
    it('places a socket and its service on the same machine without MachineOf', () => {
      const m = model(['foo.service', 'foo.socket', 'a.service', 'b.service'], ['m1', 'm2', 'm3'], {
        'a.service': 'm1',
      });
      step(m);
      const p = placements(m);
      expect(p['foo.service']).to.equal(p['foo.socket']);
    });
    it('the socket only goes where its service can run', () => {
      const m = model(
        [{ name: 'foo.service', xfleet: ['MachineMetadata=disk=ssd'] }, 'foo.socket'],
        [{ id: 'm1' }, { id: 'm2', metadata: { disk: 'ssd' } }],
      );
      step(m);
      expect(placements(m)).to.deep.equal({ 'foo.service': 'm2', 'foo.socket': 'm2' });
    });
    it('Service= names the activated unit', () => {
      const m = model(
        [
          { name: 'foo.socket', extra: '[Socket]\nService=bar.service' },
          'bar.service',
          'foo.service',
          'x.service',
        ],
        ['m1', 'm2'],
        { 'x.service': 'm1' },
      );
      step(m);
      const p = placements(m);
      expect(p['bar.service']).to.equal(p['foo.socket']);
    });
    it('Accept=yes: the instances of foo@.service follow foo.socket', () => {
      const m = model(
        [
          { name: 'foo.socket', extra: '[Socket]\nAccept=yes' },
          'foo@1.service',
          'foo@2.service',
          'x.service',
        ],
        ['m1', 'm2'],
        { 'x.service': 'm1' },
      );
      step(m);
      const p = placements(m);
      expect([p['foo@1.service'], p['foo@2.service']]).to.deep.equal([p['foo.socket'], p['foo.socket']]);
    });
    it('moves a service already placed elsewhere to its socket', () => {
      const m = model(['foo.service', 'foo.socket'], ['m1', 'm2'], {
        'foo.service': 'm1',
        'foo.socket': 'm2',
      });
      step(m);
      const p = placements(m);
      expect(p['foo.service']).to.equal(p['foo.socket']);
    });
  });

  describe("fleet's refused combinations and invalid units", () => {
    it('never places a unit whose [X-Fleet] combination fleet refuses, and says why', () => {
      const m = model(
        [{ name: 'a.service', xfleet: ['Global=true', 'MachineOf=b.service'] }, 'b.service'],
        ['m1'],
      );
      const p = step(m);
      expect(placements(m)).to.deep.equal({ 'b.service': 'm1' });
      expect(reasonsOf(p, 'a.service')[0]).to.match(/invalid/);
    });
  });
});
