/** Kernel release patterns (`kernel:` in the catalogue): a release, or a glob, matched against `uname -r`. */
import { globMatch, isGlob } from '../util/glob.ts';

/** Characters of a kernel release, plus the glob characters. */
const KERNEL_PATTERN = /^[A-Za-z0-9._+~\-*?[\]!]+$/;

export function isKernelPattern(s: string): boolean {
  return KERNEL_PATTERN.test(s);
}

export function kernelMatches(patterns: readonly string[], release: string): boolean {
  return patterns.some((p) => globMatch(p, release));
}

/**
 * Whether some release could match both patterns. Exact for `*` and `?`; a `[...]` class is
 * treated as any one character, so the answer errs towards "they overlap".
 */
export function patternsOverlap(a: string, b: string): boolean {
  if (!isGlob(a) && !isGlob(b)) return a === b;
  const ta = tokens(a);
  const tb = tokens(b);
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (tb.length + 1) + j;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    let r: boolean;
    const x = ta[i];
    const y = tb[j];
    if (x === undefined && y === undefined) r = true;
    else if (x === '*') r = go(i + 1, j) || (y !== undefined && go(i, j + 1));
    else if (y === '*') r = go(i, j + 1) || (x !== undefined && go(i + 1, j));
    else if (x === undefined || y === undefined) r = false;
    else r = (x === '?' || y === '?' || x === y) && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

function tokens(glob: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close !== -1) {
        out.push('?');
        i = close;
        continue;
      }
    }
    if (c === '*' && out[out.length - 1] === '*') continue;
    out.push(c);
  }
  return out;
}

export function kernelsOverlap(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) => b.some((y) => patternsOverlap(x, y)));
}
