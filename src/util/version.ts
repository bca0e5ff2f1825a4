/**
 * Version ordering as `sort -V` and rpmvercmp see it, close enough for kernel releases and kpatch
 * versions: runs of digits compare as numbers, other runs as text, separators are ignored.
 */
export function compareVersions(a: string, b: string): number {
  const ta = a.match(/\d+|[A-Za-z]+/g) ?? [];
  const tb = b.match(/\d+|[A-Za-z]+/g) ?? [];
  for (let i = 0; i < Math.max(ta.length, tb.length); i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d < 0 ? -1 : 1;
    } else if (nx !== ny) {
      return nx ? 1 : -1; // rpm: a number is newer than letters
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

/** `kpatch version` output (e.g. `0.9.7`, `0.9.10-20.el9`) is at least `min`. */
export function versionAtLeast(version: string | undefined, min: string): boolean {
  if (version === undefined) return false;
  const core = /^\d+(?:\.\d+)*/.exec(version.trim())?.[0];
  return core !== undefined && compareVersions(core, min) >= 0;
}
