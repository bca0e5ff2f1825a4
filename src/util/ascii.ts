/**
 * ASCII fast paths for Unicode patterns (issue 20, "a fast start"). V8 builds the sets of a
 * `\p{…}` class when such a pattern is made and compiles it at its first use: 0.5–1.5 ms each,
 * several per run, at every start (compiled patterns are not in the code cache). Where a string
 * is printable ASCII, a pattern of ASCII classes gives the same answer (each caller says why, and
 * its tests compare the two), and the Unicode one is made only for a string that needs it.
 */

const PRINTABLE_ASCII = /^[ -~]*$/;

/** Whether every character of `s` is printable ASCII (space to `~`: no control, no tab). */
export function isPrintableAscii(s: string): boolean {
  return PRINTABLE_ASCII.test(s);
}

/** A value made at its first use instead of when its module loads (a Unicode pattern). */
export function onFirstUse<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}
