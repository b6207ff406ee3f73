import { expect } from 'chai';
import type { UnitOption } from '../../units/types.js';
import { ProblemCode } from '../../units/problems.js';
import { isTruthy, readXFleet, splitMultiValue } from '../../units/x-fleet.js';

/** [X-Fleet] options from `Name=Value` strings; line numbers start at 10. */
function xf(...assignments: string[]): UnitOption[] {
  return assignments.map((a, i) => {
    const eq = a.indexOf('=');
    return { section: 'X-Fleet', name: a.slice(0, eq), value: a.slice(eq + 1), line: 10 + i };
  });
}

const ID = '0123456789abcdef0123456789abcdef';

describe('units/x-fleet', () => {
  describe("fleet's quoted multi-value lines", () => {
    const table: Array<[string, string[]]> = [
      ['a=b', ['a=b']],
      ['"a=b" "c=d"', ['a=b', 'c=d']],
      ['"a=b"  "c=d"', ['a=b', 'c=d']],
      ['"a b" "c"', ['a b', 'c']],
      ['"a=b" c=d', ['"a=b" c=d']],
      ['a=b "c=d"', ['a=b "c=d"']],
      ['"region=us east"', ['region=us east']],
      ['""', []],
    ];
    for (const [value, items] of table) {
      it(`${value} -> ${JSON.stringify(items)}`, () => {
        expect(splitMultiValue(value)).to.deep.equal(items);
      });
    }
  });

  it('no [X-Fleet] section: no requirements, no problems', () => {
    const r = readXFleet(
      [{ section: 'Service', name: 'ExecStart', value: '/bin/true', line: 2 }],
      'a.service',
    );
    expect(r.requirements).to.deep.equal({
      global: false,
      machineId: null,
      machineOf: [],
      conflicts: [],
      replaces: [],
      machineMetadata: {},
      machineMetadataNot: {},
    });
    expect(r.errors).to.deep.equal([]);
    expect(r.warnings).to.deep.equal([]);
  });

  describe('MachineID', () => {
    it('full and short IDs', () => {
      expect(readXFleet(xf(`MachineID=${ID}`), 'a.service').requirements.machineId).to.equal(ID);
      const short = readXFleet(xf('MachineID=01234567'), 'a.service');
      expect(short.requirements.machineId).to.equal('01234567');
      expect(short.warnings).to.deep.equal([]);
    });
    it('the first value wins, MachineID before X-ConditionMachineID before X-ConditionMachineBootID', () => {
      const r = readXFleet(
        xf(
          'X-ConditionMachineBootID=cccccccc',
          'X-ConditionMachineID=bbbbbbbb',
          'MachineID=aaaaaaaa',
          'MachineID=dddddddd',
        ),
        'a.service',
      );
      expect(r.requirements.machineId).to.equal('aaaaaaaa');
      expect(r.errors).to.deep.equal([]);
      const ignored = r.warnings.filter((w) => w.code === ProblemCode.Value).map((w) => w.line);
      expect(ignored).to.have.members([10, 11, 13]);
      const legacy = r.warnings.filter((w) => w.code === ProblemCode.DeprecatedOption).map((w) => w.line);
      expect(legacy).to.deep.equal([10, 11]);
    });
    it('legacy X-ConditionMachineID alone', () => {
      const r = readXFleet(xf(`X-ConditionMachineID=${ID}`), 'a.service');
      expect(r.requirements.machineId).to.equal(ID);
      expect(r.warnings[0]?.message).to.match(/deprecated.*use MachineID=/);
    });
    it('warns about a value that does not look like a machine ID', () => {
      const r = readXFleet(xf('MachineID=web-1'), 'a.service');
      expect(r.requirements.machineId).to.equal('web-1');
      expect(r.warnings[0]?.message).to.match(/does not look like a machine ID/);
    });
    it('expands specifiers', () => {
      expect(readXFleet(xf('MachineID=%i'), `pin@${ID}.service`).requirements.machineId).to.equal(ID);
    });
  });

  describe('MachineOf, Conflicts, Replaces', () => {
    it('collects lists, legacy names first (as fleet), without duplicates', () => {
      const r = readXFleet(
        xf(
          'MachineOf=b.service',
          'X-ConditionMachineOf=a.service',
          'Conflicts=web*',
          'X-Conflicts=old*',
          'Conflicts="x.service" "y.service"',
          'Conflicts=web*',
        ),
        'me.service',
      );
      expect(r.requirements.machineOf).to.deep.equal(['a.service', 'b.service']);
      expect(r.requirements.conflicts).to.deep.equal(['old*', 'web*', 'x.service', 'y.service']);
      expect(r.errors).to.deep.equal([]);
      expect(r.warnings.map((w) => w.code)).to.deep.equal([
        ProblemCode.DeprecatedOption,
        ProblemCode.DeprecatedOption,
      ]);
    });
    it('expands %n %N %p %i for instances', () => {
      const r = readXFleet(
        xf('MachineOf=%p@%i.socket', 'Conflicts=%p@*.service', 'Replaces=old-%N.service', 'Replaces=%n.bak'),
        'web@8080.service',
      );
      expect(r.requirements.machineOf).to.deep.equal(['web@8080.socket']);
      expect(r.requirements.conflicts).to.deep.equal(['web@*.service']);
      expect(r.requirements.replaces).to.deep.equal(['old-web@8080.service', 'web@8080.service.bak']);
    });
    it('leaves specifiers as written for templates and for unknown names', () => {
      for (const name of ['web@.service', null, 'not-a-unit']) {
        const r = readXFleet(xf('MachineOf=%p@%i.socket'), name);
        expect(r.requirements.machineOf).to.deep.equal(['%p@%i.socket']);
      }
    });
    it('warns about unsupported specifiers and keeps them', () => {
      const r = readXFleet(xf('Conflicts=%H-*'), 'a.service');
      expect(r.requirements.conflicts).to.deep.equal(['%H-*']);
      expect(r.warnings).to.have.length(1);
      expect(r.warnings[0]).to.include({ code: ProblemCode.Specifier, line: 10 });
      expect(r.warnings[0]?.message).to.match(/%H in Conflicts= is not expanded/);
    });
    it('refuses a MachineOf that can never exist: not a unit name, or a template', () => {
      const r = readXFleet(xf('MachineOf=db', 'MachineOf=web@.service', 'MachineOf=ok.service'), 'a.service');
      expect(r.errors.map((e) => [e.code, e.line])).to.deep.equal([
        [ProblemCode.Unresolvable, 10],
        [ProblemCode.Unresolvable, 11],
      ]);
      expect(r.errors[0]?.message).to.match(/MachineOf=db is not a valid unit name \(it has no type suffix/);
      expect(r.errors[1]?.message).to.match(
        /is a template, and templates never run; name an instance such as web@1.service/,
      );
    });
    it('warns about a Conflicts/Replaces without wildcards that is not a unit name', () => {
      const r = readXFleet(xf('Conflicts=web', 'Replaces=old', 'Conflicts=web*'), 'a.service');
      expect(r.warnings.map((w) => [w.code, w.line])).to.deep.equal([
        [ProblemCode.Value, 10],
        [ProblemCode.Value, 11],
      ]);
      expect(r.warnings[0]?.message).to.match(/did you mean web.service or web\*\?/);
    });
    it('warns about unsupported specifiers in templates too', () => {
      const r = readXFleet(xf('Conflicts=%p-%H-*'), 'web@.service');
      expect(r.requirements.conflicts).to.deep.equal(['%p-%H-*']);
      expect(r.warnings.map((w) => w.code)).to.deep.equal([ProblemCode.Specifier]);
    });
    it('warns about a bad glob', () => {
      const r = readXFleet(xf('Conflicts=web[', 'Replaces=[]'), 'a.service');
      expect(r.warnings.map((w) => [w.code, w.line])).to.deep.equal([
        [ProblemCode.BadGlob, 10],
        [ProblemCode.BadGlob, 11],
      ]);
      expect(r.warnings[0]?.message).to.match(/not a valid glob.*matches no unit/);
    });
    it('warns about and ignores empty values', () => {
      const r = readXFleet(xf('Conflicts=', 'MachineOf=', 'MachineID='), 'a.service');
      expect(r.requirements.conflicts).to.deep.equal([]);
      expect(r.requirements.machineOf).to.deep.equal([]);
      expect(r.requirements.machineId).to.equal(null);
      expect(r.warnings.map((w) => w.code)).to.deep.equal([
        ProblemCode.EmptyValue,
        ProblemCode.EmptyValue,
        ProblemCode.EmptyValue,
      ]);
    });
  });

  describe('Global', () => {
    for (const v of ['true', 'TRUE', 'yes', 'Yes', '1', 'on', 't', 'T']) {
      it(`Global=${v} is true`, () => {
        expect(isTruthy(v)).to.equal(true);
        expect(readXFleet(xf(`Global=${v}`), 'a.service').requirements.global).to.equal(true);
      });
    }
    for (const v of ['false', 'no', '0', 'off', 'f', '']) {
      it(`Global=${v} is false, silently`, () => {
        const r = readXFleet(xf(`Global=${v}`), 'a.service');
        expect(r.requirements.global).to.equal(false);
        expect(r.warnings).to.deep.equal([]);
      });
    }
    it('an unknown value is false with a warning', () => {
      const r = readXFleet(xf('Global=maybe'), 'a.service');
      expect(r.requirements.global).to.equal(false);
      expect(r.warnings[0]?.message).to.match(/Global=maybe is not a boolean; fleet reads it as false/);
    });
    it('the last value wins', () => {
      expect(readXFleet(xf('Global=true', 'Global=false'), 'a.service').requirements.global).to.equal(false);
      expect(readXFleet(xf('Global=no', 'Global=yes'), 'a.service').requirements.global).to.equal(true);
      expect(readXFleet(xf('Global=true', 'Global='), 'a.service').requirements.global).to.equal(false);
      expect(readXFleet(xf('Global="true"'), 'a.service').requirements.global).to.equal(true);
    });
  });

  describe('MachineMetadata', () => {
    it('repeated key = OR, different keys = AND; quoted pairs', () => {
      const r = readXFleet(
        xf(
          'MachineMetadata="region=us-east-1" "disk=ssd"',
          'MachineMetadata=region=us-west-1',
          'X-ConditionMachineMetadata=role=web',
        ),
        'a.service',
      );
      expect(r.requirements.machineMetadata).to.deep.equal({
        role: ['web'],
        region: ['us-east-1', 'us-west-1'],
        disk: ['ssd'],
      });
      expect(r.requirements.machineMetadataNot).to.deep.equal({});
    });
    it('key!=value goes to machineMetadataNot', () => {
      const r = readXFleet(
        xf('MachineMetadata=region!=eu-1', 'MachineMetadata="role=web" "region!=eu-2"'),
        'a.service',
      );
      expect(r.requirements.machineMetadata).to.deep.equal({ role: ['web'] });
      expect(r.requirements.machineMetadataNot).to.deep.equal({ region: ['eu-1', 'eu-2'] });
      expect(r.errors).to.deep.equal([]);
      expect(r.warnings).to.deep.equal([]);
    });
    const malformed = ['novalue', 'a=b=c', '=v', 'k=', '!=v', 'k!=', 'a!=b=c', '"=x" "good=1"'];
    for (const pair of malformed) {
      it(`malformed ${pair} is ignored with a warning`, () => {
        const r = readXFleet(xf(`MachineMetadata=${pair}`), 'a.service');
        expect(r.errors).to.deep.equal([]);
        expect(r.warnings).to.have.length(1);
        expect(r.warnings[0]).to.include({ code: ProblemCode.MetadataPair, line: 10 });
        expect(r.warnings[0]?.message).to.match(/is ignored/);
        expect(r.requirements.machineMetadata).to.deep.equal(pair.includes('good') ? { good: ['1'] } : {});
      });
    }
    it('hints at quoting when several pairs share one unquoted value', () => {
      const r = readXFleet(xf('MachineMetadata=region=eu disk=ssd'), 'a.service');
      expect(r.warnings[0]?.message).to.match(/quote each one: "a=b" "c=d"/);
      expect(r.requirements.machineMetadata).to.deep.equal({});
    });
    it('warns about blanks around a key or value (fleet compares them as written)', () => {
      const r = readXFleet(xf('MachineMetadata="region =eu"'), 'a.service');
      expect(r.requirements.machineMetadata).to.deep.equal({ 'region ': ['eu'] });
      expect(r.warnings[0]?.message).to.match(/blanks around its key or value/);
    });
    it('key=v and key!=v together are unresolvable', () => {
      const r = readXFleet(xf('MachineMetadata=region=a', 'MachineMetadata=region!=a'), 'a.service');
      expect(r.errors).to.have.length(1);
      expect(r.errors[0]).to.include({ code: ProblemCode.Unresolvable, line: 11 });
    });
    it('a metadata key named __proto__ is an ordinary key', () => {
      const r = readXFleet(xf('MachineMetadata=__proto__=x'), 'a.service');
      expect(Object.keys(r.requirements.machineMetadata)).to.deep.equal(['__proto__']);
      expect(JSON.parse(JSON.stringify(r.requirements.machineMetadata))).to.deep.equal(
        JSON.parse('{"__proto__":["x"]}'),
      );
    });
  });

  describe('unknown options and sections', () => {
    it('refuses an option fleet does not know', () => {
      const r = readXFleet(xf('Weight=2', 'machineid=x'), 'a.service');
      expect(r.errors.map((e) => [e.code, e.line])).to.deep.equal([
        [ProblemCode.UnknownOption, 10],
        [ProblemCode.UnknownOption, 11],
      ]);
      expect(r.errors[0]?.message).to.match(/unrecognized option "Weight" in \[X-Fleet\]/);
    });
    it('refuses option names inherited from Object.prototype', () => {
      const r = readXFleet(xf('constructor=x', 'toString=y'), 'a.service');
      expect(r.errors.map((e) => e.code)).to.deep.equal([
        ProblemCode.UnknownOption,
        ProblemCode.UnknownOption,
      ]);
    });
    it('warns once about a section spelled [X-fleet]', () => {
      const opts: UnitOption[] = [
        { section: 'x-fleet', name: 'Global', value: 'true', line: 3 },
        { section: 'x-fleet', name: 'Conflicts', value: 'a*', line: 4 },
      ];
      const r = readXFleet(opts, 'a.service');
      expect(r.requirements.global).to.equal(false);
      expect(r.warnings).to.have.length(1);
      expect(r.warnings[0]?.message).to.match(/case-sensitive/);
    });
  });

  describe("fleet's refusal rules", () => {
    const rules: Array<[string, string[], RegExp, number]> = [
      [
        'MachineID + MachineOf',
        [`MachineID=${ID}`, 'MachineOf=b.service'],
        /MachineID cannot be used with MachineOf/,
        11,
      ],
      [
        'MachineID + Conflicts',
        [`MachineID=${ID}`, 'Conflicts=b*'],
        /MachineID cannot be used with Conflicts/,
        11,
      ],
      ['MachineID + Global', [`MachineID=${ID}`, 'Global=true'], /MachineID cannot be used with Global/, 11],
      [
        'MachineID + Replaces',
        [`MachineID=${ID}`, 'Replaces=b.service'],
        /MachineID cannot be used with Replaces/,
        11,
      ],
      [
        'legacy X-ConditionMachineID + X-Conflicts',
        [`X-ConditionMachineID=${ID}`, 'X-Conflicts=b*'],
        /MachineID cannot be used with Conflicts/,
        11,
      ],
      [
        'Global + MachineOf',
        ['Global=true', 'MachineOf=b.service'],
        /Global cannot be used with MachineOf/,
        11,
      ],
      ['Global + Replaces', ['Global=yes', 'Replaces=b.service'], /Global cannot be used with Replaces/, 11],
      [
        'Conflicts + Replaces',
        ['Conflicts=c*', 'Replaces=b.service'],
        /Conflicts cannot be used with Replaces/,
        11,
      ],
      [
        'MachineOf matched by own Conflicts',
        ['MachineOf=db.service', 'Conflicts=d*'],
        /unresolvable requirements: MachineOf=db.service is matched by Conflicts=d\*/,
        10,
      ],
      [
        'MachineOf matched by own Replaces',
        ['MachineOf=db.service', 'Replaces=db.service'],
        /unresolvable requirements: MachineOf=db.service is matched by Replaces=db.service/,
        10,
      ],
      ['MachineOf itself', ['MachineOf=%n'], /names this unit itself/, 10],
    ];
    for (const [title, assignments, why, line] of rules) {
      it(`refuses ${title}`, () => {
        const r = readXFleet(xf(...assignments), 'a.service');
        const matching = r.errors.filter((e) => why.test(e.message));
        expect(matching, JSON.stringify(r.errors)).to.have.length(1);
        expect(matching[0]?.line).to.equal(line);
        expect(matching[0]?.message).to.match(/: \S.*/); // a reason follows
      });
    }

    const allowed: Array<[string, string[]]> = [
      ['Global + Conflicts (fleet >= 0.13)', ['Global=true', 'Conflicts=b*']],
      ['Global + MachineMetadata', ['Global=true', 'MachineMetadata=role=web']],
      ['MachineID + MachineMetadata', [`MachineID=${ID}`, 'MachineMetadata=role=web']],
      ['Global=false + MachineOf', ['Global=false', 'MachineOf=b.service']],
      ['MachineOf + Conflicts that do not match it', ['MachineOf=db.service', 'Conflicts=web*']],
      ['MachineOf + Replaces that do not match it', ['MachineOf=db.service', 'Replaces=old.service']],
      ['Conflicts matching the unit itself', ['Conflicts=a*']],
    ];
    for (const [title, assignments] of allowed) {
      it(`allows ${title}`, () => {
        expect(readXFleet(xf(...assignments), 'a.service').errors).to.deep.equal([]);
      });
    }

    it('reports every refusal, not only the first', () => {
      const r = readXFleet(
        xf(`MachineID=${ID}`, 'Global=true', 'MachineOf=b.service', 'Replaces=b*'),
        'a.service',
      );
      expect(r.errors.length).to.equal(6); // MachineOf~Replaces, ID+Of, ID+Global, ID+Replaces, Global+Of, Global+Replaces
    });

    it('checks MachineOf against Conflicts after expanding specifiers', () => {
      const r = readXFleet(xf('MachineOf=%p.socket', 'Conflicts=web.*'), 'web.service');
      expect(r.errors.map((e) => e.code)).to.deep.equal([ProblemCode.Unresolvable]);
    });
  });
});
