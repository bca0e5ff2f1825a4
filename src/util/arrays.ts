/**
 * Array helpers for lists whose length a host or a file decides (modules, installed files,
 * hosts of a group, diagnostics). `push(...list)` and `Math.max(...list)` pass every element as
 * an argument: past about 100,000 elements they throw a RangeError (issue 14 §3). These loop.
 */

/** Appends every item to `target`, in order; returns `target`. */
export function pushAll<T>(target: T[], items: Iterable<T>): T[] {
  for (const item of items) target.push(item);
  return target;
}

/** The largest of `values`, or `empty` when there is none. */
export function maxOf(values: Iterable<number>, empty = 0): number {
  let max: number | undefined;
  for (const v of values) if (max === undefined || v > max) max = v;
  return max ?? empty;
}
