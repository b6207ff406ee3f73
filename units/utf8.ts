/**
 * UTF-8 as systemd 252 accepts it (its utf8_is_valid): well-formed sequences of at most 4 bytes, no
 * overlong encodings, no code points above U+10FFFF, no UTF-16 surrogates, and none of the
 * "noncharacters" U+FDD0..U+FDEF or U+xFFFE/U+xFFFF. That last rule is stricter than the WHATWG
 * decoder (TextDecoder with fatal: true accepts noncharacters), which is why this is hand-written.
 */

import { Buffer } from 'node:buffer';

/** Where a byte sequence stops being valid UTF-8, as systemd sees it. */
export interface Utf8Problem {
  /** Byte offset of the first byte of the offending sequence. */
  offset: number;
  /** The offending bytes (at most 4), for the error message. */
  bytes: number[];
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) === 0xc0) return 2;
  if ((lead & 0xf0) === 0xe0) return 3;
  if ((lead & 0xf8) === 0xf0) return 4;
  // 5- and 6-byte forms decode above U+10FFFF, so systemd rejects them too.
  return 0;
}

function minimumCodePoint(length: number): number {
  return length === 2 ? 0x80 : length === 3 ? 0x800 : 0x10000;
}

function isAllowedCodePoint(cp: number): boolean {
  if (cp >= 0x110000) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  if (cp >= 0xfdd0 && cp <= 0xfdef) return false;
  if ((cp & 0xfffe) === 0xfffe) return false;
  return true;
}

/** Returns undefined when `bytes[start, end)` is valid, else where it first goes wrong. */
export function findInvalidUtf8(bytes: Uint8Array, start = 0, end = bytes.length): Utf8Problem | undefined {
  let i = start;
  while (i < end) {
    const lead = bytes[i] as number;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const len = sequenceLength(lead);
    const bad = (): Utf8Problem => ({
      offset: i,
      bytes: Array.from(bytes.subarray(i, Math.min(end, i + 4))),
    });
    if (len === 0 || i + len > end) return bad();
    let cp = lead & (len === 2 ? 0x1f : len === 3 ? 0x0f : 0x07);
    for (let k = 1; k < len; k++) {
      const b = bytes[i + k] as number;
      if ((b & 0xc0) !== 0x80) return bad();
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < minimumCodePoint(len) || !isAllowedCodePoint(cp)) return bad();
    i += len;
  }
  return undefined;
}

/** The index of the first byte of `bytes[start, end)` that is not ASCII (>= 0x80), or `end`. */
export function asciiEnd(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let i = start;
  while (i < end && (bytes[i] as number) < 0x80) i++;
  return i;
}

const lone = /\p{Cs}/u;
/** U+FFFD in UTF-8. */
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/**
 * A JavaScript string as the bytes a file holding it would contain. Lone UTF-16 surrogates (which a
 * file cannot hold as valid UTF-8) become their 3-byte surrogate encodings, which systemd rejects, so
 * a malformed string is refused exactly like a malformed file instead of being silently repaired.
 *
 * The result holds exactly `text.length` bytes if and only if `text` is pure ASCII (any other UTF-16
 * code unit takes 2 or 3 bytes, a surrogate pair 4); the parser relies on that.
 */
export function stringToBytes(text: string): Uint8Array {
  // Fast path: Buffer.from encodes like TextEncoder, without an encoder per call: the same bytes
  // for every string without lone surrogates, and a lone surrogate becomes U+FFFD (EF BF BD) in
  // both. So if the bytes hold no EF BF BD (found by a native search, much faster than the regex),
  // the string has no lone surrogate and the bytes are right; else the regex decides (the string
  // may hold a real U+FFFD). Pure ASCII (as many bytes as characters) needs no search at all.
  const buf = Buffer.from(text, 'utf8');
  if (buf.length === text.length || buf.indexOf(REPLACEMENT) < 0 || !lone.test(text)) return buf;
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else
      out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.from(out);
}

/** `bytes` as a Buffer, for decodeUtf8: the same object if it is one, else a view (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Buffer's own range decoders, which Buffer.toString(encoding, start, end) calls after checking its
 * arguments and looking the encoding up. On lines of a few dozen bytes that wrapper costs about as
 * much as the decoding, so they are called directly when present (they are on Buffer.prototype in
 * every Node this runs on, but not in @types/node); toString stays as the fallback.
 */
interface RangeDecoders {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

const direct = (() => {
  const proto = Buffer.prototype as unknown as Partial<RangeDecoders>;
  return typeof proto.latin1Slice === 'function' && typeof proto.utf8Slice === 'function';
})();

/**
 * Decodes `buf[start, end)`, already checked with findInvalidUtf8 (a byte order mark is kept as
 * U+FEFF). `ascii` says the range is pure ASCII (asciiEnd reached `end`).
 *
 * Buffer's decoders take a range without a subarray view and are faster than TextDecoder.decode on
 * short lines. They give the same string: latin1 maps each byte to the code unit of the same value,
 * which for bytes below 0x80 is exactly their UTF-8 decoding; on valid UTF-8 (no replacement ever
 * needed) Buffer's UTF-8 decoder and TextDecoder agree, and neither drops a byte order mark here.
 */
export function decodeUtf8(buf: Buffer, start: number, end: number, ascii: boolean): string {
  if (!direct) return buf.toString(ascii ? 'latin1' : 'utf8', start, end);
  const b = buf as unknown as RangeDecoders;
  return ascii ? b.latin1Slice(start, end) : b.utf8Slice(start, end);
}
