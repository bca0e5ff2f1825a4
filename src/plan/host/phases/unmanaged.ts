/**
 * What nothing declares for this host (no declared patch, nor a predecessor of one): loaded
 * patches, inert leftovers, kpatch-patch packages and installed files. Kept and reported under
 * `unmanaged: keep`, removed under `unmanaged: remove` (the group policy).
 */
import { packageModule } from '../../packages.ts';
import { holds, type HostContext } from '../context.ts';
import { planPackageRemove, planUninstall, planUnload, type Draft } from '../draft.ts';

const REMOVE_REASON = 'unmanaged: remove (not declared for this host)';

export function unmanaged(ctx: HostContext, draft: Draft): void {
  const f = ctx.facts;
  const known = new Set([
    ...ctx.declared.map((d) => d.p.module),
    ...ctx.predecessors.map((q) => q.module),
  ]);
  const knownPatches = [...ctx.patches.values()].filter((p) => known.has(p.module));
  const remove = ctx.desired.unmanaged === 'remove';
  const describe = (m: string): string => {
    const name = catalogueName(ctx, m);
    return name !== undefined
      ? `${m} (catalogue patch ${name}, not declared for this host's groups)`
      : `${m} (not in the catalogue)`;
  };
  const seen = new Set<string>();
  const report = (m: string, message: string, kind: 'unmanaged' | 'disabled' = 'unmanaged') => {
    if (seen.has(`${kind}:${m}`)) return;
    seen.add(`${kind}:${m}`);
    const name = catalogueName(ctx, m);
    draft.findings.push({
      kind,
      severity: 'warning',
      module: m,
      ...(name !== undefined ? { patch: name } : {}),
      message,
    });
  };

  for (const lp of f.patches) {
    if (known.has(lp.name) || draft.unloading.has(lp.name)) continue;
    if (remove) planUnload(ctx, draft, lp.name, REMOVE_REASON, {});
    else if (lp.enabled === false)
      report(
        lp.name,
        `${describe(lp.name)} is loaded but disabled; kept (unmanaged: keep)`,
        'disabled',
      );
    else report(lp.name, `${describe(lp.name)} is loaded; kept (unmanaged: keep)`);
  }
  for (const mod of f.modules) {
    if (ctx.sysfs.has(mod.name) || known.has(mod.name) || draft.unloading.has(mod.name)) continue;
    if (remove) planUnload(ctx, draft, mod.name, `${REMOVE_REASON}; an inert leftover`, {});
    else
      report(
        mod.name,
        `${describe(mod.name)} is resident but inert (refcount ${String(mod.refcnt ?? '?')}, replaced); kept (unmanaged: keep)`,
      );
  }
  const unmanagedPackages = f.packages.filter((x) => {
    const m = packageModule(x);
    return m !== undefined && !known.has(m) && !draft.removingPackages.has(x);
  });
  const packagedModules = new Set(unmanagedPackages.map((x) => packageModule(x)));
  for (const x of unmanagedPackages) {
    if (remove) planPackageRemove(draft, x, REMOVE_REASON, {});
    else report(packageModule(x) ?? x, `package ${x} is installed; kept (unmanaged: keep)`);
  }
  for (const i of [...ctx.manager.store, ...ctx.manager.foreign]) {
    if (knownPatches.some((p) => holds(p, i)) || draft.uninstalling.has(i.path)) continue;
    if (remove && packagedModules.has(i.module)) continue; // the package removal uninstalls it
    if (remove) planUninstall(draft, i, REMOVE_REASON, {});
    else
      report(
        i.module,
        `${describe(i.module)} is installed for ${i.kernel}; kept (unmanaged: keep)`,
      );
  }
}

/** The catalogue name of a module, if the catalogue has it. */
function catalogueName(ctx: HostContext, m: string): string | undefined {
  return [...ctx.patches.values()].find((p) => p.module === m)?.name;
}
