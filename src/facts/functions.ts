/**
 * Which patch wins for a function several enabled patches change (docs/kpatch-behaviour.md §5.1,
 * §5.3): the one highest in the kernel's stack, which `stack_order` gives (6.13+). Without it the
 * order is not in sysfs (its listing is by name), so the winner is unknown. Pure.
 */
import type { LivepatchState } from './model.ts';

export interface SharedFunction {
  /** `vmlinux:cmdline_proc_show,1` */
  key: string;
  /** The enabled patches that change it, lowest in the stack first where it is known. */
  patches: string[];
  /** The one whose version runs; undefined where the kernel has no stack_order. */
  winner?: string;
}

/** Functions changed by two or more enabled patches, in key order. */
export function sharedFunctions(patches: readonly LivepatchState[]): SharedFunction[] {
  const by = new Map<string, LivepatchState[]>();
  for (const p of patches) {
    if (p.enabled !== true) continue;
    for (const f of p.functions ?? []) {
      const key = `${f.object}:${f.name},${String(f.sympos)}`;
      by.set(key, [...(by.get(key) ?? []), p]);
    }
  }
  const out: SharedFunction[] = [];
  for (const [key, ps] of [...by].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (ps.length < 2) continue;
    const ordered = ps.every((p) => p.stackOrder !== undefined);
    const sorted = ordered ? [...ps].sort((a, b) => (a.stackOrder ?? 0) - (b.stackOrder ?? 0)) : ps;
    const names = sorted.map((p) => p.name);
    out.push({
      key,
      patches: names,
      ...(ordered ? { winner: names[names.length - 1] ?? '' } : {}),
    });
  }
  return out;
}
