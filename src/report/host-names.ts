/**
 * Many host names in few words: a run of names with one prefix and consecutive numbers of the
 * same width becomes a range (`web01`, `web02`, `web03` → `web01–web03`), the rest are listed as
 * they are, in the order given, and past a limit the list ends with `and N more`. Pure; the
 * names are made safe to print before they come here.
 */

/** A name's prefix and trailing number (at most 15 digits, so that it is a safe integer). */
const NUMBERED = /^(.*?)(\d{1,15})$/;

interface Run {
  first: string;
  last: string;
  count: number;
}

/** The names as items: a range of two or more consecutive names, or one name. */
export function nameRuns(names: readonly string[]): Run[] {
  const runs: Run[] = [];
  let prev: { prefix: string; digits: number; n: number } | undefined;
  for (const name of names) {
    const m = NUMBERED.exec(name);
    const here = m
      ? { prefix: m[1] ?? '', digits: (m[2] ?? '').length, n: Number(m[2]) }
      : undefined;
    const last = runs.at(-1);
    if (
      last !== undefined &&
      prev !== undefined &&
      here !== undefined &&
      here.prefix === prev.prefix &&
      here.digits === prev.digits &&
      here.n === prev.n + 1
    ) {
      last.last = name;
      last.count++;
    } else runs.push({ first: name, last: name, count: 1 });
    prev = here;
  }
  return runs;
}

/**
 * `web01–web05, db02, batch01–batch03`; past `max` items, `… and N more` (N hosts). `code`
 * wraps each name for the format written (markdown's code spans); plain text by default.
 */
export function hostList(
  names: readonly string[],
  max: number,
  code: (s: string) => string = (s) => s,
): string {
  const runs = nameRuns(names);
  const shown = runs.slice(0, max);
  const items = shown.map((r) =>
    r.count === 1 ? code(r.first) : `${code(r.first)}–${code(r.last)}`,
  );
  const left = names.length - shown.reduce((n, r) => n + r.count, 0);
  return left > 0 ? `${items.join(', ')} and ${String(left)} more` : items.join(', ');
}
