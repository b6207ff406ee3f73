import { expect } from 'chai';
import fc from 'fast-check';
import { applyDecisions } from '../../engine/apply-model.js';
import { ClusterModel } from '../../engine/model.js';
import { Planner, plan, type Plan } from '../../engine/planner.js';
import { globMatch, machineIdMatches, metadataMatches, replaceBetween } from '../../units/index.js';
import { model, modelUnit, type UnitSpec } from './helpers.js';

const NAMES = [...Array.from({ length: 10 }, (_, i) => `u${i}.service`), 'u5.socket'];
const MACHINES = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'abcdef0123'];

/**
 * Random units. Each [X-Fleet] option is present with probability `p`: high (fast-check's
 * default, 5 in 6) packs every rule into most units; low leaves most units plain, so the rules
 * of a few meet on shared machines more often.
 */
const unitsWith = (p: 'dense' | 'sparse'): fc.Arbitrary<UnitSpec> => {
  const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
    p === 'dense'
      ? fc.option(a, { nil: undefined })
      : fc.oneof({ arbitrary: fc.constant(undefined), weight: 5 }, { arbitrary: a, weight: 1 });
  return fc
    .record({
      name: fc.constantFrom(...NAMES),
      state: fc.constantFrom('launched', 'launched', 'loaded', 'inactive' as const),
      region: maybe(fc.constantFrom('a', 'b', 'z')),
      notRegion: maybe(fc.constantFrom('a', 'b')),
      conflicts: maybe(fc.constantFrom('u1*', 'u2.service', 'u*', 'x*')),
      machineOf: maybe(fc.constantFrom(...NAMES)),
      replaces: maybe(fc.constantFrom('u3.service', 'u4*')),
      machineId: maybe(fc.constantFrom('m1', 'abcdef01', 'nope')),
      global: p === 'dense' ? fc.boolean() : maybe(fc.constant(true)).map((g) => g === true),
    })
    .map((r) => {
      const x: string[] = [];
      if (r.region) x.push(`MachineMetadata=region=${r.region}`);
      if (r.notRegion) x.push(`MachineMetadata=region!=${r.notRegion}`);
      if (r.conflicts) x.push(`Conflicts=${r.conflicts}`);
      if (r.global) {
        x.push('Global=true');
      } else {
        if (r.machineOf && r.machineOf !== r.name) x.push(`MachineOf=${r.machineOf}`);
        if (r.replaces) x.push(`Replaces=${r.replaces}`);
        if (r.machineId) x.push(`MachineID=${r.machineId}`);
      }
      return { name: r.name, state: r.state, xfleet: x };
    });
};

const unitArb = unitsWith('dense');

const machineArb = fc.record({
  id: fc.constantFrom(...MACHINES),
  region: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
  draining: fc.boolean(),
});

/** Random clusters; `maxMachines` small makes units share machines (and their rules meet) more. */
const clusterOf = (maxMachines: number, units = unitArb) =>
  fc
    .record({
      units: fc.uniqueArray(units, { selector: (u) => u.name, maxLength: 10 }),
      machines: fc.uniqueArray(machineArb, { selector: (m) => m.id, maxLength: maxMachines }),
      assigned: fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.constantFrom(...MACHINES, 'gone')), {
        maxLength: 8,
      }),
    })
    .map(({ units, machines, assigned }) => ({
      units,
      machines: machines.map((m) => ({
        id: m.id,
        metadata: (m.region ? { region: m.region } : {}) as Record<string, string>,
        draining: m.draining,
      })),
      assigned,
    }));

const clusterArb = clusterOf(6);

type Cluster = {
  units: UnitSpec[];
  machines: { id: string; metadata: Record<string, string>; draining: boolean }[];
  assigned: [string, string][];
};

function build(c: Cluster, reverse = false): ClusterModel {
  const assignments: Record<string, string[]> = {};
  for (const [u, m] of c.assigned) {
    const list = (assignments[u] ??= []);
    if (!list.includes(m)) list.push(m);
  }
  const units = reverse ? [...c.units].reverse() : c.units;
  const machines = reverse ? [...c.machines].reverse() : c.machines;
  return model(units, machines, assignments);
}

/** Every rule holds for every assignment of the model. */
function violations(m: ClusterModel): string[] {
  const out: string[] = [];
  const on = new Map<string, string[]>();
  for (const [unit, per] of m.assignments)
    for (const id of per.keys()) (on.get(id) ?? on.set(id, []).get(id)!).push(unit);
  for (const [unit, per] of m.assignments) {
    const u = m.units.get(unit);
    if (!u) {
      out.push(`${unit}: destroyed but assigned`);
      continue;
    }
    if (u.desiredState === 'inactive' || !u.valid) out.push(`${unit}: must not run but assigned`);
    if (!u.requirements.global && per.size > 1) out.push(`${unit}: on ${per.size} machines`);
    for (const id of per.keys()) {
      const mm = m.machines.get(id);
      if (!mm) {
        out.push(`${unit}: on missing machine ${id}`);
        continue;
      }
      if (mm.draining) out.push(`${unit}: on draining ${id}`);
      const r = u.requirements;
      if (r.machineId !== null && !machineIdMatches(r.machineId, id)) out.push(`${unit}: MachineID on ${id}`);
      if (!metadataMatches(r, mm.metadata).ok) out.push(`${unit}: metadata on ${id}`);
      for (const p of r.machineOf) {
        if (!m.assignments.get(p)?.has(id)) out.push(`${unit}: MachineOf=${p} not on ${id}`);
      }
      // Socket activation: u5.socket and u5.service run together when both are placed.
      if (unit === 'u5.service' && !r.global) {
        const sock = m.units.get('u5.socket');
        const sockAt = m.assignments.get('u5.socket');
        if (sock && !sock.requirements.global && sockAt && !sockAt.has(id))
          out.push(`${unit}: not with u5.socket`);
      }
      for (const other of on.get(id) ?? []) {
        if (other === unit) continue;
        const o = m.units.get(other);
        if (!o) continue;
        if (r.conflicts.some((p) => globMatch(p, other)))
          out.push(`${unit}: conflicts with ${other} on ${id}`);
        const rep = replaceBetween(
          { name: unit, conflicts: [], replaces: r.replaces },
          { name: other, conflicts: [], replaces: o.requirements.replaces },
        );
        if (rep && rep.displaces === unit) out.push(`${unit}: replaced by ${other} on ${id}`);
      }
    }
  }
  return out;
}

/** A change the engine sees between passes that is not about machines (those get a full pass). */
type Change =
  | { kind: 'put'; unit: UnitSpec }
  | { kind: 'destroy'; name: string }
  | { kind: 'unassign'; name: string }
  | { kind: 'assign'; name: string; machineId: string };

const changesOf = (units: fc.Arbitrary<UnitSpec>): fc.Arbitrary<Change> =>
  fc.oneof(
    units.map((unit) => ({ kind: 'put' as const, unit })),
    units.map((unit) => ({ kind: 'put' as const, unit })),
    fc.constantFrom(...NAMES).map((name) => ({ kind: 'destroy' as const, name })),
    fc.constantFrom(...NAMES).map((name) => ({ kind: 'unassign' as const, name })),
    fc
      .tuple(fc.constantFrom(...NAMES), fc.constantFrom(...MACHINES))
      .map(([name, machineId]) => ({ kind: 'assign' as const, name, machineId })),
  );

/** Applies one change to the model; returns the unit name it concerns. */
function change(m: ClusterModel, c: Change): string {
  switch (c.kind) {
    case 'put':
      m.putUnit(modelUnit(c.unit));
      return c.unit.name;
    case 'destroy':
      m.deleteUnit(c.name);
      return c.name;
    case 'unassign':
      for (const id of [...(m.assignments.get(c.name)?.keys() ?? [])]) m.deleteAssignment(c.name, id);
      return c.name;
    case 'assign': {
      const u = m.units.get(c.name);
      m.putAssignment({
        unit: c.name,
        machineId: c.machineId,
        hash: u?.hash ?? 'x',
        desiredState: u?.desiredState === 'loaded' ? 'loaded' : 'launched',
      });
      return c.name;
    }
  }
}

/**
 * What the engine does: passes over what changed (the decisions' own writes come back as changes
 * too), until a pass decides nothing. Returns that pass's unplaced units.
 */
function untilQuiet(planner: Planner, m: ClusterModel, changed: string[]): Plan['unplaced'] {
  for (let round = 0; round < 20; round++) {
    const p = planner.plan(m, 0, changed);
    if (p.decisions.length === 0) return p.unplaced;
    applyDecisions(m, p.decisions);
    changed = [];
  }
  throw new Error('scoped passes did not settle in 20 rounds');
}

describe('engine/planner properties', () => {
  it('no assignment after a plan violates a rule', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const m = build(c);
        applyDecisions(m, plan(m, 0).decisions);
        expect(violations(m)).to.deep.equal([]);
      }),
      { numRuns: 400 },
    );
  });

  it('every unit without requirements that nothing excludes is placed when a machine can take it', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const m = build(c);
        const p = plan(m, 0);
        applyDecisions(m, p.decisions);
        const open = c.machines.some((x) => !x.draining);
        for (const u of m.units.values()) {
          const r = u.requirements;
          const free =
            u.valid &&
            u.desiredState !== 'inactive' &&
            !r.global &&
            r.machineId === null &&
            r.machineOf.length === 0 &&
            r.conflicts.length === 0 &&
            r.replaces.length === 0 &&
            Object.keys(r.machineMetadata).length === 0 &&
            Object.keys(r.machineMetadataNot).length === 0 &&
            ![...m.units.values()].some(
              (o) =>
                o.requirements.conflicts.some((g) => globMatch(g, u.name)) ||
                o.requirements.replaces.some((g) => globMatch(g, u.name)),
            );
          if (free && open) expect(m.assignments.get(u.name)?.size, u.name).to.equal(1);
        }
        // And every unit that wants to run is either placed or explained.
        for (const u of m.units.values()) {
          if (!u.valid || u.desiredState === 'inactive') continue;
          const placed = (m.assignments.get(u.name)?.size ?? 0) > 0;
          const explained = p.unplaced.some((x) => x.unit === u.name && x.reasons.length > 0);
          expect(placed !== explained, `${u.name} placed=${placed} explained=${explained}`).to.equal(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('the same input gives the same output, whatever order the model was filled in', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const a = plan(build(c), 5);
        const b = plan(build(c, true), 5);
        expect(b).to.deep.equal(a);
      }),
      { numRuns: 300 },
    );
  });

  for (const density of ['dense', 'sparse'] as const) {
    it(`scoped passes (only what changed) leave what a full pass would accept, and the same unplaced units (${density} rules)`, () => {
      const units = unitsWith(density);
      fc.assert(
        fc.property(
          clusterOf(3, units),
          fc.array(changesOf(units), { minLength: 1, maxLength: 25 }),
          (c, changes) => {
            const m = build(c);
            const planner = new Planner();
            applyDecisions(m, planner.plan(m, 0).decisions);
            untilQuiet(planner, m, []);
            for (const ch of changes) {
              const unplaced = untilQuiet(planner, m, [change(m, ch)]);
              expect(violations(m), JSON.stringify(ch)).to.deep.equal([]);
              const full = plan(m, 0);
              expect(full.decisions, `a full pass after ${JSON.stringify(ch)}`).to.deep.equal([]);
              expect(unplaced).to.deep.equal(full.unplaced);
            }
          },
        ),
        { numRuns: 1000 },
      );
    });
  }

  it('converges: a plan applied leaves nothing for the next pass', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const m = build(c);
        applyDecisions(m, plan(m, 0).decisions);
        expect(plan(m, 0).decisions).to.deep.equal([]);
      }),
      { numRuns: 400 },
    );
  });
});
