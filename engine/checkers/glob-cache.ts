/**
 * Conflicts=/Replaces= globs are matched against many unit names in one pass: plain names are
 * compared directly, and the results for real globs are remembered (units/glob compiles the
 * pattern on every call). Pure.
 */
import { globMatch } from '../../units/index.js';

/** True when the pattern has no glob syntax (fleet's path.Match: `*`, `?`, `[`, `\\`). */
export function isLiteralGlob(pattern: string): boolean {
  return !/[*?[\\]/.test(pattern);
}

export class GlobCache {
  private readonly memo = new Map<string, Map<string, boolean>>();

  matches(pattern: string, name: string): boolean {
    if (isLiteralGlob(pattern)) return pattern === name;
    let per = this.memo.get(pattern);
    if (!per) this.memo.set(pattern, (per = new Map()));
    let r = per.get(name);
    if (r === undefined) {
      r = globMatch(pattern, name);
      per.set(name, r);
    }
    return r;
  }
}
