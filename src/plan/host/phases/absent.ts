/**
 * Removals of patches declared absent: unloaded, and their package removed (whose %postun
 * uninstalls the file, §4.3) or their installed files uninstalled, on every kernel.
 */
import { byGroups, installedOf, installedPackageOf, type HostContext } from '../context.ts';
import { planPackageRemove, planUninstall, planUnload, type Draft } from '../draft.ts';

export function absent(ctx: HostContext, draft: Draft): void {
  for (const d of ctx.declared.filter((x) => x.state === 'absent')) {
    const why = `declared absent${byGroups(d.groups)}`;
    const of = { patch: d.p.name };
    planUnload(ctx, draft, d.p.module, why, of);
    const pkg = installedPackageOf(ctx, d.p);
    if (pkg !== undefined) {
      // its %postun uninstalls the file (§4.3); a separate uninstall would then fail
      planPackageRemove(draft, pkg, why, of);
      continue;
    }
    for (const i of installedOf(ctx, d.p)) planUninstall(draft, i, why, of);
  }
}
