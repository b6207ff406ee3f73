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
  let kvs: IKeyValue[] = [];
  const { revision } = await forEachPage(client, prefix, opts, (page, restarted) => {
    if (restarted) kvs = [];
    for (const kv of page) kvs.push(kv);
  });
  return { kvs, revision };
}

/**
 * Reads every key under prefix, in key order, at one revision (the first page's), handing each
 * page to `onPage` as it arrives while the next page is already being read (etcd works on it
 * while the caller works on this one). `restarted` is true on the first page after etcd compacted
 * the revision between two pages: the reading started over at a new revision, and what the
 * earlier pages said must be forgotten. Resolves with the revision once the last page was given.
 */
export async function forEachPage(
  client: Etcd3,
  prefix: string,
  opts: RangeOptions,
  onPage: (kvs: IKeyValue[], restarted: boolean) => void,
): Promise<{ revision: string }> {
  const end = prefixEnd(prefix);
  let page = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  let start = Buffer.from(prefix);
  let revision: string | undefined;
  let keys = 0;
  let bytes = 0;
  let restarted = false;
  const max = opts.maxPageSize ?? MAX_PAGE_SIZE;
  const read = () =>
    client.kv.range({
      key: start,
      range_end: end,
      limit: page,
      ...(revision !== undefined ? { revision } : {}),
      ...(opts.keysOnly ? { keys_only: true } : {}),
    });
  let next = read();
  for (;;) {
    let res;
    try {
      res = await next;
    } catch (e) {
      if (tooLarge(e) && page > 1) {
        page = Math.max(1, Math.floor(page / 2));
        next = read();
        continue;
      }
      if (revision !== undefined && compacted(e)) {
        // Our snapshot revision was compacted between pages: start over at a new one.
        revision = undefined;
        keys = 0;
        bytes = 0;
        start = Buffer.from(prefix);
        restarted = true;
        next = read();
        continue;
      }
      throw e;
    }
    revision ??= res.header.revision;
    keys += res.kvs.length;
    for (const kv of res.kvs) bytes += kv.key.length + kv.value.length;
    page = nextPageSize(page, keys, bytes, max);
    const last = res.kvs[res.kvs.length - 1];
    const more = res.more && last !== undefined;
    if (more) {
      start = Buffer.concat([last.key, Buffer.from([0])]);
      next = read();
    }
    try {
      onPage(res.kvs, restarted);
    } catch (e) {
      if (more) next.catch(() => undefined); // not awaited any more
      throw e;
    }
    restarted = false;
    if (!more) return { revision };
  }
}
