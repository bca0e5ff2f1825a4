/** Small text helpers shared by the planner and the renderers. Pure. */

/** `1 host`, `2 hosts`, `3 patches`; `words` for any other plural form. */
export function plural(
  n: number,
  word: string,
  words = `${word}${/(s|sh|ch|x)$/.test(word) ? 'es' : 's'}`,
): string {
  return `${String(n)} ${n === 1 ? word : words}`;
}

/** The last component of a `/`-separated path (remote paths are POSIX whatever runs kpfleet). */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
