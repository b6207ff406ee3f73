/**
 * Glob patterns as fleet matches Conflicts= and Replaces= against unit names: Go's `path.Match`.
 * Pure: no I/O.
 *
 *   *          any run of characters except "/"
 *   ?          one character except "/"
 *   [abc] [a-z] [^a-z]   a character class (non-empty; "\" escapes inside it)
 *   \c         the character c
 *
 * The whole name must match. A malformed pattern (unterminated "[", empty class, trailing "\")
 * matches nothing, as in fleet (which logs the error and moves on); globProblem() says why.
 */

type Token =
  | { kind: 'lit'; ch: string }
  | { kind: 'one' }
  | { kind: 'star' }
  | { kind: 'class'; negated: boolean; ranges: Array<[string, string]> };

/** A malformed glob pattern. */
export class GlobPatternError extends Error {
  override readonly name = 'GlobPatternError';
  constructor(
    readonly pattern: string,
    readonly reason: string,
  ) {
    super(`bad glob pattern ${JSON.stringify(pattern)}: ${reason}`);
  }
}

function compile(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  let i = 0;
  const bad = (reason: string): never => {
    throw new GlobPatternError(pattern, reason);
  };
  // One class member: a character other than "-" or "]" (or any character after "\").
  const member = (): string => {
    const c = chars[i];
    if (c === undefined) return bad('unterminated "[" (add a closing "]")');
    if (c === '-' || c === ']')
      return bad(`unexpected ${JSON.stringify(c)} in a character class (escape it with "\\")`);
    if (c === '\\') {
      i++;
      const e = chars[i];
      if (e === undefined) return bad('"\\" at the end of a character class');
      i++;
      return e;
    }
    i++;
    return c;
  };
  while (i < chars.length) {
    const c = chars[i] as string;
    if (c === '*') {
      tokens.push({ kind: 'star' });
      i++;
    } else if (c === '?') {
      tokens.push({ kind: 'one' });
      i++;
    } else if (c === '\\') {
      const e = chars[i + 1];
      if (e === undefined) bad('"\\" at the end of the pattern escapes nothing');
      tokens.push({ kind: 'lit', ch: e as string });
      i += 2;
    } else if (c === '[') {
      i++;
      let negated = false;
      if (chars[i] === '^') {
        negated = true;
        i++;
      }
      const ranges: Array<[string, string]> = [];
      while (true) {
        if (chars[i] === ']' && ranges.length > 0) {
          i++;
          break;
        }
        const lo = member();
        let hi = lo;
        if (chars[i] === '-') {
          i++;
          hi = member();
        }
        // Go requires something (at least the closing "]") after every member.
        if (i >= chars.length) bad('unterminated "[" (add a closing "]")');
        ranges.push([lo, hi]);
      }
      tokens.push({ kind: 'class', negated, ranges });
    } else {
      tokens.push({ kind: 'lit', ch: c });
      i++;
    }
  }
  return tokens;
}

/** Why `pattern` is not a valid glob, or null when it is. */
export function globProblem(pattern: string): string | null {
  try {
    compile(pattern);
    return null;
  } catch (err) {
    if (err instanceof GlobPatternError) return err.reason;
    throw err;
  }
}

function tokenMatches(t: Token, c: string): boolean {
  switch (t.kind) {
    case 'lit':
      return t.ch === c;
    case 'one':
      return c !== '/';
    case 'class': {
      const cp = c.codePointAt(0) as number;
      const inside = t.ranges.some(
        ([lo, hi]) => (lo.codePointAt(0) as number) <= cp && cp <= (hi.codePointAt(0) as number),
      );
      return inside !== t.negated;
    }
    case 'star':
      return false;
  }
}

/**
 * Whether `name` matches `pattern` as Go's path.Match decides. A malformed pattern matches
 * nothing (use globProblem to report it).
 */
export function globMatch(pattern: string, name: string): boolean {
  let tokens: Token[];
  try {
    tokens = compile(pattern);
  } catch (err) {
    if (err instanceof GlobPatternError) return false;
    throw err;
  }
  const s = Array.from(name);
  // Dynamic programming over (token, position): no exponential backtracking, and a star that
  // cannot cross "/" is handled exactly (a greedy single-backtrack matcher gets that wrong).
  // reach[si] is true when tokens[0..ti) can match s[0..si).
  let reach: boolean[] = new Array<boolean>(s.length + 1).fill(false);
  reach[0] = true;
  for (const t of tokens) {
    const next: boolean[] = new Array<boolean>(s.length + 1).fill(false);
    for (let si = 0; si <= s.length; si++) {
      if (!reach[si]) continue;
      if (t.kind === 'star') {
        next[si] = true;
        for (let j = si; j < s.length && s[j] !== '/'; j++) next[j + 1] = true;
      } else if (si < s.length && tokenMatches(t, s[si] as string)) {
        next[si + 1] = true;
      }
    }
    reach = next;
  }
  return reach[s.length] === true;
}
