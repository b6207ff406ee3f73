import { expect } from 'chai';
import fc from 'fast-check';
import { applyDecisions } from '../../engine/apply-model.js';
import { ClusterModel } from '../../engine/model.js';
import { plan } from '../../engine/planner.js';
import { globMatch, machineIdMatches, metadataMatches, replaceBetween } from '../../units/index.js';
import { model, type UnitSpec } from './helpers.js';

const NAMES = [...Array.from({ length: 10 }, (_, i) => `u${i}.service`), 'u5.socket'];
const MACHINES = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'abcdef0123'];

const unitArb: fc.Arbitrary<UnitSpec> = fc
  .record({
    name: fc.constantFrom(...NAMES),
    state: fc.constantFrom('launched', 'launched', 'loaded', 'inactive' as const),
    region: fc.option(fc.constantFrom('a', 'b', 'z'), { nil: undefined }),
    notRegion: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
    conflicts: fc.option(fc.constantFrom('u1*', 'u2.service', 'u*', 'x*'), { nil: undefined }),
    machineOf: fc.option(fc.constantFrom(...NAMES), { nil: undefined }),
    replaces: fc.option(fc.constantFrom('u3.service', 'u4*'), { nil: undefined }),
    machineId: fc.option(fc.constantFrom('m1', 'abcdef01', 'nope'), { nil: undefined }),
    global: fc.boolean(),
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

const machineArb = fc.record({
  id: fc.constantFrom(...MACHINES),
  region: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
  draining: fc.boolean(),
});

const clusterArb = fc
  .record({
    units: fc.uniqueArray(unitArb, { selector: (u) => u.name, maxLength: 10 }),
    machines: fc.uniqueArray(machineArb, { selector: (m) => m.id, maxLength: 6 }),
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
