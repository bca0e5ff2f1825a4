/**
 * What sysfs says of a loaded patch's build (docs/kpatch-behaviour.md §5.1 `replace`, 6.11+): an
 * atomic-replace build that kpfleet.yml declares without `replaces` retires every patch loaded
 * before it whenever it is loaded again (at boot, or by a later plan), though the planner cannot
 * know so from the catalogue. Reported where other patches are declared loaded with it; where the
 * kernel has no `replace` file nothing is known, and nothing is said. Also: for each function
 * several enabled patches change, which one runs (information).
 */
import { sharedFunctions } from '../../../facts/functions.ts';
import type { HostContext } from '../context.ts';
import type { Draft } from '../draft.ts';

/** At most this many functions shared by several patches are named per host (then a count). */
const SHARED_SHOWN = 10;

export function replaceMode(ctx: HostContext, draft: Draft): void {
  sharedFunctionNotes(ctx, draft);
  const wanted = ctx.loadedWanted;
  if (wanted.length < 2) return;
  for (const d of wanted) {
    if (ctx.sysfs.get(d.p.module)?.replace !== true || d.p.replaces.length > 0) continue;
    const others = wanted.filter((x) => x !== d).map((x) => x.p.name);
    draft.findings.push({
      kind: 'replace-undeclared',
      severity: 'warning',
      patch: d.p.name,
      module: d.p.module,
      message: `${d.p.module} is an atomic-replace build (sysfs replace=1), but kpfleet.yml does not say what ${d.p.name} replaces: whenever it is loaded again (at boot, or by a later run) it retires every patch loaded before it (${others.join(', ')}). Declare replaces: for it, or build it with --no-replace`,
    });
  }
}

/**
 * Which loaded patch runs for a function that several enabled patches change (§5.1): the highest
 * `stack_order`, where the kernel has it. Information, not a warning: stacking is allowed.
 */
function sharedFunctionNotes(ctx: HostContext, draft: Draft): void {
  const shared = sharedFunctions(ctx.facts.patches);
  for (const sf of shared.slice(0, SHARED_SHOWN)) {
    draft.findings.push({
      kind: 'function-overlap',
      severity: 'info',
      message: `${sf.key} is changed by ${sf.patches.join(', ')}: ${sf.winner !== undefined ? `${sf.winner}'s version runs (highest stack_order)` : 'which version runs is unknown (the kernel has no stack_order)'}`,
    });
  }
  if (shared.length > SHARED_SHOWN)
    draft.findings.push({
      kind: 'function-overlap',
      severity: 'info',
      message: `and ${String(shared.length - SHARED_SHOWN)} more functions changed by several patches (kpfleet facts lists them)`,
    });
}
