/**
 * Machines ordered by (load, machine ID): an indexed binary min-heap. Changing a machine's load is
 * O(log n); walking machines in load order with an early exit costs O(k log k) for the k machines
 * visited (a frontier over the heap, which is left untouched). Pure data structure, no I/O.
 *
 * Inside, a machine is a small integer (its slot), and the heap compares numbers only: its load as
 * last read (on add and update) and its rank in ID order. A placement changes one load and moves
 * one machine about log2(n) levels, so this is the planner's innermost loop.
 */
export class LoadIndex {
  /** Slot -> machine ID. */
  private readonly ids: string[] = [];
  private readonly slotOf = new Map<string, number>();
  /** Slot -> its load as last read, its position in the heap (-1: removed), its rank in ID order. */
  private readonly load: number[] = [];
  private readonly pos: number[] = [];
  private readonly rank: number[] = [];
  /** Slots of the machines in the index, as a heap. */
  private readonly heap: number[] = [];

  constructor(
    private readonly loadOf: (machineId: string) => number,
    machineIds: Iterable<string> = [],
  ) {
    for (const id of machineIds) {
      if (this.slotOf.has(id)) continue;
      const s = this.newSlot(id);
      this.pos[s] = this.heap.length;
      this.heap.push(s);
    }
    this.rerank();
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.heap.length;
  }

  has(machineId: string): boolean {
    const s = this.slotOf.get(machineId);
    return s !== undefined && this.pos[s]! >= 0;
  }

  /** The least-loaded machine (ties: lowest ID), or undefined when empty. */
  peek(): string | undefined {
    return this.heap.length > 0 ? this.ids[this.heap[0]!] : undefined;
  }

  add(machineId: string): void {
    if (this.has(machineId)) return;
    let s = this.slotOf.get(machineId);
    if (s === undefined) {
      s = this.newSlot(machineId);
      this.rerank();
    } else {
      this.load[s] = this.loadOf(machineId);
    }
    this.pos[s] = this.heap.length;
    this.heap.push(s);
    this.up(this.heap.length - 1);
  }

  remove(machineId: string): void {
    const s = this.slotOf.get(machineId);
    if (s === undefined || this.pos[s]! < 0) return;
    const i = this.pos[s]!;
    const last = this.heap.pop()!;
    this.pos[s] = -1;
    if (i < this.heap.length) {
      this.heap[i] = last;
      this.pos[last] = i;
      this.down(i);
      this.up(this.pos[last]!);
    }
  }

  /** Call after the machine's load changed (either way). */
  update(machineId: string): void {
    const s = this.slotOf.get(machineId);
    if (s === undefined || this.pos[s]! < 0) return;
    this.load[s] = this.loadOf(machineId);
    this.up(this.pos[s]!);
    this.down(this.pos[s]!);
  }

  /** Machines in (load, ID) order. Do not change loads while iterating. */
  *inOrder(): Generator<string> {
    if (this.heap.length === 0) return;
    const frontier: number[] = [0];
    const less = (a: number, b: number) => this.lessAt(a, b);
    while (frontier.length > 0) {
      const i = popMin(frontier, less);
      yield this.ids[this.heap[i]!]!;
      const l = 2 * i + 1;
      if (l < this.heap.length) pushMin(frontier, l, less);
      if (l + 1 < this.heap.length) pushMin(frontier, l + 1, less);
    }
  }

  private newSlot(id: string): number {
    const s = this.ids.length;
    this.ids.push(id);
    this.slotOf.set(id, s);
    this.load.push(this.loadOf(id));
    this.pos.push(-1);
    this.rank.push(0);
    return s;
  }

  /** Ranks every slot in ID order (slots are added rarely: a machine joining the index). */
  private rerank(): void {
    const ids = this.ids;
    let sorted = true;
    for (let s = 1; s < ids.length && sorted; s++) sorted = ids[s - 1]! < ids[s]!;
    if (sorted) {
      // The usual case: the planner gives its machines in ID order.
      for (let s = 0; s < ids.length; s++) this.rank[s] = s;
      return;
    }
    const order = ids.map((_, s) => s).sort((a, b) => (ids[a]! < ids[b]! ? -1 : 1));
    order.forEach((s, r) => (this.rank[s] = r));
  }

  /** Whether heap position a sorts before heap position b. */
  private lessAt(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    const lx = this.load[x]!;
    const ly = this.load[y]!;
    return lx !== ly ? lx < ly : this.rank[x]! < this.rank[y]!;
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    this.heap[a] = y;
    this.heap[b] = x;
    this.pos[y] = a;
    this.pos[x] = b;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.lessAt(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      let m = l;
      if (l + 1 < n && this.lessAt(l + 1, l)) m = l + 1;
      if (!this.lessAt(m, i)) return;
      this.swap(m, i);
      i = m;
    }
  }
}

function pushMin(h: number[], v: number, less: (a: number, b: number) => boolean): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(h[i]!, h[p]!)) break;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}

function popMin(h: number[], less: (a: number, b: number) => boolean): number {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      let m = l;
      if (l + 1 < h.length && less(h[l + 1]!, h[l]!)) m = l + 1;
      if (!less(h[m]!, h[i]!)) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
  return top;
}
