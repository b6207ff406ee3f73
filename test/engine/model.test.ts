import { expect } from 'chai';
import fc from 'fast-check';
import { ClusterModel } from '../../engine/model.js';
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
