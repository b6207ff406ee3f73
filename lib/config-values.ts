/**
 * Pure parsers for configuration values: text in, a typed value or the reason it is refused.
 * Each parser's `allowed` text says what would be accepted, for error messages.
 */
import { isIP } from 'node:net';

export type Parsed<T> = { ok: true; value: T } | { ok: false; why: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = <T>(why: string): Parsed<T> => ({ ok: false, why });

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's time.ParseDuration syntax (as fleet's agent_ttl), non-negative: "30s", "1m30s", "1.5h",
 * "300ms", "0". Returns milliseconds.
 */
export function parseGoDuration(text: string): Parsed<number> {
  const s = text.trim();
  if (s === '0') return ok(0);
  if (s === '') return no('it is empty');
  if (s.startsWith('-')) return no('it is negative');
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = s.startsWith('+') ? 1 : 0;
  if (pos === s.length) return no('it has no number');
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) {
      return /^[+]?[\d.]+$/.test(s)
        ? no('it has no unit')
        : no(`"${s.slice(pos)}" is not a number with a unit`);
    }
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return ok(total);
}

/** A number of seconds ("1.5") or a Go duration ("1500ms"), as milliseconds; must be > 0. */
export function parseSecondsOrDuration(text: string): Parsed<number> {
  const s = text.trim();
  let ms: number;
  if (/^[+]?(\d+(\.\d*)?|\.\d+)$/.test(s)) {
    ms = Number(s) * 1000;
  } else {
    const d = parseGoDuration(s);
    if (!d.ok) return d;
    ms = d.value;
  }
  if (!(ms > 0)) return no('it must be greater than 0');
  return ok(ms);
}

/** An etcd lease TTL: whole seconds, at least `min` (etcd grants no shorter lease). */
export function parseLeaseTtl(text: string, min: number): Parsed<number> {
  const d = parseSecondsOrDuration(text);
  if (!d.ok) return d;
  const seconds = d.value / 1000;
  if (!Number.isInteger(seconds))
    return no(`${seconds} s is not a whole number of seconds (etcd leases are)`);
  if (seconds < min) return no(`${seconds} s is shorter than ${min} s, the shortest lease etcd grants`);
  return ok(seconds);
}

/** Go's strconv.ParseBool, as fleet's boolean options. */
export function parseBool(text: string): Parsed<boolean> {
  const s = text.trim();
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return ok(true);
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return ok(false);
  return no('it is not a boolean');
}

export function parseNonNegativeInt(text: string): Parsed<number> {
  const s = text.trim();
  if (!/^\+?\d+$/.test(s)) return no('it is not a whole number >= 0');
  const n = Number(s);
  return Number.isSafeInteger(n) ? ok(n) : no('it is too large');
}

/** An IPv4 or IPv6 address; empty means "not set". */
export function parseIpOrEmpty(text: string): Parsed<string | undefined> {
  const s = text.trim();
  if (s === '') return ok(undefined);
  return isIP(s) !== 0 ? ok(s) : no('it is not an IPv4 or IPv6 address');
}

/** An absolute path. */
export function parseAbsolutePath(text: string): Parsed<string> {
  const s = text.trim();
  if (s === '') return no('it is empty');
  if (!s.startsWith('/')) return no('it is not an absolute path');
  if (s.includes('\0')) return no('it contains a NUL byte');
  return ok(s);
}

/** A path (file options); empty means "not set". */
export function parsePathOrEmpty(text: string): Parsed<string | undefined> {
  const s = text.trim();
  if (s === '') return ok(undefined);
  if (s.includes('\0')) return no('it contains a NUL byte');
  return ok(s);
}

/** Any text; empty means "not set". */
export function parseTextOrEmpty(text: string): Parsed<string | undefined> {
  return ok(text === '' ? undefined : text);
}

/** etcd key prefix: starts with "/", no whitespace or control characters; a "/" is appended if missing. */
export function parseKeyPrefix(text: string): Parsed<string> {
  const s = text.trim();
  if (!s.startsWith('/')) return no('it does not start with "/"');
  if (/[\s\p{Cc}]/u.test(s)) return no('it contains whitespace or a control character');
  return ok(s.endsWith('/') ? s : `${s}/`);
}

/**
 * etcd endpoints: "url,url" or fleet's documented ["url","url"] form. Each is http(s)://host:port
 * (no path, no user info); all share one scheme (the etcd3 client cannot mix them).
 */
export function parseEndpoints(text: string): Parsed<string[]> {
  const s = text.trim();
  let items: string[];
  if (s.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      return no('it starts with "[" but is not a JSON list of strings');
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      return no('it is not a JSON list of strings');
    }
    items = parsed.map((x: string) => x.trim());
  } else {
    items = s.split(',').map((x) => x.trim());
  }
  items = items.filter((x) => x !== '');
  if (items.length === 0) return no('it lists no endpoint');
  const out: string[] = [];
  for (const item of items) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(item)) {
      return no(`"${item}" is not http:// or https:// (write http://${item} or https://${item})`);
    }
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      return no(`"${item}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return no(`"${item}" is not http:// or https://`);
    if (url.username || url.password) return no(`"${item}" has user info; use etcd_username/etcd_password`);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      return no(`"${item}" has a path; give only scheme, host and port`);
    }
    const authority = item.replace(/^[a-z]+:\/\//i, '').replace(/\/$/, '');
    if (!/:\d+$/.test(authority)) return no(`"${item}" has no port (etcd's client port is usually 2379)`);
    // URL drops a scheme's default port (http://h:80): put it back, grpc needs host:port.
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    out.push(`${url.protocol}//${url.hostname}:${port}`);
  }
  const schemes = new Set(out.map((u) => u.split(':')[0]));
  if (schemes.size > 1) return no('it mixes http:// and https:// endpoints');
  return ok(out);
}

/** A whole number in [min, max]. */
export function parseIntInRange(text: string, min: number, max: number): Parsed<number> {
  const s = text.trim();
  if (!/^\+?\d+$/.test(s)) return no('it is not a whole number');
  const n = Number(s);
  if (n < min || n > max) return no(`it is not between ${min} and ${max}`);
  return ok(n);
}

/** "host:port" or "[v6]:port" (host may be empty: every address); empty means "not set". */
export function parseHostPortOrEmpty(text: string): Parsed<{ host: string; port: number } | undefined> {
  const s = text.trim();
  if (s === '') return ok(undefined);
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(s);
  if (!m) return no('it is not host:port (e.g. 127.0.0.1:49153, [::1]:49153, :49153)');
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return no('the port is not between 1 and 65535');
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(host) !== 6) return no(`[${host}] is not an IPv6 address`);
  return ok({ host, port });
}
