/** lib/apply's planner (pure): tables and properties. */
import { expect } from 'chai';
import fc from 'fast-check';
import { planApply, type ApplyAction, type ClusterUnit } from '../../lib/apply/plan.js';
import type { SourceFile, SourceUnit } from '../../lib/apply/source-file.js';

const ME = 'dir:host:/srv/units';
const OTHER = 'fleetd:m1:/etc/fleet/units.d';

const file = (
  name: string,
  hash = 'h1',
  desiredState: SourceUnit['desiredState'] = 'launched',
): SourceUnit => ({
  kind: 'unit',
  path: `/srv/units/${name}`,
  name,
  body: `body-${hash}`,
  hash,
  desiredState,
});
/** NONE: a unit with no source (submitted by hand). */
const NONE = null;
const unit = (
  name: string,
  hash = 'h1',
  source: string | null = ME,
  desiredState: ClusterUnit['desiredState'] = 'launched',
): ClusterUnit => ({ name, hash, desiredState, source: source ?? undefined });

const brief = (actions: ApplyAction[]) => actions.map((a) => `${a.type} ${a.name ?? a.type}`);

describe('apply planner (pure)', () => {
  const cases: [string, SourceFile[], ClusterUnit[], boolean, string[]][] = [
    ['new file: create', [file('a.service')], [], false, ['create a.service']],
    [
      'same file and state: unchanged',
      [file('a.service')],
      [unit('a.service')],
      false,
      ['unchanged a.service'],
    ],
    ['changed file: replace', [file('a.service', 'h2')], [unit('a.service')], false, ['replace a.service']],
    [
      'only the declared state changed: configure',
      [file('a.service', 'h1', 'loaded')],
      [unit('a.service')],
      false,
      ['configure a.service'],
    ],
    [
      'owned by another source: conflict',
      [file('a.service', 'h2')],
      [unit('a.service', 'h1', OTHER)],
      false,
      ['conflict a.service'],
    ],
    [
      'submitted by hand (no source): conflict',
      [file('a.service')],
      [unit('a.service', 'h1', NONE)],
      false,
      ['conflict a.service'],
    ],
    ['file gone, no prune: nothing', [], [unit('old.service')], false, []],
    ['file gone, prune: prune', [], [unit('old.service')], true, ['prune old.service']],
    [
      'prune never touches another source',
      [],
      [unit('x.service', 'h', OTHER), unit('y.service', 'h', NONE)],
      true,
      [],
    ],
    [
      'a skipped file protects its unit from pruning',
      [{ kind: 'skipped', path: '/srv/units/a.service', name: 'a.service', reason: 'permission denied' }],
      [unit('a.service')],
      true,
      ['skipped a.service'],
    ],
    [
      'instances are replaced with their template named (rolled)',
      [file('web@1.service', 'h2'), file('web@2.service', 'h2')],
      [unit('web@1.service'), unit('web@2.service')],
      false,
      ['replace web@1.service', 'replace web@2.service'],
    ],
  ];
  for (const [what, files, cluster, prune, expected] of cases) {
    it(what, () => {
      expect(brief(planApply(files, cluster, ME, { prune }))).to.deep.equal(expected);
    });
  }

  it('a unit whose key holds an invalid value is a conflict, never overwritten or pruned', () => {
    const bad: ClusterUnit = {
      name: 'a.service',
      hash: '',
      desiredState: 'inactive',
      source: ME,
      invalid: 'not JSON',
    };
    const p = planApply([file('a.service')], [bad], ME, { prune: true });
    expect(p).to.have.length(1);
    expect(p[0]).to.include({ type: 'conflict', invalid: 'not JSON' });
    expect(planApply([], [bad], ME, { prune: true })).to.deep.equal([]);
  });

  it('names the template of a replaced instance, and the owner in a conflict', () => {
    const p = planApply(
      [file('web@1.service', 'h2'), file('a.service')],
      [unit('web@1.service'), unit('a.service', 'h1', OTHER)],
      ME,
      { prune: false },
    );
    expect(p.find((a) => a.name === 'web@1.service')).to.include({
      type: 'replace',
      template: 'web@.service',
    });
    expect(p.find((a) => a.name === 'a.service')).to.include({ type: 'conflict', owner: OTHER });
  });

  // ---------------------------------------------------------------- properties

  const names = fc.constantFrom(
    'a.service',
    'b.service',
    'c.socket',
    'web@1.service',
    'web@2.service',
    'web@.service',
  );
  const state = fc.constantFrom('inactive' as const, 'loaded' as const, 'launched' as const);
  const hash = fc.constantFrom('h1', 'h2');
  const sources = fc.constantFrom<string | null>(ME, OTHER, NONE);
  const filesArb = fc
    .uniqueArray(fc.tuple(names, hash, state), { selector: (t) => t[0] })
    .map((l) => l.map(([n, h, s]) => file(n, h, s)));
  const clusterArb = fc
    .uniqueArray(fc.tuple(names, hash, sources, state), { selector: (t) => t[0] })
    .map((l) => l.map(([n, h, src, s]) => unit(n, h, src, s)));

  it('never changes a unit owned by another source or by no source', () => {
    fc.assert(
      fc.property(filesArb, clusterArb, fc.boolean(), (files, cluster, prune) => {
        const foreign = new Set(cluster.filter((u) => u.source !== ME).map((u) => u.name));
        for (const a of planApply(files, cluster, ME, { prune })) {
          if (a.name !== undefined && foreign.has(a.name)) expect(a.type).to.equal('conflict');
        }
      }),
    );
  });

  it('one action per file, and prunes only its own units without a file', () => {
    fc.assert(
      fc.property(filesArb, clusterArb, fc.boolean(), (files, cluster, prune) => {
        const plan = planApply(files, cluster, ME, { prune });
        const perFile = plan.filter((a) => a.type !== 'prune').map((a) => a.name);
        expect(perFile.sort()).to.deep.equal(files.map((f) => f.name).sort());
        const fileNames = new Set(files.map((f) => f.name));
        const pruned = plan.filter((a) => a.type === 'prune').map((a) => a.name);
        const expected = prune
          ? cluster.filter((u) => u.source === ME && !fileNames.has(u.name)).map((u) => u.name)
          : [];
        expect(pruned.sort()).to.deep.equal(expected.sort());
      }),
    );
  });

  it('is idempotent: after carrying out a plan, the next plan changes nothing', () => {
    fc.assert(
      fc.property(filesArb, clusterArb, fc.boolean(), (files, cluster, prune) => {
        const after = new Map(cluster.map((u) => [u.name, { ...u }]));
        for (const a of planApply(files, cluster, ME, { prune })) {
          const f = files.find((x) => x.name === a.name);
          if (a.type === 'create' || a.type === 'replace' || a.type === 'configure') {
            after.set(a.name, unit(a.name, f!.kind === 'unit' ? f!.hash : '', ME, a.desiredState));
          } else if (a.type === 'prune') after.delete(a.name);
        }
        const again = planApply(files, [...after.values()], ME, { prune });
        for (const a of again) expect(['unchanged', 'conflict', 'skipped']).to.include(a.type);
      }),
    );
  });
});
