import { expect } from 'chai';
import fc from 'fast-check';
import { LoadIndex } from '../../engine/load-index.js';

const IDS = ['m3', 'a1', 'm10', 'b', 'm2', 'zz', 'a10', 'c'];

type Op =
  { kind: 'load'; id: string; by: number } | { kind: 'add'; id: string } | { kind: 'remove'; id: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('load' as const),
      id: fc.constantFrom(...IDS),
      by: fc.integer({ min: -3, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.constantFrom(...IDS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.constantFrom(...IDS) }) },
);

/** The order the index must give: by load, then by ID (plain string order). */
function expected(members: Set<string>, load: Map<string, number>): string[] {
  return [...members].sort((a, b) => load.get(a)! - load.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
}

describe('engine/load-index', () => {
  it('walks machines by (load, ID) and peeks the first, through loads changing and machines coming and going (property)', () => {
    fc.assert(
      fc.property(
        fc.subarray(IDS),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: IDS.length, maxLength: IDS.length }),
        fc.array(opArb, { maxLength: 60 }),
        (initial, loads, ops) => {
          const load = new Map(IDS.map((id, i) => [id, loads[i]!]));
          const idx = new LoadIndex((id) => load.get(id)!, initial);
          const members = new Set(initial);
          const check = () => {
            const want = expected(members, load);
            expect([...idx.inOrder()]).to.deep.equal(want);
            expect(idx.peek()).to.equal(want[0]);
            expect(idx.size).to.equal(members.size);
            for (const id of IDS) expect(idx.has(id)).to.equal(members.has(id));
          };
          check();
          for (const op of ops) {
            if (op.kind === 'load') {
              load.set(op.id, load.get(op.id)! + op.by);
              idx.update(op.id);
            } else if (op.kind === 'add') {
              idx.add(op.id);
              members.add(op.id);
            } else {
              idx.remove(op.id);
              members.delete(op.id);
            }
            check();
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('stops early: a walk that ends after k machines of many leaves the index as it was', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `m${String(i).padStart(4, '0')}`);
    const idx = new LoadIndex(() => 0, ids);
    const walk = idx.inOrder();
    expect([walk.next().value, walk.next().value]).to.deep.equal(['m0000', 'm0001']);
    expect(idx.peek()).to.equal('m0000');
    expect([...idx.inOrder()]).to.deep.equal(ids);
  });
});
