/**
 * Machines ordered by (load, machine ID): an indexed binary min-heap. Changing a machine's load is
 * O(log n); walking machines in load order with an early exit costs O(k log k) for the k machines
 * visited (a frontier over the heap, which is left untouched). Pure data structure, no I/O.
 */
export class LoadIndex {
  private readonly heap: string[] = [];
  private readonly pos = new Map<string, number>();

  constructor(
    private readonly loadOf: (machineId: string) => number,
    machineIds: Iterable<string> = [],
  ) {
    for (const id of machineIds) {
      if (this.pos.has(id)) continue;
      this.pos.set(id, this.heap.length);
      this.heap.push(id);
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.heap.length;
  }

  has(machineId: string): boolean {
    return this.pos.has(machineId);
  }

  /** The least-loaded machine (ties: lowest ID), or undefined when empty. */
  peek(): string | undefined {
    return this.heap[0];
  }

  add(machineId: string): void {
    if (this.pos.has(machineId)) return;
    this.pos.set(machineId, this.heap.length);
    this.heap.push(machineId);
    this.up(this.heap.length - 1);
  }

  remove(machineId: string): void {
    const i = this.pos.get(machineId);
    if (i === undefined) return;
    const last = this.heap.pop()!;
    this.pos.delete(machineId);
    if (i < this.heap.length) {
      this.heap[i] = last;
      this.pos.set(last, i);
      this.down(i);
      this.up(this.pos.get(last)!);
    }
  }

  /** Call after the machine's load changed (either way). */
  update(machineId: string): void {
    const i = this.pos.get(machineId);
    if (i === undefined) return;
    this.up(i);
    this.down(this.pos.get(machineId)!);
  }

  /** Machines in (load, ID) order. Do not change loads while iterating. */
  *inOrder(): Generator<string> {
    if (this.heap.length === 0) return;
    const frontier: number[] = [0];
    const less = (a: number, b: number) => this.lessAt(a, b);
    while (frontier.length > 0) {
      const i = popMin(frontier, less);
      yield this.heap[i]!;
      const l = 2 * i + 1;
      if (l < this.heap.length) pushMin(frontier, l, less);
      if (l + 1 < this.heap.length) pushMin(frontier, l + 1, less);
    }
  }

  private lessAt(a: number, b: number): boolean {
    return lessMachine(this.heap[a]!, this.heap[b]!, this.loadOf);
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    this.heap[a] = y;
    this.heap[b] = x;
    this.pos.set(y, a);
    this.pos.set(x, b);
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

/** (load, ID) order: fleet's least-loaded machine, ties broken by machine ID. */
export function lessMachine(a: string, b: string, loadOf: (id: string) => number): boolean {
  const la = loadOf(a);
  const lb = loadOf(b);
  if (la !== lb) return la < lb;
  return a < b;
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
