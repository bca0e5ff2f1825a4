/**
 * Keeping a long read of many hosts in little memory. Each host's SSH handshake and facts leave
 * garbage that V8 lets build up (its heap grows to several times what is live before it collects
 * in full), so a plan of 10,000 hosts peaked at 320 MB with 25 MB live. `heapTrimmer` collects in
 * full every `every` hosts: about 20 collections of a small heap at 10,000 hosts, which bounds
 * the peak near what is live (docs/sharding.md, "Memory"; measured by `npm run bench`).
 *
 * Node gives a collector to call only with `--expose-gc`, which kpfleet does not ask its users to
 * pass: the flag is set at run time and the function taken from a fresh context. Where that is
 * not possible the trimmer does nothing: memory is then V8's own business, nothing else changes.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Hosts between two full collections. */
export const TRIM_EVERY_HOSTS = 500;

let collector: (() => void) | null | undefined;

/** V8's full collection, or null where it cannot be had. */
function fullCollection(): (() => void) | null {
  if (collector !== undefined) return collector;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    collector = typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    collector = null;
  }
  return collector;
}

/**
 * A function to call once per host done: every `every` calls it collects in full, except at the
 * `total`th (the last host: the run's garbage ends with it, and a full collection then only costs
 * CPU, 30 ms at 1,000 hosts). Nothing is done for runs shorter than `every` hosts. `collect` is
 * V8's full collection (a seam for tests).
 */
export function heapTrimmer(
  every = TRIM_EVERY_HOSTS,
  total = Infinity,
  collect: () => void = () => fullCollection()?.(),
): () => void {
  let n = 0;
  return () => {
    if (++n % every !== 0 || n >= total) return;
    collect();
  };
}
