import { expect } from 'chai';
import fc from 'fast-check';
import { ClusterModel, type ModelAssignment } from '../../engine/model.js';
import { UnitReader } from '../../engine/unit-info.js';

const reader = new UnitReader();
const BODY = '[Service]\nExecStart=/bin/true\n';
const NAMES = ['a.service', 'b.service', 'c.service', 'a@1.service', 'z.socket', 'B.service'];

type Op =
  | { op: 'putUnit' | 'deleteUnit'; name: string }
  | { op: 'putAssignment' | 'deleteAssignment'; name: string; machine: string }
  | { op: 'names' | 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constantFrom('putUnit' as const, 'deleteUnit' as const),
    name: fc.constantFrom(...NAMES),
  }),
  fc.record({
    op: fc.constantFrom('putAssignment' as const, 'deleteAssignment' as const),
    name: fc.constantFrom(...NAMES),
    machine: fc.constantFrom('m1', 'm2'),
  }),
  fc.record({ op: fc.constantFrom('names' as const, 'clear' as const) }),
);

/** What names() must be: every unit name with a unit or an assignment, sorted. */
function expected(m: ClusterModel): string[] {
  return [...new Set([...m.units.keys(), ...m.assignments.keys()])].sort();
}

describe('engine/model', () => {
  it('keeps names() equal to a full sort of unit and assignment names over any sequence of changes (property)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const m = new ClusterModel();
        for (const o of ops) {
          switch (o.op) {
            case 'putUnit':
              m.putUnit(
                reader.read({
                  name: o.name,
                  body: BODY,
                  hash: 'h',
                  desiredState: 'launched',
                }),
              );
              break;
            case 'deleteUnit':
              m.deleteUnit(o.name);
              break;
            case 'putAssignment':
              m.putAssignment({ unit: o.name, machineId: o.machine, hash: 'h', desiredState: 'launched' });
              break;
            case 'deleteAssignment':
              m.deleteAssignment(o.name, o.machine);
              break;
            case 'clear':
              m.clear();
              break;
            case 'names':
              expect(m.names()).to.deep.equal(expected(m));
          }
        }
        expect(m.names()).to.deep.equal(expected(m));
      }),
      { numRuns: 500 },
    );
  });

  it("reads a unit's assignments like a Map of them, one assignment or several (property)", () => {
    const assignmentArb = fc.record({
      put: fc.boolean(),
      name: fc.constantFrom('a.service', 'b.service'),
      machine: fc.constantFrom('m1', 'm2', 'm3'),
      hash: fc.constantFrom('h1', 'h2'),
    });
    fc.assert(
      fc.property(fc.array(assignmentArb, { maxLength: 30 }), (ops) => {
        const m = new ClusterModel();
        const ref = new Map<string, Map<string, ModelAssignment>>();
        for (const o of ops) {
          const a: ModelAssignment = {
            unit: o.name,
            machineId: o.machine,
            hash: o.hash,
            desiredState: 'launched',
          };
          if (o.put) {
            m.putAssignment(a);
            if (!ref.has(o.name)) ref.set(o.name, new Map());
            ref.get(o.name)!.set(o.machine, a);
          } else {
            m.deleteAssignment(o.name, o.machine);
            ref.get(o.name)?.delete(o.machine);
            if (ref.get(o.name)?.size === 0) ref.delete(o.name);
          }
          expect([...m.assignments.keys()].sort()).to.deep.equal([...ref.keys()].sort());
          for (const [unit, want] of ref) {
            const got = m.assignments.get(unit)!;
            expect(got.size).to.equal(want.size);
            expect([...got]).to.deep.equal([...want]);
            expect([...got.keys()]).to.deep.equal([...want.keys()]);
            expect([...got.values()]).to.deep.equal([...want.values()]);
            const seen: [string, ModelAssignment][] = [];
            got.forEach((v, k) => seen.push([k, v]));
            expect(seen).to.deep.equal([...want.entries()]);
            for (const id of ['m1', 'm2', 'm3']) {
              expect(got.has(id)).to.equal(want.has(id));
              expect(got.get(id)).to.equal(want.get(id));
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('merges new names into the order without disturbing the previous list', () => {
    const m = new ClusterModel();
    const put = (name: string) =>
      m.putUnit(reader.read({ name, body: BODY, hash: 'h', desiredState: 'launched' }));
    put('b.service');
    put('d.service');
    const first = m.names();
    expect(first).to.deep.equal(['b.service', 'd.service']);
    put('c.service');
    put('a.service');
    m.deleteUnit('d.service');
    expect(m.names()).to.deep.equal(['a.service', 'b.service', 'c.service']);
    expect(first).to.deep.equal(['b.service', 'd.service']);
  });
});
