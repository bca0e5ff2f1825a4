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
