/**
 * Transactions as plain data, and how a large batch is cut into transactions that etcd accepts.
 * Pure: no I/O. The registry builds these and hands them to etcd3's raw KV client.
 */
import type { ICompare, IRequestOp } from 'etcd3';
import { prefixEnd } from './keys.js';

/**
 * etcd's per-transaction limit on compares, and separately on success and failure operations
 * (`--max-txn-ops`, 128 by default in etcd 3.4).
 */
export const DEFAULT_MAX_TXN_OPS = 128;

/**
 * Bytes of keys and values per transaction. etcd refuses requests over `--max-request-bytes`
 * (1.5 MiB by default); this leaves room for the rest of the request.
 */
export const DEFAULT_MAX_TXN_BYTES = 1024 * 1024;

/** One logical write: it is never split across transactions. */
export interface TxnItem {
  compares: ICompare[];
  ops: IRequestOp[];
}

export function putOp(key: string, value: string, lease?: string): IRequestOp {
  const request_put: NonNullable<IRequestOp['request_put']> = {
    key: Buffer.from(key),
    value: Buffer.from(value),
  };
  if (lease !== undefined) request_put.lease = lease;
  return { request_put };
}

export function deleteOp(key: string): IRequestOp {
  return { request_delete_range: { key: Buffer.from(key) } };
}

export function deletePrefixOp(prefix: string): IRequestOp {
  return { request_delete_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix) } };
}

export function rangeOp(key: string): IRequestOp {
  return { request_range: { key: Buffer.from(key) } };
}

/** `key`'s create revision equals `rev` (0: the key does not exist). */
export function createRevisionIs(key: string, rev: string | number): ICompare {
  return { key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: rev };
}

/** `key`'s mod revision equals `rev`. */
export function modRevisionIs(key: string, rev: string | number): ICompare {
  return { key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: rev };
}

/** The key named by an op (for duplicate detection). */
export function opKey(op: IRequestOp): string | undefined {
  const k = op.request_put?.key ?? op.request_delete_range?.key;
  return k === undefined ? undefined : k.toString();
}

/**
 * Packs items, in order, into chunks whose compares (plus `fixedCompares` that every chunk
 * repeats, e.g. a leadership fence) and whose ops each stay within maxOps, and whose keys and
 * values stay within maxBytes. An item never spans two chunks; one with too many ops on its own is
 * a programming error and throws a RangeError (one over maxBytes goes alone in its chunk).
 */
export function chunkItems<T extends TxnItem>(
  items: readonly T[],
  maxOps: number,
  fixedCompares = 0,
  maxBytes = Infinity,
): T[][] {
  if (maxOps < 1 || fixedCompares >= maxOps) {
    throw new RangeError(`cannot pack into ${maxOps}-op transactions`);
  }
  const chunks: T[][] = [];
  let current: T[] = [];
  let compares = fixedCompares;
  let ops = 0;
  let bytes = 0;
  for (const item of items) {
    if (item.compares.length + fixedCompares > maxOps || item.ops.length > maxOps) {
      throw new RangeError(
        `one write needs ${item.ops.length} ops and ${item.compares.length + fixedCompares} compares; the limit is ${maxOps}`,
      );
    }
    const size = itemBytes(item);
    const full =
      compares + item.compares.length > maxOps || ops + item.ops.length > maxOps || bytes + size > maxBytes;
    if (current.length > 0 && full) {
      chunks.push(current);
      current = [];
      compares = fixedCompares;
      ops = 0;
      bytes = 0;
    }
    current.push(item);
    compares += item.compares.length;
    ops += item.ops.length;
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function opBytes(op: IRequestOp): number {
  let n = 0;
  if (op.request_put) n += (op.request_put.key?.length ?? 0) + (op.request_put.value?.length ?? 0);
  if (op.request_delete_range) n += (op.request_delete_range.key?.length ?? 0) * 2;
  if (op.request_range) n += (op.request_range.key?.length ?? 0) * 2;
  const t = op.request_txn;
  if (t) {
    for (const c of t.compare ?? []) n += c.key?.length ?? 0;
    for (const o of [...(t.success ?? []), ...(t.failure ?? [])]) n += opBytes(o);
  }
  return n;
}

/** The bytes of keys and values an item puts in a request (what --max-request-bytes counts, roughly). */
export function itemBytes(item: TxnItem): number {
  let n = 0;
  for (const c of item.compares) n += (c.key?.length ?? 0) + (c.value?.length ?? 0);
  for (const op of item.ops) n += opBytes(op);
  return n;
}

/** Keys written more than once in one batch (etcd refuses a transaction that does so). */
export function duplicateKeys(items: readonly TxnItem[]): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const item of items) {
    for (const op of item.ops) {
      const k = opKey(op);
      if (k === undefined) continue;
      if (seen.has(k)) dups.add(k);
      seen.add(k);
    }
  }
  return [...dups];
}
