/**
 * fnmatch-style globs (`*`, `?`, `[...]`), as Ansible patterns and kpfleet's `kernel:` field use
 * them: Python's `fnmatch.translate` semantics (a `]` first in a set is literal, `[!…]` negates,
 * `a-z` ranges, an empty range `z-a` matches nothing, an unclosed `[` is literal), matched by
 * code point. Pure.
 *
 * No regular expression: a glob is compiled to tokens and matched with the two-pointer method
 * (keep the last `*`, on a mismatch let it take one more character), which never backtracks
 * further than that `*`. Its work is at most (value + 1) × (tokens + 1) steps, whatever the
 * value: a host's `uname -r` against `**x` costs a few steps per character, not a regex engine's
 * quadratic or worse backtracking.
 */

/** One position of a compiled glob: a literal, `?`, `*`, or a set. */
type Token =
  | { kind: 'char'; cp: number }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'set'; negate: boolean; ranges: [number, number][] };

export interface CompiledGlob {
  /** Whether `value` matches the whole glob. */
  match(value: string): boolean;
  /** The same, with the number of steps the matcher took (for tests and the bench). */
  matchCounted(value: string): { matched: boolean; steps: number };
}

const cache = new Map<string, CompiledGlob>();
const wildcards = new Map<string, CompiledGlob>();

export function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

export function compileGlob(glob: string): CompiledGlob {
  const cached = cache.get(glob);
  if (cached) return cached;
  const tokens = tokenize(glob);
  const compiled: CompiledGlob = {
    match: (value) => run(tokens, value).matched,
    matchCounted: (value) => run(tokens, value),
  };
  cache.set(glob, compiled);
  return compiled;
}

/**
 * OpenSSH's wildcards (`match_pattern`): `*` and `?` only, every other character literal (no
 * sets). The same matcher, the same bound. The patterns come from files (known_hosts), so at most
 * 10,000 are kept compiled.
 */
export function compileWildcard(pattern: string): CompiledGlob {
  const cached = wildcards.get(pattern);
  if (cached) return cached;
  const tokens = tokenize(pattern, false);
  const compiled: CompiledGlob = {
    match: (value) => run(tokens, value).matched,
    matchCounted: (value) => run(tokens, value),
  };
  if (wildcards.size >= 10_000) wildcards.clear();
  wildcards.set(pattern, compiled);
  return compiled;
}

export function globMatch(glob: string, value: string): boolean {
  return isGlob(glob) ? compileGlob(glob).match(value) : glob === value;
}

/** A string's code points, read one at a time (a value without surrogates is read in place). */
interface CodePoints {
  length: number;
  at(i: number): number;
}

function codePoints(s: string): CodePoints {
  if (!/[\uD800-\uDFFF]/.test(s)) return { length: s.length, at: (i) => s.charCodeAt(i) };
  const cps = Array.from(s, (c) => c.codePointAt(0) ?? 0);
  return { length: cps.length, at: (i) => cps[i] ?? 0 };
}

function tokenize(glob: string, sets = true): Token[] {
  const p = Array.from(glob, (c) => c.codePointAt(0) ?? 0);
  const out: Token[] = [];
  const BANG = 0x21;
  const CLOSE = 0x5d;
  for (let i = 0; i < p.length;) {
    const c = p[i++] ?? 0;
    if (c === 0x2a) {
      if (out.at(-1)?.kind !== 'star') out.push({ kind: 'star' }); // `**` is `*`
    } else if (c === 0x3f) out.push({ kind: 'any' });
    else if (c === 0x5b && sets) {
      let j = i;
      if (p[j] === BANG) j++;
      if (p[j] === CLOSE) j++;
      while (j < p.length && p[j] !== CLOSE) j++;
      if (j >= p.length) {
        out.push({ kind: 'char', cp: c }); // no closing `]`: a literal `[`
        continue;
      }
      out.push(setToken(p.slice(i, j)));
      i = j + 1;
    } else out.push({ kind: 'char', cp: c });
  }
  return out;
}

/**
 * The set between `[` and `]`, as fnmatch.translate reads it: `!` first negates; a `-` between two
 * characters is a range, found left to right, the end of one range never starting the next; other
 * `-` are literal; a range whose start is above its end is dropped.
 */
function setToken(body: number[]): Token {
  const DASH = 0x2d;
  const negate = body[0] === 0x21;
  const chars = negate ? body.slice(1) : body;
  if (!chars.includes(DASH)) {
    return { kind: 'set', negate, ranges: chars.map((c) => [c, c]) };
  }
  // chunks split at the range dashes (fnmatch: search for `-` from start + 1, then skip 2 past it)
  const chunks: number[][] = [];
  let start = 0;
  let k = 1;
  for (;;) {
    k = chars.indexOf(DASH, k);
    if (k < 0) break;
    chunks.push(chars.slice(start, k));
    start = k + 1;
    k += 3;
  }
  const last = chars.slice(start);
  if (last.length > 0) chunks.push(last);
  else chunks[chunks.length - 1]?.push(DASH); // a `-` just before `]` is literal
  // an empty range (`z-a`): drop its two ends, joining the chunks around it
  for (let n = chunks.length - 1; n > 0; n--) {
    const prev = chunks[n - 1] ?? [];
    const next = chunks[n] ?? [];
    if ((prev.at(-1) ?? 0) > (next[0] ?? 0)) {
      chunks[n - 1] = [...prev.slice(0, -1), ...next.slice(1)];
      chunks.splice(n, 1);
    }
  }
  // the chunks joined by range dashes, read as a regex reads a class: `x-y` is a range, any other
  // `-` (inside a chunk) a literal
  const RANGE = -1;
  const seq = chunks.flatMap((chunk, n) => (n === 0 ? chunk : [RANGE, ...chunk]));
  const ranges: [number, number][] = [];
  for (let i = 0; i < seq.length;) {
    const lo = seq[i] === RANGE ? DASH : (seq[i] ?? 0);
    const hi = seq[i + 2];
    if (seq[i + 1] === RANGE && hi !== undefined) {
      ranges.push([lo, hi === RANGE ? DASH : hi]);
      i += 3;
    } else {
      ranges.push([lo, lo]);
      i++;
    }
  }
  return { kind: 'set', negate, ranges };
}

function matches(t: Token, c: number): boolean {
  switch (t.kind) {
    case 'char':
      return t.cp === c;
    case 'any':
      return true;
    case 'star':
      return false;
    case 'set':
      return t.ranges.some(([lo, hi]) => lo <= c && c <= hi) !== t.negate;
  }
}

/** The two-pointer match; `steps` counts the loop's turns. */
function run(tokens: readonly Token[], value: string): { matched: boolean; steps: number } {
  const v = codePoints(value);
  let t = 0;
  let s = 0;
  let star = -1; // index of the last `*` seen
  let starAt = 0; // where that `*` began taking characters
  let steps = 0;
  while (s < v.length) {
    steps++;
    const tok = tokens[t];
    if (tok !== undefined && tok.kind !== 'star' && matches(tok, v.at(s))) {
      t++;
      s++;
    } else if (tok?.kind === 'star') {
      star = t++;
      starAt = s;
    } else if (star >= 0) {
      t = star + 1;
      s = ++starAt;
    } else return { matched: false, steps };
  }
  while (tokens[t]?.kind === 'star') {
    steps++;
    t++;
  }
  return { matched: t === tokens.length, steps };
}
