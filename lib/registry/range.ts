/**
 * Reading a whole prefix in pages, all at one revision: a single range response over a big prefix
 * can exceed the client's gRPC message limit. The first page fixes the revision;
 * the others read at that revision, so the result is one consistent snapshot.
 */
import { GRPCResourceExhastedError, type Etcd3, type IKeyValue } from 'etcd3';
import { prefixEnd } from './keys.js';
import { MAX_VALUE_BYTES } from './records.js';
import { MAX_RECEIVE_BYTES } from '../etcd-client.js';

/** Keys in the first page: even at MAX_VALUE_BYTES each, a page stays within the client's receive limit. */
export const DEFAULT_PAGE_SIZE = Math.floor((MAX_RECEIVE_BYTES * 0.75) / MAX_VALUE_BYTES);

/** The most keys per page once pages grow (a 100,000-unit prefix is then a few round trips, not ~400). */
export const MAX_PAGE_SIZE = 65536;

/**
 * The next page's size from the bytes seen so far: a quarter of the receive limit's budget at the
 * average key+value size, so even values four times the average fit. Pure.
 */
export function nextPageSize(current: number, keys: number, bytes: number, max = MAX_PAGE_SIZE): number {
  if (keys === 0) return current;
  const avg = Math.max(1, bytes / keys);
  const fits = Math.floor((MAX_RECEIVE_BYTES * 0.75) / (avg * 4));
  return Math.max(current, Math.min(max, fits));
}

export interface RangeOptions {
  keysOnly?: boolean;
  /**
   * Keys in the first page (halved automatically while a page is too large for one message);
   * later pages grow up to maxPageSize from the sizes seen (see nextPageSize).
   */
  pageSize?: number;
  maxPageSize?: number;
}

function tooLarge(e: unknown): boolean {
  return e instanceof GRPCResourceExhastedError || /larger than max/i.test(String((e as Error)?.message));
}

function compacted(e: unknown): boolean {
  return /compacted/i.test(String((e as Error)?.message));
}

/** Every key under prefix, in key order, at one revision (the first page's). */
export async function rangePrefix(
  client: Etcd3,
  prefix: string,
  opts: RangeOptions = {},
): Promise<{ kvs: IKeyValue[]; revision: string }> {
  const end = prefixEnd(prefix);
  let page = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  let start = Buffer.from(prefix);
  let revision: string | undefined;
  let kvs: IKeyValue[] = [];
  let bytes = 0;
  const max = opts.maxPageSize ?? MAX_PAGE_SIZE;
  for (;;) {
    let res;
    try {
      res = await client.kv.range({
        key: start,
        range_end: end,
        limit: page,
        ...(revision !== undefined ? { revision } : {}),
        ...(opts.keysOnly ? { keys_only: true } : {}),
      });
    } catch (e) {
      if (tooLarge(e) && page > 1) {
        page = Math.max(1, Math.floor(page / 2));
        continue;
      }
      if (revision !== undefined && compacted(e)) {
        // Our snapshot revision was compacted between pages: start over at a new one.
        revision = undefined;
        kvs = [];
        bytes = 0;
        start = Buffer.from(prefix);
        continue;
      }
      throw e;
    }
    revision ??= res.header.revision;
    for (const kv of res.kvs) {
      kvs.push(kv);
      bytes += kv.key.length + kv.value.length;
    }
    page = nextPageSize(page, kvs.length, bytes, max);
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || last === undefined) return { kvs, revision };
    start = Buffer.concat([last.key, Buffer.from([0])]);
  }
}
