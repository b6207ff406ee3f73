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
 * repeats, e.g. a leadership fence) and whose ops each stay within maxOps. An item never spans two
 * chunks; one too big on its own is a programming error and throws a RangeError.
 */
export function chunkItems(items: readonly TxnItem[], maxOps: number, fixedCompares = 0): TxnItem[][] {
  if (maxOps < 1 || fixedCompares >= maxOps)
    throw new RangeError(`cannot pack into ${maxOps}-op transactions`);
  const chunks: TxnItem[][] = [];
  let current: TxnItem[] = [];
  let compares = fixedCompares;
  let ops = 0;
  for (const item of items) {
    if (item.compares.length + fixedCompares > maxOps || item.ops.length > maxOps) {
      throw new RangeError(
        `one write needs ${item.ops.length} ops and ${item.compares.length + fixedCompares} compares; the limit is ${maxOps}`,
      );
    }
    if (current.length > 0 && (compares + item.compares.length > maxOps || ops + item.ops.length > maxOps)) {
      chunks.push(current);
      current = [];
      compares = fixedCompares;
      ops = 0;
    }
    current.push(item);
    compares += item.compares.length;
    ops += item.ops.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
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
