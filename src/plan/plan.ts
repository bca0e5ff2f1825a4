/**
 * The planner: desired state × facts → each host's ordered changes, with the reason for each and
 * for "no change". Pure and synchronous (no I/O; `now` and the facts fingerprint are inputs).
 *
 * Order on a host: re-installs' removals, uploads, installs (running kernel, then declared newer
 * kernels), package installs, kpatch.service, loads, then every removal: unloads (a replaced
 * predecessor only after its successor's load), uninstalls, package removals. So the host is
 * never without the old or the new patch (docs/kpatch-behaviour.md §5.3) and an installed file never
 * disappears before its replacement is installed (boot-time loading, §4.2).
 */
import type { ConfigFingerprint } from '../config/fingerprint.ts';
import type { Patch, Rollout } from '../config-model.ts';
import { kernelMatches } from '../config/kernel-match.ts';
import type { HostDesired } from '../desired/resolve.ts';
import type { ErrorInfo } from '../errors.ts';
import type { HostFacts, InstalledModule, SuspectLoad } from '../facts/model.ts';
import { formatDuration } from '../config/duration.ts';
import { compareVersions, versionAtLeast } from '../util/version.ts';
import type {
  Change,
  ChangeAction,
  Finding,
  HostPlan,
  InstallChange,
  LoadChange,
  PackageInstallChange,
  PackageRemoveChange,
  Plan,
  PlanSummary,
  UninstallChange,
  UnloadChange,
  UploadChange,
} from './model.ts';
import { CHANGE_ACTIONS, PLAN_FORMAT, PLAN_VERSION } from './model.ts';
import { packageMatches, packageModule, postLoads, sameName } from './packages.ts';
import { basename, plural } from '../util/text.ts';
import { pushAll } from '../util/arrays.ts';
import { installedPath, installFolder, STAGING_DIR } from '../host-paths.ts';

export interface PlanHostInput {
  desired: HostDesired;
  facts: HostFacts;
  /** `facts/fingerprint.ts` of these facts. */
  fingerprint: string;
  patches: ReadonlyMap<string, Patch>;
  rollout: Pick<Rollout, 'rebootDueAfterMs'>;
  /** Epoch milliseconds (for the reboot-due window). */
  now: number;
}

const DAY_MS = 86_400_000;

/** Patches loaded on the host now whose support window has passed (issue 5 §3, "reboot due"). */
export function rebootDue(
  facts: Pick<HostFacts, 'patches'>,
  patches: ReadonlyMap<string, Patch>,
  rollout: Pick<Rollout, 'rebootDueAfterMs'>,
  now: number,
): Finding[] {
  const window = rollout.rebootDueAfterMs;
  if (window === undefined) return [];
  const out: Finding[] = [];
  for (const lp of facts.patches) {
    if (lp.enabled === false) continue;
    for (const p of patches.values()) {
      if (p.module !== lp.name || p.released === undefined) continue;
      const released = Date.parse(p.released + 'T00:00:00Z');
      if (Number.isNaN(released) || now <= released + window) continue;
      const dueSince = new Date(released + window).toISOString().slice(0, 10);
      out.push({
        kind: 'reboot-due',
        severity: 'warning',
        patch: p.name,
        module: p.module,
        message: `reboot due: ${p.name} (released ${p.released}) is past its ${formatDuration(window)} support window since ${dueSince} (${String(Math.floor((now - released - window) / DAY_MS))} days); reboot into the errata kernel`,
      });
    }
  }
  return out;
}

/** What a crash guard record says (facts/parse/load-records.ts), in one sentence. */
export function suspectSentence(x: SuspectLoad): string {
  return (
    `${x.patch} (${x.module}) is suspected of crashing this host: ` +
    `kpfleet started loading it${x.time !== undefined ? ` at ${x.time}` : ''}` +
    `${x.run !== undefined ? ` in run ${x.run}` : ''} (boot ${x.bootId}) ` +
    'and the host went down before the load ended'
  );
}

/** The crash guard's suspects as `kpfleet facts` shows them (warnings; the planner decides). */
export function suspectNotes(facts: Pick<HostFacts, 'suspects'>, host: string): Finding[] {
  return (facts.suspects ?? []).map((x) => ({
    kind: 'suspect',
    severity: 'warning',
    patch: x.patch,
    module: x.module,
    message: `${suspectSentence(x)}. ${clearHint(host, x.patch)}`,
  }));
}

/** `patch (loading at TIME, run RUN)`: the blocked host's reason, one line. */
const suspectBrief = (x: SuspectLoad): string => {
  const when = [x.time !== undefined && `at ${x.time}`, x.run !== undefined && `run ${x.run}`]
    .filter((y): y is string => typeof y === 'string')
    .join(', ');
  return `${x.patch}${when ? ` (loading ${when})` : ''}`;
};

const clearHint = (host: string, patch: string): string =>
  `Once someone has looked at why (the host's logs of that boot), clear it: kpfleet clear-suspect --limit ${host} --patch ${patch}`;

const byGroups = (groups: readonly string[]): string =>
  groups.length === 0 ? '' : ` by group${groups.length === 1 ? '' : 's'} ${groups.join(', ')}`;

export function planHost(input: PlanHostInput): HostPlan {
  const { desired, facts: f, patches } = input;
  const K = f.kernel;
  const sysfs = new Map(f.patches.map((p) => [p.name, p]));
  const resident = new Map(f.modules.map((m) => [m.name, m]));
  const isEnabled = (m: string): boolean => {
    const e = sysfs.get(m);
    return e !== undefined && e.enabled !== false;
  };
  const enabledNow = f.patches.filter((p) => p.enabled !== false).map((p) => p.name);
  const findings: Finding[] = [];
  const base = {
    host: desired.host,
    groups: desired.groups,
    kernel: K,
    factsFingerprint: input.fingerprint,
  };
  const blocked = (reason: string, more: Finding[] = []): HostPlan => ({
    ...base,
    status: 'blocked',
    reason,
    changes: [],
    findings: [...findings, ...more],
    cves: [],
  });

  pushAll(findings, rebootDue(f, patches, input.rollout, input.now));

  if (f.transition) {
    const t = f.transition;
    const tasks = t.tasks.map((x) => `${String(x.pid)} ${x.comm}`).join(', ');
    const message =
      `${t.patch} is in a${t.enabling ? 'n enabling' : ' disabling'} transition` +
      (tasks ? ` held up by ${tasks}` : t.tasksComplete ? '' : ' (the tasks need root to see)') +
      '; no change starts while it runs (one transition at a time, docs/kpatch-behaviour.md §5.2). ' +
      'Wait for it, or reverse it (kpatch load again re-enables; kpatch unload disables).';
    return blocked(`a live-patch transition is in progress (${t.patch})`, [
      { kind: 'stalled', severity: 'error', module: t.patch, message },
    ]);
  }

  const declared = desired.patches.flatMap((d) => {
    const patch = patches.get(d.patch);
    return patch ? [{ ...d, p: patch }] : [];
  });
  const present = declared.filter((d) => d.state !== 'absent');
  const fitting = present.filter((d) => kernelMatches(d.p.kernels, K));
  // Cumulative patches (those that `replace` others) load first: one built in atomic-replace
  // mode retires every patch enabled before it, so patches that stack on it must come after.
  const loadedWanted = fitting
    .filter((d) => d.state === 'loaded')
    .sort((a, b) => Number(b.p.replaces.length > 0) - Number(a.p.replaces.length > 0));

  if (present.length > 0 && fitting.length === 0) {
    const names = present.map((d) => `${d.p.name} (${d.p.kernels.join(', ')})`).join('; ');
    const fail = desired.uncoveredKernel === 'fail';
    const finding: Finding = {
      kind: 'uncovered',
      severity: fail ? 'error' : 'warning',
      message: `no declared patch fits kernel ${K}: ${names}${fail ? ' (uncovered_kernel: fail)' : ''}`,
    };
    if (fail) return blocked(`no declared patch fits kernel ${K}`, [finding]);
    findings.push(finding);
  }

  const reinstallRemovals: UninstallChange[] = [];
  const uploads = new Map<string, UploadChange>();
  const installs: InstallChange[] = [];
  const pkgInstalls: PackageInstallChange[] = [];
  const loads: LoadChange[] = [];
  const unloads: UnloadChange[] = [];
  const uninstalls: UninstallChange[] = [];
  const pkgRemoves: PackageRemoveChange[] = [];
  /** Modules whose unload is planned; installed files whose uninstall is planned. */
  /** The first cumulative patch this plan loads (by kpatch load or a package's %post). */
  let cumulative: string | undefined;
  const unloading = new Set<string>();
  /** Modules a planned package install loads (its %post loads it on the running kernel, §4.3). */
  const loadedByPackage = new Set<string>();
  const uninstalling = new Set<string>();
  const removingPackages = new Set<string>();

  const planUnload = (m: string, reason: string, extra: { patch?: string; after?: string }) => {
    const appears = loadedByPackage.has(m);
    if (unloading.has(m) || (!sysfs.has(m) && !resident.has(m) && !appears)) return;
    unloading.add(m);
    const leftover = !sysfs.has(m) && !appears;
    unloads.push({ action: 'unload', module: m, leftover, reason, ...extra });
  };
  const planUninstall = (
    i: InstalledModule,
    reason: string,
    extra: { patch?: string; after?: string },
  ) => {
    if (uninstalling.has(i.path)) return;
    uninstalling.add(i.path);
    uninstalls.push({
      action: 'uninstall',
      module: i.module,
      kernel: i.kernel,
      file: i.file,
      reason,
      ...extra,
    });
  };
  const planPackageRemove = (
    nvra: string,
    reason: string,
    extra: { patch?: string; after?: string },
  ) => {
    // a package install of the same name replaces it (an upgrade: the old %postun runs)
    if (removingPackages.has(nvra) || pkgInstalls.some((c) => c.replacesPackage === nvra)) return;
    removingPackages.add(nvra);
    pkgRemoves.push({ action: 'package-remove', package: nvra, reason, ...extra });
  };
  /** Whether an installed file is this patch's: by module name, by content, or by file name. */
  const holds = (p: Patch, i: InstalledModule): boolean =>
    i.module === p.module ||
    (p.source.kind === 'file' &&
      (i.sha256 === p.source.sha256 || i.file === basename(p.source.path)));
  /** Files a patch left under /var/lib/kpatch, on every kernel. */
  const installedOf = (p: Patch): InstalledModule[] => f.installed.filter((i) => holds(p, i));
  const installedPackageOf = (p: Patch): string | undefined => {
    const src = p.source;
    return src.kind === 'rpm' ? f.packages.find((x) => packageMatches(x, src.package)) : undefined;
  };

  const ensureInstalled = (d: (typeof declared)[number], kernel: string, why: string): void => {
    const p = d.p;
    const src = p.source;
    if (src.kind === 'file') {
      const file = basename(src.path);
      const sha = src.sha256;
      const here = f.installed.filter(
        (i) =>
          i.kernel === kernel && (i.file === file || i.module === p.module || i.sha256 === sha),
      );
      if (here.some((i) => i.sha256 === sha)) return;
      for (const stale of here) {
        findings.push({
          kind: 'checksum',
          severity: 'warning',
          patch: p.name,
          module: p.module,
          message: `${stale.path} differs from ${src.written} (sha256 ${stale.sha256.slice(0, 12)}…, declared ${sha.slice(0, 12)}…): it is installed again`,
        });
        reinstallRemovals.push({
          action: 'uninstall',
          module: stale.module,
          kernel,
          file: stale.file,
          patch: p.name,
          reason: `the installed copy is not the declared file (sha256 differs); replaced by ${file}`,
        });
        uninstalling.add(stale.path);
      }
      let upload = uploads.get(sha);
      if (!upload) {
        upload = {
          action: 'upload',
          patch: p.name,
          module: p.module,
          source: src.written,
          sha256: sha,
          destination: `${STAGING_DIR}/${sha.slice(0, 16)}/${file}`,
          reason: `${src.written} is not on the host yet`,
        };
        uploads.set(sha, upload);
      }
      installs.push({
        action: 'install',
        patch: p.name,
        module: p.module,
        kernel,
        file: upload.destination,
        sha256: sha,
        reason: why,
      });
      return;
    }
    const pkg = src.package;
    const installedPkg = installedPackageOf(p);
    if (installedPkg === undefined) {
      const other = f.packages.find((x) => sameName(x, pkg));
      if (kernel === K && postLoads(pkg, enabledNow)) {
        // its %post loads it: a cumulative, atomic-replace build (§4.3) that retires what is
        // enabled, so declared patches that stack on it are loaded again after it
        loadedByPackage.add(p.module);
        cumulative ??= p.module;
      }
      pkgInstalls.push({
        action: 'package-install',
        patch: p.name,
        module: p.module,
        package: pkg,
        ...(other !== undefined ? { replacesPackage: other } : {}),
        reason: other !== undefined ? `${why}; ${other} is installed instead` : why,
      });
      return;
    }
    if (kernel !== K) return;
    if (f.installed.some((i) => i.kernel === kernel && i.module === p.module)) return;
    const rpmCopy = f.rpmInstalled.find((i) => i.kernel === kernel && i.module === p.module);
    if (rpmCopy) {
      installs.push({
        action: 'install',
        patch: p.name,
        module: p.module,
        kernel,
        file: rpmCopy.path,
        sha256: rpmCopy.sha256,
        reason: `${installedPkg} is installed but its module was uninstalled from ${installFolder(kernel)}: it would not load at boot`,
      });
    }
  };

  // 1. Installed for the running kernel (declared loaded or installed, fitting the kernel).
  for (const d of fitting) {
    // "loaded but not installed" only when no copy at all is installed (a stale copy is a
    // checksum finding, below)
    const loadedNow = isEnabled(d.p.module) && !installedOf(d.p).some((i) => i.kernel === K);
    const why =
      d.state === 'loaded' && loadedNow
        ? `loaded but not installed: it would be lost at reboot (declared loaded${byGroups(d.groups)})`
        : `declared ${d.state}${byGroups(d.groups)}`;
    ensureInstalled(d, K, why);
  }
  // 1b. Declared for a newer kernel that is installed on the host: installed for it, not loaded.
  for (const d of present) {
    for (const k of f.kernels) {
      if (k === K || compareVersions(k, K) <= 0 || !d.p.kernels.includes(k)) continue;
      ensureInstalled(
        d,
        k,
        `declared ${d.state}${byGroups(d.groups)}, for kernel ${k} (installed, not running)`,
      );
    }
  }

  // 2. Loads, and the clean-up of what they replace.
  const predecessors = new Set<string>();
  for (const d of loadedWanted) {
    const p = d.p;
    const m = p.module;
    const retired = p.replaces.flatMap((q) => {
      const qp = patches.get(q);
      return qp ? [qp] : [];
    });
    for (const q of retired) predecessors.add(q.module);
    let loadPlanned = false;
    // A cumulative patch loaded earlier in this plan may be an atomic-replace build, which
    // retires every patch enabled before it (§5.3): a patch that stacks on it is loaded again
    // (kpatch load is a no-op for a patch still enabled, §2.4 step 3).
    const reload = isEnabled(m) && cumulative !== undefined;
    if (!isEnabled(m) || reload) {
      loadPlanned = true;
      const reenable = sysfs.has(m) && !isEnabled(m);
      // the declared file as installed for this kernel: where it is (by content), or where
      // this plan installs it
      const src = p.source;
      const installedFile =
        src.kind === 'file'
          ? (f.installed.find((x) => x.kernel === K && x.sha256 === src.sha256)?.path ??
            installedPath(K, basename(src.path)))
          : undefined;
      loads.push({
        action: 'load',
        patch: p.name,
        module: m,
        ...(installedFile !== undefined ? { file: installedFile } : {}),
        replaces: retired.map((q) => q.module).filter((qm) => isEnabled(qm)),
        reenable,
        ...(!sysfs.has(m) && resident.has(m) && !versionAtLeast(f.kpatch.version, '0.9.4')
          ? { removesLeftover: true as const }
          : {}),
        cves: reload ? [] : [...p.cves],
        reason: reload
          ? `loaded again after ${cumulative ?? ''}, which may retire it (atomic replace); a no-op if it is still enabled`
          : reenable
            ? `loaded but disabled: re-enabled (declared loaded${byGroups(d.groups)})`
            : `declared loaded${byGroups(d.groups)}`,
      });
      if (p.replaces.length > 0 && !reload) cumulative ??= m;
    }
    for (const q of retired) {
      const qDecl = declared.find((x) => x.p.name === q.name);
      const after = loadPlanned ? { after: m } : {};
      planUnload(q.module, `replaced by ${p.name}: removed once ${m} is enabled`, {
        patch: q.name,
        ...after,
      });
      if (qDecl?.state === 'installed') continue; // declared installed: its files stay
      const qPkg = installedPackageOf(q);
      if (qPkg !== undefined) {
        // the package's %postun uninstalls its file (§4.3): on removal, or when the successor's
        // package of the same name upgrades it
        if (!(p.source.kind === 'rpm' && sameName(qPkg, p.source.package)))
          planPackageRemove(qPkg, `replaced by ${p.name}`, { patch: q.name, ...after });
        continue;
      }
      for (const i of installedOf(q)) {
        planUninstall(i, `replaced by ${p.name}`, { patch: q.name, ...after });
      }
    }
  }

  // Declared installed only, and loaded but disabled (pre-5.1, or a reversed unload): reported.
  for (const d of fitting) {
    if (d.state !== 'installed' || sysfs.get(d.p.module)?.enabled !== false) continue;
    findings.push({
      kind: 'disabled',
      severity: 'warning',
      patch: d.p.name,
      module: d.p.module,
      message: `${d.p.module} is loaded but disabled; ${d.p.name} is declared installed only, so it is left as it is (declare it loaded to re-enable it)`,
    });
  }

  // 3. Declared absent: unloaded and removed wherever found (any kernel).
  for (const d of declared.filter((x) => x.state === 'absent')) {
    const why = `declared absent${byGroups(d.groups)}`;
    planUnload(d.p.module, why, { patch: d.p.name });
    const pkg = installedPackageOf(d.p);
    if (pkg !== undefined) {
      // its %postun uninstalls the file (§4.3); a separate uninstall would then fail
      planPackageRemove(pkg, why, { patch: d.p.name });
      continue;
    }
    for (const i of installedOf(d.p)) planUninstall(i, why, { patch: d.p.name });
  }

  // 4. What nothing declares for this host: kept and reported, or removed (group policy).
  const known = new Set([...declared.map((d) => d.p.module), ...predecessors]);
  const knownPatches = [...patches.values()].filter((p) => known.has(p.module));
  const catalogueName = (m: string): string | undefined =>
    [...patches.values()].find((p) => p.module === m)?.name;
  const describe = (m: string): string => {
    const name = catalogueName(m);
    return name !== undefined
      ? `${m} (catalogue patch ${name}, not declared for this host's groups)`
      : `${m} (not in the catalogue)`;
  };
  const remove = desired.unmanaged === 'remove';
  const unmanagedReason = 'unmanaged: remove (not declared for this host)';
  const seen = new Set<string>();
  const report = (m: string, message: string, kind: 'unmanaged' | 'disabled' = 'unmanaged') => {
    if (seen.has(`${kind}:${m}`)) return;
    seen.add(`${kind}:${m}`);
    const name = catalogueName(m);
    findings.push({
      kind,
      severity: 'warning',
      module: m,
      ...(name !== undefined ? { patch: name } : {}),
      message,
    });
  };
  for (const lp of f.patches) {
    if (known.has(lp.name) || unloading.has(lp.name)) continue;
    if (remove) planUnload(lp.name, unmanagedReason, {});
    else if (lp.enabled === false)
      report(
        lp.name,
        `${describe(lp.name)} is loaded but disabled; kept (unmanaged: keep)`,
        'disabled',
      );
    else report(lp.name, `${describe(lp.name)} is loaded; kept (unmanaged: keep)`);
  }
  for (const mod of f.modules) {
    if (sysfs.has(mod.name) || known.has(mod.name) || unloading.has(mod.name)) continue;
    if (remove) planUnload(mod.name, `${unmanagedReason}; an inert leftover`, {});
    else
      report(
        mod.name,
        `${describe(mod.name)} is resident but inert (refcount ${String(mod.refcnt ?? '?')}, replaced); kept (unmanaged: keep)`,
      );
  }
  const unmanagedPackages = f.packages.filter((x) => {
    const m = packageModule(x);
    return m !== undefined && !known.has(m) && !removingPackages.has(x);
  });
  const packagedModules = new Set(unmanagedPackages.map((x) => packageModule(x)));
  for (const x of unmanagedPackages) {
    if (remove) planPackageRemove(x, unmanagedReason, {});
    else report(packageModule(x) ?? x, `package ${x} is installed; kept (unmanaged: keep)`);
  }
  for (const i of f.installed) {
    if (knownPatches.some((p) => holds(p, i)) || uninstalling.has(i.path)) continue;
    if (remove && packagedModules.has(i.module)) continue; // the package removal uninstalls it
    if (remove) planUninstall(i, unmanagedReason, {});
    else
      report(
        i.module,
        `${describe(i.module)} is installed for ${i.kernel}; kept (unmanaged: keep)`,
      );
  }

  // 5. Boot-time loading.
  const installsHere = installs.some((c) => c.kernel === K) || pkgInstalls.length > 0;
  const preChanges: Change[] = [];
  if (fitting.length > 0) {
    if (!f.service.present && f.kpatch.installed) {
      findings.push({
        kind: 'boot-disabled',
        severity: 'warning',
        message: `kpatch.service is not present (${f.service.state || 'no systemctl'}): installed patches are not loaded at boot`,
      });
    } else if (f.service.present && !f.service.enabled && !installsHere) {
      preChanges.push({
        action: 'enable-service',
        reason: `kpatch.service is ${f.service.state || 'disabled'}: installed patches would not load at boot`,
      });
    }
    if (f.kpatchDisabledAtBoot) {
      findings.push({
        kind: 'boot-disabled',
        severity: 'warning',
        message:
          'kpatch.enable=0 is on the kernel command line: kpatch.service loads nothing at boot (docs/kpatch-behaviour.md §4.2)',
      });
    }
  }

  const changes: Change[] = [
    ...reinstallRemovals,
    ...uploads.values(),
    ...installs,
    ...pkgInstalls,
    ...preChanges,
    ...loads,
    ...unloads,
    ...uninstalls,
    ...pkgRemoves,
  ];

  // The crash guard (issue 15 point 4): a load that took this host down is not run there again.
  const suspects = f.suspects ?? [];
  if (suspects.length > 0) {
    const loading = new Set([
      ...loads.map((l) => l.module),
      ...pkgInstalls.flatMap((c) => (c.module !== '' ? [c.module] : [])),
    ]);
    const hit = suspects.filter((x) => loading.has(x.module));
    for (const x of suspects.filter((y) => !loading.has(y.module) && isEnabled(y.module))) {
      findings.push({
        kind: 'suspect',
        severity: 'warning',
        patch: x.patch,
        module: x.module,
        message: `${suspectSentence(x)}; it is loaded now (kpatch.service loads what is installed at boot). ${clearHint(desired.host, x.patch)}`,
      });
    }
    if (hit.length > 0) {
      return blocked(
        `suspected of crashing this host: ${hit.map(suspectBrief).join('; ')}; once someone has looked: kpfleet clear-suspect --limit ${desired.host}`,
        hit.map((x) => ({
          kind: 'suspect' as const,
          severity: 'error' as const,
          patch: x.patch,
          module: x.module,
          message: `${suspectSentence(x)}; kpfleet will not load it here again. ${clearHint(desired.host, x.patch)}`,
        })),
      );
    }
  }

  if (changes.length > 0 && !f.kpatch.installed) {
    return blocked('kpatch is not installed', [
      {
        kind: 'kpatch-missing',
        severity: 'error',
        message: `${plural(changes.length, 'change')} needed, but kpatch is not installed (or not in PATH for this user): install the kpatch package`,
      },
    ]);
  }
  if (loads.length > 0 && !f.livepatchSupported) {
    return blocked('the kernel has no live-patch support', [
      {
        kind: 'livepatch-unsupported',
        severity: 'error',
        message: `kernel ${K} has no /sys/kernel/livepatch (CONFIG_LIVEPATCH): nothing can be loaded (docs/kpatch-behaviour.md §6 #5)`,
      },
    ]);
  }

  const cves = [...new Set(loads.flatMap((l) => l.cves))].sort();
  let reason: string;
  if (changes.length > 0) {
    reason = `${plural(changes.length, 'change')} to reach the declared state`;
  } else if (declared.length === 0) {
    reason = 'no patch is declared for this host';
  } else if (present.length > 0 && fitting.length === 0) {
    reason = `nothing declared fits kernel ${K}`;
  } else {
    const parts = [
      loadedWanted.length > 0 && `${plural(loadedWanted.length, 'patch')} loaded and installed`,
      fitting.length - loadedWanted.length > 0 &&
        `${plural(fitting.length - loadedWanted.length, 'patch')} installed`,
      declared.length - present.length > 0 &&
        `${plural(declared.length - present.length, 'patch')} absent`,
    ].filter((x): x is string => typeof x === 'string');
    reason = `as declared: ${parts.join(', ')}`;
  }
  return {
    ...base,
    status: changes.length > 0 ? 'changes' : 'converged',
    reason,
    changes,
    findings,
    cves,
  };
}

/** A host the planner could not see: its facts failed (error) or it was not reached. */
export function hostFailure(
  host: string,
  groups: readonly string[],
  error: ErrorInfo,
  unreachable: boolean,
): HostPlan {
  return {
    host,
    groups: [...groups],
    status: unreachable ? 'unreachable' : 'error',
    reason: unreachable ? 'not reached' : 'facts could not be read',
    changes: [],
    findings: [],
    error,
    cves: [],
  };
}

export function summarizePlan(hosts: readonly HostPlan[]): PlanSummary {
  const actions: Partial<Record<ChangeAction, number>> = {};
  const findings: PlanSummary['findings'] = {};
  for (const h of hosts) {
    for (const c of h.changes) actions[c.action] = (actions[c.action] ?? 0) + 1;
    for (const kind of new Set(h.findings.filter((x) => x.severity !== 'info').map((x) => x.kind)))
      findings[kind] = (findings[kind] ?? 0) + 1;
  }
  const ordered: Partial<Record<ChangeAction, number>> = {};
  for (const a of CHANGE_ACTIONS) if (actions[a] !== undefined) ordered[a] = actions[a];
  const count = (s: HostPlan['status']) => hosts.filter((h) => h.status === s).length;
  return {
    hosts: hosts.length,
    converged: count('converged'),
    changes: count('changes'),
    blocked: count('blocked'),
    errors: count('error'),
    unreachable: count('unreachable'),
    actions: ordered,
    cves: [...new Set(hosts.flatMap((h) => h.cves))].sort(),
    findings,
  };
}

export function buildPlan(
  hosts: HostPlan[],
  meta: {
    createdAt: string;
    kpfleetVersion: string;
    config: string;
    configFingerprint: ConfigFingerprint;
    limit?: string;
  },
): Plan {
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    createdAt: meta.createdAt,
    kpfleetVersion: meta.kpfleetVersion,
    config: meta.config,
    configFingerprint: meta.configFingerprint,
    ...(meta.limit !== undefined ? { limit: meta.limit } : {}),
    hosts,
    summary: summarizePlan(hosts),
  };
}
