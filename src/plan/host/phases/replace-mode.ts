/**
 * What sysfs says of a loaded patch's build (docs/kpatch-behaviour.md §5.1 `replace`, 6.11+): an
 * atomic-replace build that kpfleet.yml declares without `replaces` retires every patch loaded
 * before it whenever it is loaded again (at boot, or by a later plan), though the planner cannot
 * know so from the catalogue. Reported where other patches are declared loaded with it; where the
 * kernel has no `replace` file nothing is known, and nothing is said.
 */
import type { HostContext } from '../context.ts';
import type { Draft } from '../draft.ts';

export function replaceMode(ctx: HostContext, draft: Draft): void {
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
