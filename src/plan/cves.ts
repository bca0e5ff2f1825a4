/**
 * Which CVEs a catalogue patch fixes, and which ones a host's removals re-open: the one place
 * that attributes CVEs to patches. A patch fixes its own `cves:` and, since a cumulative patch
 * carries the fixes of the patches it `replaces`, theirs. The planner records what each host's
 * removals re-open (`HostPlan.reopens`); status reads the same attribution for coverage.
 */
import type { Patch } from '../config-model.ts';

/**
 * The CVEs of each named catalogue patch (every patch by default): its own and, transitively,
 * those of the patches it `replaces` (a cycle, which `validate` refuses, ends there).
 */
export function effectiveCves(
  patches: ReadonlyMap<string, Patch>,
  names: Iterable<string> = patches.keys(),
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const visit = (name: string, seen: Set<string>): string[] => {
    const done = out.get(name);
    if (done) return done;
    const p = patches.get(name);
    if (!p || seen.has(name)) return [];
    seen.add(name);
    const all = new Set(p.cves);
    for (const q of p.replaces) for (const c of visit(q, seen)) all.add(c);
    const list = [...all].sort();
    out.set(name, list);
    return list;
  };
  for (const name of names) visit(name, new Set());
  return out;
}

/** What a host runs before and after its changes, by module. */
export interface ModulesBeforeAfter {
  /** Modules enabled now. */
  enabledNow: readonly string[];
  /** Modules the changes unload while enabled (a leftover or a disabled module protects nothing). */
  unloaded: readonly { module: string; patch?: string }[];
  /** Modules the changes load. */
  loaded: readonly string[];
}

/**
 * The CVEs the removals re-open, sorted: those of the patches unloaded while enabled that no
 * patch enabled after the changes still fixes. A predecessor replaced by a cumulative successor
 * that carries its CVEs re-opens nothing. Empty when nothing enabled is unloaded.
 */
export function reopenedCves(patches: ReadonlyMap<string, Patch>, m: ModulesBeforeAfter): string[] {
  if (m.unloaded.length === 0) return [];
  const byModule = new Map<string, string[]>();
  for (const p of patches.values())
    byModule.set(p.module, [...(byModule.get(p.module) ?? []), p.name]);
  const gone = new Set(m.unloaded.map((u) => u.module));
  const lostNames = m.unloaded.flatMap((u) =>
    u.patch !== undefined && patches.has(u.patch) ? [u.patch] : (byModule.get(u.module) ?? []),
  );
  const after = [...m.enabledNow.filter((x) => !gone.has(x)), ...m.loaded];
  const keptNames = after.flatMap((x) => byModule.get(x) ?? []);
  const cves = effectiveCves(patches, [...lostNames, ...keptNames]);
  const kept = new Set(keptNames.flatMap((n) => cves.get(n) ?? []));
  const lost = new Set(lostNames.flatMap((n) => cves.get(n) ?? []));
  return [...lost].filter((c) => !kept.has(c)).sort();
}
