import { expect } from 'chai';
import { metadataMatches, parseMetadataPair } from '../../units/metadata.js';
import { conflictBetween, machineIdMatches, replaceBetween } from '../../units/matchers.js';

describe('units/metadata', () => {
  it('parses pairs', () => {
    expect(parseMetadataPair('region=us-east-1')).to.deep.equal({
      ok: true,
      key: 'region',
      value: 'us-east-1',
      negated: false,
    });
    expect(parseMetadataPair('region!=eu')).to.deep.equal({
      ok: true,
      key: 'region',
      value: 'eu',
      negated: true,
    });
    expect(parseMetadataPair('a=b=c').ok).to.equal(false);
    expect(parseMetadataPair('plain').ok).to.equal(false);
  });

  const req = {
    machineMetadata: { region: ['us-east-1', 'us-west-1'], disk: ['ssd'] },
    machineMetadataNot: { rack: ['r1', 'r2'] },
  };
  const table: Array<[string, Record<string, string>, RegExp | null]> = [
    ['all keys match (OR within region)', { region: 'us-west-1', disk: 'ssd' }, null],
    ['extra machine metadata is fine', { region: 'us-east-1', disk: 'ssd', rack: 'r9', os: 'x' }, null],
    [
      'a missing key fails (AND across keys)',
      { region: 'us-east-1' },
      /machine has no metadata "disk" \(unit needs "ssd"\)/,
    ],
    [
      'a wrong value fails',
      { region: 'eu-1', disk: 'ssd' },
      /region="eu-1" is not "us-east-1" or "us-west-1"/,
    ],
    [
      'an excluded value fails',
      { region: 'us-east-1', disk: 'ssd', rack: 'r2' },
      /rack="r2" is excluded by rack!=r2/,
    ],
    ['values compare exactly (case)', { region: 'US-EAST-1', disk: 'ssd' }, /is not/],
  ];
  for (const [title, metadata, why] of table) {
    it(title, () => {
      const verdict = metadataMatches(req, metadata);
      if (why === null) expect(verdict).to.deep.equal({ ok: true });
      else {
        expect(verdict.ok).to.equal(false);
        expect(verdict.ok ? '' : verdict.reason).to.match(why);
      }
    });
  }
  it('no requirements: every machine fits, even one without metadata', () => {
    expect(metadataMatches({ machineMetadata: {}, machineMetadataNot: {} }, {})).to.deep.equal({ ok: true });
  });
  it('only != requirements: a machine without the key fits', () => {
    const only = { machineMetadata: {}, machineMetadataNot: { role: ['db'] } };
    expect(metadataMatches(only, {}).ok).to.equal(true);
    expect(metadataMatches(only, { role: 'web' }).ok).to.equal(true);
    expect(metadataMatches(only, { role: 'db' }).ok).to.equal(false);
  });
  it('does not look up inherited properties of the machine metadata', () => {
    const verdict = metadataMatches({ machineMetadata: { toString: ['x'] }, machineMetadataNot: {} }, {});
    expect(verdict.ok).to.equal(false);
  });
});

describe('units/matchers', () => {
  it('conflicts are checked both ways, never against the unit itself', () => {
    const web = { name: 'web@1.service', conflicts: ['web@*.service'] };
    const web2 = { name: 'web@2.service', conflicts: [] };
    const db = { name: 'db.service', conflicts: [] };
    expect(conflictBetween(web, web2)).to.equal(
      'web@1.service conflicts with web@2.service (Conflicts=web@*.service)',
    );
    expect(conflictBetween(web2, web)).to.equal(
      'web@1.service conflicts with web@2.service (Conflicts=web@*.service)',
    );
    expect(conflictBetween(web, db)).to.equal(null);
    expect(conflictBetween(web, { ...web })).to.equal(null);
  });
  it('replaces: one way displaces, both ways is ignored (as fleet)', () => {
    const master = { name: 'master.service', conflicts: [], replaces: ['shadow.service'] };
    const shadow = { name: 'shadow.service', conflicts: [], replaces: [] };
    expect(replaceBetween(master, shadow)).to.deep.equal({
      displaces: 'shadow.service',
      reason: 'master.service replaces shadow.service (Replaces=shadow.service)',
    });
    expect(replaceBetween(shadow, master)?.displaces).to.equal('shadow.service');
    const circular = { ...shadow, replaces: ['master*'] };
    expect(replaceBetween(master, circular)).to.equal(null);
    expect(replaceBetween(master, { name: 'other.service', conflicts: [] })).to.equal(null);
  });
  it('machine IDs: full or 8-character short form', () => {
    const id = '0123456789abcdef0123456789abcdef';
    expect(machineIdMatches(id, id)).to.equal(true);
    expect(machineIdMatches('01234567', id)).to.equal(true);
    expect(machineIdMatches('0123456', id)).to.equal(false);
    expect(machineIdMatches('012345678', id)).to.equal(false);
    expect(machineIdMatches('ffffffff', id)).to.equal(false);
  });
});
