/**
 * Loads: every patch declared loaded that fits the kernel and is not enabled is loaded (or
 * re-enabled), cumulative patches first. A patch that a cumulative patch of this plan may retire
 * (an atomic-replace build retires every patch enabled before it, docs/kpatch-behaviour.md §5.3)
 * is loaded again after it. The patches a loaded patch `replaces` are cleaned up after its load:
 * unloaded, and their files or packages removed unless they are declared installed.
 *
 * Also here: a patch declared installed only that is loaded but disabled is reported, not
 * re-enabled.
 */
import type { Patch } from '../../../config-model.ts';
import { basename } from '../../../util/text.ts';
import { versionAtLeast } from '../../../util/version.ts';
import { sameName } from '../../packages.ts';
import {
  byGroups,
  installedOf,
  installedPackageOf,
  isEnabled,
  retiredBy,
  type Declared,
  type HostContext,
} from '../context.ts';
import { planPackageRemove, planUninstall, planUnload, type Draft } from '../draft.ts';

export function loads(ctx: HostContext, draft: Draft): void {
  for (const d of ctx.loadedWanted) {
    const retired = retiredBy(d.p, ctx.patches);
    const loadPlanned = planLoad(ctx, draft, d, retired);
    for (const q of retired) retire(ctx, draft, d.p, q, loadPlanned);
  }
}

/** Declared installed only, and loaded but disabled (pre-5.1, or a reversed unload): reported. */
export function disabledInstalled(ctx: HostContext, draft: Draft): void {
  for (const d of ctx.fitting) {
    if (d.state !== 'installed' || ctx.sysfs.get(d.p.module)?.enabled !== false) continue;
    draft.findings.push({
      kind: 'disabled',
      severity: 'warning',
      patch: d.p.name,
      module: d.p.module,
      message: `${d.p.module} is loaded but disabled; ${d.p.name} is declared installed only, so it is left as it is (declare it loaded to re-enable it)`,
    });
  }
}

/** Plans the load of a declared patch if it needs one; whether it did. */
function planLoad(ctx: HostContext, draft: Draft, d: Declared, retired: Patch[]): boolean {
  const p = d.p;
  const m = p.module;
  // A cumulative patch loaded earlier in this plan may be an atomic-replace build, which
  // retires every patch enabled before it (§5.3): a patch that stacks on it is loaded again
  // (kpatch load is a no-op for a patch still enabled, §2.4 step 3).
  const cumulative = draft.cumulative;
  const reload = isEnabled(ctx, m) && cumulative !== undefined;
  if (isEnabled(ctx, m) && !reload) return false;
  const reenable = ctx.sysfs.has(m) && !isEnabled(ctx, m);
  const file = installedFileFor(ctx, p);
  draft.loads.push({
    action: 'load',
    patch: p.name,
    module: m,
    ...(file !== undefined ? { file } : {}),
    replacesModules: retired.map((q) => q.module).filter((qm) => isEnabled(ctx, qm)),
    reenable,
    // klp's loader always removes such a leftover itself (§K.3)
    ...(ctx.manager.name === 'kpatch' &&
    !ctx.sysfs.has(m) &&
    ctx.resident.has(m) &&
    !versionAtLeast(ctx.facts.kpatch.version, '0.9.4')
      ? { removesLeftover: true as const }
      : {}),
    cves: reload ? [] : [...p.cves],
    reason: reload
      ? `loaded again after ${cumulative}, which may retire it (atomic replace); a no-op if it is still enabled`
      : reenable
        ? `loaded but disabled: re-enabled (declared loaded${byGroups(d.groups)})`
        : `declared loaded${byGroups(d.groups)}`,
  });
  if (p.replaces.length > 0 && !reload) draft.cumulative ??= m;
  return true;
}

/**
 * The declared file as installed for the running kernel: where it is (by content), or where this
 * plan installs it. A package's module is loaded by name.
 */
function installedFileFor(ctx: HostContext, p: Patch): string | undefined {
  const src = p.source;
  if (src.kind !== 'file') return undefined;
  // klp: always `<module>.ko` (§K.1); kpatch: where the content is, under any name
  if (ctx.manager.name === 'klp')
    return ctx.manager.storePath(ctx.kernel, ctx.manager.storeFile(p));
  return (
    ctx.manager.store.find((x) => x.kernel === ctx.kernel && x.sha256 === src.sha256)?.path ??
    ctx.manager.storePath(ctx.kernel, basename(src.path))
  );
}

/** A predecessor `q` of `p`: unloaded after p's load, its files removed unless declared installed. */
function retire(ctx: HostContext, draft: Draft, p: Patch, q: Patch, loadPlanned: boolean): void {
  const of = { patch: q.name, ...(loadPlanned ? { after: p.module } : {}) };
  planUnload(
    ctx,
    draft,
    q.module,
    `replaced by ${p.name}: removed once ${p.module} is enabled`,
    of,
  );
  const qDecl = ctx.declared.find((x) => x.p.name === q.name);
  if (qDecl?.state === 'installed') return; // declared installed: its files stay
  const qPkg = installedPackageOf(ctx, q);
  if (qPkg !== undefined) {
    // the package's %postun uninstalls its file (§4.3): on removal, or when the successor's
    // package of the same name upgrades it
    if (!(p.source.kind === 'rpm' && sameName(qPkg, p.source.package)))
      planPackageRemove(draft, qPkg, `replaced by ${p.name}`, of);
    return;
  }
  for (const i of installedOf(ctx, q)) planUninstall(draft, i, `replaced by ${p.name}`, of);
}
