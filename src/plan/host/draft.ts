/**
 * The host's plan while the phases build it: the changes, one list per kind (they run in a fixed
 * order, `changesInOrder`), the findings, and what is already planned so that no module, file or
 * package is removed twice. A phase that finds the host must not be changed sets `blocked`; the
 * planner then stops and reports only the findings.
 */
import type { InstalledModule } from '../../facts/model.ts';
import { pushAll } from '../../util/arrays.ts';
import type {
  Change,
  EnableServiceChange,
  Finding,
  InstallChange,
  LoadChange,
  PackageInstallChange,
  PackageRemoveChange,
  UninstallChange,
  UnloadChange,
  UploadChange,
} from '../model.ts';
import type { HostContext } from './context.ts';
import { storeOf } from './manager.ts';

/** Who a removal is for (the catalogue patch), and the load it waits for. */
export interface RemovalOf {
  patch?: string;
  after?: string;
}

export interface Draft {
  findings: Finding[];
  /** Set by a phase that refuses to change the host: the one-line reason. */
  blocked?: string;
  /** Stale copies of a declared file, uninstalled before it is installed again. */
  reinstallRemovals: UninstallChange[];
  /** By sha256: one upload per file, however many kernels it is installed for. */
  uploads: Map<string, UploadChange>;
  installs: InstallChange[];
  packageInstalls: PackageInstallChange[];
  /** Enabling kpatch.service: after the installs, before the loads. */
  enableService: EnableServiceChange[];
  loads: LoadChange[];
  unloads: UnloadChange[];
  uninstalls: UninstallChange[];
  packageRemoves: PackageRemoveChange[];
  /** The first cumulative patch this plan loads (by kpatch load or a package's %post). */
  cumulative?: string;
  /** Modules whose unload is planned. */
  unloading: Set<string>;
  /** Modules a planned package install loads (its %post loads it on the running kernel, §4.3). */
  loadedByPackage: Set<string>;
  /** Installed files (paths) whose uninstall is planned. */
  uninstalling: Set<string>;
  /** Packages whose removal is planned. */
  removingPackages: Set<string>;
}

export function emptyDraft(): Draft {
  return {
    findings: [],
    reinstallRemovals: [],
    uploads: new Map(),
    installs: [],
    packageInstalls: [],
    enableService: [],
    loads: [],
    unloads: [],
    uninstalls: [],
    packageRemoves: [],
    unloading: new Set(),
    loadedByPackage: new Set(),
    uninstalling: new Set(),
    removingPackages: new Set(),
  };
}

/** Marks the host blocked, with the findings that say why. */
export function block(draft: Draft, reason: string, findings: readonly Finding[]): void {
  draft.blocked = reason;
  pushAll(draft.findings, findings);
}

/**
 * Every change in the order it runs: re-installs' removals, uploads, installs, package installs,
 * kpatch.service, loads, then every removal (unloads, uninstalls, package removals).
 */
export function changesInOrder(draft: Draft): Change[] {
  return [
    ...draft.reinstallRemovals,
    ...draft.uploads.values(),
    ...draft.installs,
    ...draft.packageInstalls,
    ...draft.enableService,
    ...draft.loads,
    ...draft.unloads,
    ...draft.uninstalls,
    ...draft.packageRemoves,
  ];
}

/** Unloads a module once, if it is in sysfs, resident, or loaded by a planned package install. */
export function planUnload(
  ctx: HostContext,
  draft: Draft,
  m: string,
  reason: string,
  of: RemovalOf,
): void {
  const appears = draft.loadedByPackage.has(m);
  if (draft.unloading.has(m) || (!ctx.sysfs.has(m) && !ctx.resident.has(m) && !appears)) return;
  draft.unloading.add(m);
  const leftover = !ctx.sysfs.has(m) && !appears;
  draft.unloads.push({ action: 'unload', module: m, leftover, reason, ...of });
}

/** Uninstalls an installed file once. */
export function planUninstall(
  draft: Draft,
  i: InstalledModule,
  reason: string,
  of: RemovalOf,
): void {
  if (draft.uninstalling.has(i.path)) return;
  draft.uninstalling.add(i.path);
  draft.uninstalls.push({
    action: 'uninstall',
    module: i.module,
    kernel: i.kernel,
    file: i.file,
    ...(storeOf(i) === 'klp' ? { store: 'klp' as const } : {}),
    reason,
    ...of,
  });
}

/** Removes a package once, unless a planned install of the same name upgrades it. */
export function planPackageRemove(draft: Draft, nvra: string, reason: string, of: RemovalOf): void {
  // a package install of the same name replaces it (an upgrade: the old %postun runs)
  if (
    draft.removingPackages.has(nvra) ||
    draft.packageInstalls.some((c) => c.replacesPackage === nvra)
  )
    return;
  draft.removingPackages.add(nvra);
  draft.packageRemoves.push({ action: 'package-remove', package: nvra, reason, ...of });
}
