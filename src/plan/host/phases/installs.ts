/**
 * Installs: every patch declared loaded or installed is installed for the running kernel if it
 * fits it (so it loads again at boot, docs/kpatch-behaviour.md §4.2), and for each newer kernel
 * installed on the host that it names. A file patch is uploaded once and installed with
 * `kpatch install` (a stale copy of it, by sha256, is uninstalled first); a package patch is
 * installed with dnf/yum, or its own copy installed again if someone uninstalled it.
 */
import type { Patch, PatchSource } from '../../../config-model.ts';
import type { InstalledModule } from '../../../facts/model.ts';
import { installFolder, STAGING_DIR } from '../../../host-paths.ts';
import { basename } from '../../../util/text.ts';
import { compareVersions } from '../../../util/version.ts';
import { postLoads, sameName } from '../../packages.ts';
import {
  byGroups,
  holds,
  installedPackageOf,
  storedOf,
  isEnabled,
  type HostContext,
} from '../context.ts';
import { storeOf } from '../manager.ts';
import { planUninstall, type Draft } from '../draft.ts';

type FileSource = Extract<PatchSource, { kind: 'file' }>;

export function installs(ctx: HostContext, draft: Draft): void {
  const K = ctx.kernel;
  // Installed for the running kernel (declared loaded or installed, fitting the kernel).
  for (const d of ctx.fitting) {
    // "loaded but not installed" only when no copy at all is installed (a stale copy is a
    // checksum finding), in neither store: a host moving between managers still has the other
    // manager's copy, which a reboot would load (§K.6)
    const own = storedOf(ctx, d.p).some((i) => i.kernel === K);
    const other = own
      ? undefined
      : ctx.manager.foreign.find((i) => i.kernel === K && holds(d.p, i));
    const declared = `declared ${d.state}${byGroups(d.groups)}`;
    const why =
      other !== undefined
        ? `${declared}; the host's manager is ${ctx.manager.name}, and ${other.path} is the ${storeOf(other)} manager's copy`
        : d.state === 'loaded' && isEnabled(ctx, d.p.module) && !own
          ? `loaded but not installed: it would be lost at reboot (${declared})`
          : declared;
    ensureInstalled(ctx, draft, { p: d.p, kernel: K, why });
  }
  // Declared for a newer kernel that is installed on the host: installed for it, not loaded.
  for (const d of ctx.present) {
    for (const k of ctx.facts.kernels) {
      if (k === K || compareVersions(k, K) <= 0 || !d.p.kernels.includes(k)) continue;
      const why = `declared ${d.state}${byGroups(d.groups)}, for kernel ${k} (installed, not running)`;
      ensureInstalled(ctx, draft, { p: d.p, kernel: k, why });
    }
  }
}

/** A patch to install for a kernel, and why. */
interface Target {
  p: Patch;
  kernel: string;
  why: string;
}

function ensureInstalled(ctx: HostContext, draft: Draft, t: Target): void {
  const src = t.p.source;
  if (src.kind === 'file') ensureFileInstalled(ctx, draft, t, src);
  else ensurePackageInstalled(ctx, draft, t, src.package);
}

function ensureFileInstalled(ctx: HostContext, draft: Draft, t: Target, src: FileSource): void {
  const { p, kernel, why } = t;
  const file = basename(src.path);
  const stored = ctx.manager.storeFile(p);
  const sha = src.sha256;
  const here = ctx.manager.store.filter(
    (i) => i.kernel === kernel && (i.file === stored || i.module === p.module || i.sha256 === sha),
  );
  // kpatch's store: the declared content under any name; klp's: under `<module>.ko` only, the
  // name its boot script and crash guard know it by (§K.1)
  const good = (i: InstalledModule) =>
    i.sha256 === sha && (ctx.manager.name === 'kpatch' || i.file === stored);
  if (here.some(good)) return;
  for (const stale of here) {
    draft.findings.push({
      kind: 'checksum',
      severity: 'warning',
      patch: p.name,
      module: p.module,
      message:
        stale.sha256 === sha
          ? `${stale.path} is ${src.written}, but the klp manager keeps it as ${stored}: it is installed again under that name`
          : `${stale.path} differs from ${src.written} (sha256 ${stale.sha256.slice(0, 12)}…, declared ${sha.slice(0, 12)}…): it is installed again`,
    });
    if (ctx.manager.name === 'klp') {
      // the klp install replaces `<module>.ko` in one rename; a copy under another name goes
      // once the declared one is in place (a removal, after the install): the patch is in the
      // boot set at every step (§K.7)
      if (stale.file !== stored)
        planUninstall(
          draft,
          stale,
          `not the name the klp manager keeps ${p.module} under; ${stored} replaces it`,
          { patch: p.name },
        );
      continue;
    }
    draft.reinstallRemovals.push({
      action: 'uninstall',
      module: stale.module,
      kernel,
      file: stale.file,
      patch: p.name,
      reason: `the installed copy is not the declared file (sha256 differs); replaced by ${file}`,
    });
    draft.uninstalling.add(stale.path);
  }
  let upload = draft.uploads.get(sha);
  if (!upload) {
    upload = {
      action: 'upload',
      patch: p.name,
      module: p.module,
      source: src.written,
      sha256: sha,
      destination: `${STAGING_DIR}/${sha.slice(0, 16)}/${file}`,
      reason: `${src.written} is not on the host yet`,
      ...(src.signature !== undefined ? { signature: src.signature } : {}),
    };
    draft.uploads.set(sha, upload);
  }
  draft.installs.push({
    action: 'install',
    patch: p.name,
    module: p.module,
    kernel,
    file: upload.destination,
    sha256: sha,
    reason: why,
  });
}

function ensurePackageInstalled(ctx: HostContext, draft: Draft, t: Target, pkg: string): void {
  const { p, kernel, why } = t;
  const installedPkg = installedPackageOf(ctx, p);
  if (installedPkg === undefined) {
    const other = ctx.facts.packages.find((x) => sameName(x, pkg));
    if (kernel === ctx.kernel && postLoads(pkg, ctx.enabledNow)) {
      // its %post loads it: a cumulative, atomic-replace build (§4.3) that retires what is
      // enabled, so declared patches that stack on it are loaded again after it
      draft.loadedByPackage.add(p.module);
      draft.cumulative ??= p.module;
    }
    draft.packageInstalls.push({
      action: 'package-install',
      patch: p.name,
      module: p.module,
      package: pkg,
      ...(other !== undefined ? { replacesPackage: other } : {}),
      reason: other !== undefined ? `${why}; ${other} is installed instead` : why,
    });
    return;
  }
  if (kernel !== ctx.kernel) return;
  if (ctx.facts.installed.some((i) => i.kernel === kernel && i.module === p.module)) return;
  const rpmCopy = ctx.facts.rpmInstalled.find((i) => i.kernel === kernel && i.module === p.module);
  if (rpmCopy) {
    draft.installs.push({
      action: 'install',
      patch: p.name,
      module: p.module,
      kernel,
      file: rpmCopy.path,
      sha256: rpmCopy.sha256,
      reason: `${installedPkg} is installed but its module was uninstalled from ${installFolder(kernel)}: it would not load at boot`,
    });
  }
}
