/** Small text helpers shared by the planner and the renderers. Pure. */

/** `1 host`, `2 hosts`, `3 patches`; `words` for any other plural form. */
export function plural(
  n: number,
  word: string,
  words = `${word}${/(s|sh|ch|x)$/.test(word) ? 'es' : 's'}`,
): string {
  return `${String(n)} ${n === 1 ? word : words}`;
}

/**
 * `text` without the characters of `chars` at its end. No regular expression: `/x+$/` is tried
 * from every position of the input, quadratic on a long run of `x` followed by something else.
 */
export function trimEndChars(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text.charAt(end - 1))) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** The last component of a `/`-separated path (remote paths are POSIX whatever runs kpfleet). */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The end of a host's output, for a record or a message: its last `lines` lines, and at most
 * `chars` characters of them (`…` marks a line cut short), so no host can make either large.
 */
export function tailText(text: string, lines: number, chars: number): string {
  const all = text.trim();
  const window = all.length > chars ? all.slice(-chars) : all;
  const parts = window.split('\n');
  const kept = parts.slice(-lines);
  // the first line kept was cut by the character limit
  const partial = window.length < all.length && kept.length === parts.length;
  return (partial ? '…' : '') + kept.join('\n');
}

/**
 * A copy of `text` that keeps nothing else alive. V8 makes a piece of a string (`slice`, a
 * regular expression's match) of 13 characters or more a view into the whole: a kernel release
 * cut out of a host's probe output holds all of that output (up to 8 MiB) for as long as the
 * release is kept. JSON's round trip makes a string of its own, lone surrogates included.
 */
export function ownCopy(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/**
 * For strings kept for the whole run, one or more per host (a kernel release, a plan's reason):
 * each an `ownCopy`, and equal ones one string (10,000 hosts share their few kernels).
 */
export function stringPool(): (text: string) => string {
  const pool = new Map<string, string>();
  return (text) => {
    let kept = pool.get(text);
    if (kept === undefined) {
      kept = ownCopy(text);
      pool.set(kept, kept);
    }
    return kept;
  };
}
