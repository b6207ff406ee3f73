/**
 * fleet's page tokens, bit for bit: two little-endian uint16s (limit, page number from 1), in
 * URL-safe base64 with padding. A client must send back the token it got; a token made for another
 * limit is refused, as fleet does. Pure.
 */
import { ApiError } from './errors.js';

export interface PageToken {
  limit: number;
  page: number;
}

export function encodePageToken(t: PageToken): string {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(t.limit, 0);
  b.writeUInt16LE(t.page, 2);
  return b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Decodes ?nextPageToken= (all its values); undefined when absent. Throws ApiError(400). */
export function pageTokenFrom(values: readonly string[], limit: number): PageToken | undefined {
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new ApiError(400, 'too many values for page token; send one nextPageToken');
  const v = values[0]!;
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw new ApiError(
      400,
      `page token ${JSON.stringify(v)} is not URL-safe base64; send back the nextPageToken you got`,
    );
  }
  const b = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (b.length < 4) throw new ApiError(400, `page token ${JSON.stringify(v)} is too short`);
  const tok = { limit: b.readUInt16LE(0), page: b.readUInt16LE(2) };
  if (tok.limit !== limit) throw new ApiError(400, `token limit must be ${limit}`);
  if (tok.page === 0) throw new ApiError(400, 'token page must be greater than zero');
  return tok;
}

/** The largest page a client may ask for (a token holds the limit in 16 bits). */
export const MAX_PAGE_SIZE = 0xffff;

/**
 * fleet-ts extension: `?pageSize=N` asks for pages of N items instead of token_limit (fleetctl asks
 * for big pages: one round trip per listing). Tokens then carry N, and the same pageSize must come
 * with them. fleet's own servers ignore the parameter. Throws ApiError(400) on a bad value.
 */
export function pageSizeFrom(values: readonly string[]): number | undefined {
  if (values.length === 0) return undefined;
  const v = values[values.length - 1]!;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MAX_PAGE_SIZE) {
    throw new ApiError(
      400,
      `pageSize=${JSON.stringify(v)} must be a number of items from 1 to ${MAX_PAGE_SIZE}`,
    );
  }
  return Number(v);
}

/** One page of `all` and the token of the next, if there may be one (fleet's arithmetic). */
export function pageOf<T>(all: readonly T[], tok: PageToken): { items: T[]; next: string | undefined } {
  const start = (tok.page - 1) * tok.limit;
  let stop = tok.page * tok.limit;
  let next: string | undefined;
  if (start >= all.length) return { items: [], next: undefined };
  if (stop > all.length) stop = all.length;
  else if (tok.page < 0xffff) next = encodePageToken({ limit: tok.limit, page: tok.page + 1 });
  return { items: all.slice(start, stop), next };
}
