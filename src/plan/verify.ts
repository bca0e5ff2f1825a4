/**
 * A saved plan is data from outside: anyone who can edit the file could make it upload, install,
 * load or remove anything. Before `apply PLANFILE` contacts a host, every change of every host is
 * checked here against what the current kpfleet.yml and inventory allow on that host
 * (docs/security.md, "Saved plans"):
 *
 * - an upload, install, package install or load names a patch declared for the host's groups
 *   (loaded, for a load), fitting the kernel it is for, with exactly the declared module, file,
 *   sha256 or package;
 * - an unload, uninstall or package removal names what the config allows to go: a patch declared
 *   absent, a predecessor of a declared cumulative patch, a stale copy of a declared patch being
 *   installed again, or a module nothing declares when the host's policy is `unmanaged: remove`.
 *
 * The facts a plan was made from are not in it, so some fields (which installed file a load
 * uses, an rpm's own copy) can only be checked by name here; under the host's lock, apply plans
 * the host again from its facts and refuses it unless the saved changes are exactly those
 * (`diffChanges`). Pure.
 */
import { kernelMatches } from '../config/kernel-match.ts';
import type { Patch } from '../config-model.ts';
import type { DesiredPatch, HostDesired } from '../desired/resolve.ts';
import { isBareFileName } from '../util/names.ts';
import { basename } from '../util/text.ts';
import type { Change, HostPlan } from './model.ts';
import { packageMatches, packageModule, sameName } from './packages.ts';
import { installFolder, rpmModuleFolder, STAGING_DIR } from '../host-paths.ts';

export interface PlanProblem {
  host: string;
  /** 1-based position of the change in the host's list. */
  change?: number;
  action?: string;
  field: string;
  message: string;
}

/** A value from the plan file, quoted and cut short for a message (it may be anything). */
export function shown(v: unknown): string {
  const s = (JSON.stringify(v) as string | undefined) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

/** `kpatch list`'s name for an installed file: basename, no `.ko`, `-` → `_`. */
const installedName = (file: string): string =>
  basename(file).replace(/\.ko$/, '').replaceAll('-', '_');

/** A module file name: a bare file name (`util/names.ts`) ending in `.ko`. */
const isKoFile = (name: string): boolean => isBareFileName(name) && name.endsWith('.ko');

interface HostRules {
  declared: Map<string, DesiredPatch & { p: Patch }>;
  patches: ReadonlyMap<string, Patch>;
  kernel: string | undefined;
  /** Modules of patches declared for the host (any state) and of their predecessors. */
  known: Set<string>;
  /** Patches whose module, files or package the config allows to remove. */
  removable: Map<string, Patch>;
  unmanagedRemove: boolean;
}

function rulesFor(desired: HostDesired, patches: ReadonlyMap<string, Patch>, kernel?: string) {
  const declared = new Map<string, DesiredPatch & { p: Patch }>();
  for (const d of desired.patches) {
    const p = patches.get(d.patch);
    if (p) declared.set(d.patch, { ...d, p });
  }
  const known = new Set<string>();
  const removable = new Map<string, Patch>();
  for (const d of declared.values()) {
    known.add(d.p.module);
    if (d.state === 'absent') removable.set(d.p.name, d.p);
    if (d.state !== 'loaded') continue;
    for (const q of d.p.replaces) {
      const qp = patches.get(q);
      if (!qp) continue;
      known.add(qp.module);
      // a predecessor declared installed keeps its files: only its unload is allowed
      if (declared.get(q)?.state !== 'installed') removable.set(qp.name, qp);
    }
  }
  const predecessors = new Set(
    [...declared.values()]
      .filter((d) => d.state === 'loaded')
      .flatMap((d) => d.p.replaces.flatMap((q) => patches.get(q)?.module ?? [])),
  );
  const rules: HostRules = {
    declared,
    patches,
    kernel,
    known,
    removable,
    unmanagedRemove: desired.unmanaged === 'remove',
  };
  return { rules, predecessors };
}

/** Every problem of one host's saved plan against its current desired state. */
export function verifyHostPlan(
  hp: HostPlan,
  desired: HostDesired,
  patches: ReadonlyMap<string, Patch>,
): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const host = hp.host;
  const hostProblem = (field: string, message: string) => problems.push({ host, field, message });
  if (JSON.stringify(hp.groups) !== JSON.stringify(desired.groups)) {
    hostProblem(
      'groups',
      `the plan says groups ${shown(hp.groups)}, the inventory and kpfleet.yml say ${shown(desired.groups)}`,
    );
  }
  if (hp.status !== 'changes') {
    if (hp.changes.length > 0)
      hostProblem('changes', `a host with status ${shown(hp.status)} has no changes to run`);
    return problems;
  }
  if (hp.changes.length === 0) hostProblem('changes', 'a host with status "changes" lists none');
  // what the report and the audit log say the run closes: exactly what the loads close
  const closes = [...new Set(hp.changes.flatMap((c) => (c.action === 'load' ? c.cves : [])))];
  if (JSON.stringify(hp.cves) !== JSON.stringify(closes.sort()))
    hostProblem('cves', `the plan says ${shown(hp.cves)}, its loads close ${shown(closes)}`);
  if (hp.kernel === undefined) hostProblem('kernel', 'a host with changes names its kernel');
  if (hp.factsFingerprint === undefined)
    hostProblem('factsFingerprint', 'a host with changes has the fingerprint of its facts');

  const { rules, predecessors } = rulesFor(desired, patches, hp.kernel);
  // what comes before and after each change, without a quadratic walk (a plan may hold many)
  const lastInstall = new Map<string, number>();
  hp.changes.forEach((c, i) => {
    if (c.action === 'install') lastInstall.set(`${c.patch}\0${c.kernel}`, i);
  });
  const order: Order = { uploaded: new Set(), loaded: new Set(), installLater: () => false };
  hp.changes.forEach((c, i) => {
    const bad = (field: string, message: string) =>
      problems.push({ host, change: i + 1, action: c.action, field, message });
    order.installLater = (patch, kernel) => (lastInstall.get(`${patch}\0${kernel}`) ?? -1) > i;
    checkChange(c, order, rules, predecessors, bad);
    if (c.action === 'upload') order.uploaded.add(c.destination);
    if (c.action === 'load') order.loaded.add(c.module);
  });
  return problems;
}

/** What the changes before this one did, and what comes after it. */
interface Order {
  uploaded: Set<string>;
  loaded: Set<string>;
  installLater: (patch: string, kernel: string) => boolean;
}

type Bad = (field: string, message: string) => void;

/** The declared patch a constructive change names, or why not. */
function declaredFor(c: Change & { patch: string }, r: HostRules, bad: Bad, loadedOnly = false) {
  const d = r.declared.get(c.patch);
  if (!d || d.state === 'absent' || (loadedOnly && d.state !== 'loaded')) {
    bad(
      'patch',
      `${shown(c.patch)} is not declared ${loadedOnly ? 'loaded' : 'loaded or installed'} for this host's groups in kpfleet.yml`,
    );
    return undefined;
  }
  return d.p;
}

function same(
  field: string,
  planned: unknown,
  declared: unknown,
  bad: Bad,
  what = 'kpfleet.yml declares',
): void {
  if (JSON.stringify(planned) !== JSON.stringify(declared))
    bad(field, `the plan says ${shown(planned)}, ${what} ${shown(declared)}`);
}

/** A kernel the patch may be installed for: the running one if it fits, or one it names exactly. */
function checkKernel(p: Patch, kernel: string, r: HostRules, bad: Bad): void {
  const running = kernel === r.kernel && kernelMatches(p.kernels, kernel);
  if (!running && !p.kernels.includes(kernel))
    bad('kernel', `${p.name} is declared for ${shown(p.kernels)}, not for kernel ${shown(kernel)}`);
}

function stagedAs(p: Patch): string | undefined {
  return p.source.kind === 'file'
    ? `${STAGING_DIR}/${p.source.sha256.slice(0, 16)}/${basename(p.source.path)}`
    : undefined;
}

function checkChange(
  c: Change,
  o: Order,
  r: HostRules,
  predecessors: ReadonlySet<string>,
  bad: Bad,
): void {
  switch (c.action) {
    case 'upload': {
      const p = declaredFor(c, r, bad);
      if (!p) return;
      if (p.source.kind !== 'file') {
        bad('patch', `${p.name} is a package, never uploaded`);
        return;
      }
      same('module', c.module, p.module, bad);
      same('source', c.source, p.source.written, bad);
      same('sha256', c.sha256, p.source.sha256, bad);
      same('destination', c.destination, stagedAs(p), bad, 'kpfleet stages it as');
      return;
    }
    case 'install': {
      const p = declaredFor(c, r, bad);
      if (!p) return;
      same('module', c.module, p.module, bad);
      if (p.source.kind === 'file') {
        same('sha256', c.sha256, p.source.sha256, bad);
        same('file', c.file, stagedAs(p), bad, 'kpfleet stages it as');
        if (!o.uploaded.has(c.file))
          bad('file', `nothing in this plan uploads ${shown(c.file)} before it is installed`);
        checkKernel(p, c.kernel, r, bad);
        return;
      }
      // the package's own copy, installed again for the running kernel
      same('kernel', c.kernel, r.kernel, bad, 'the host runs');
      const dir = `${rpmModuleFolder(c.kernel)}/`;
      const name = c.file.slice(dir.length);
      if (!c.file.startsWith(dir) || !isKoFile(name) || installedName(name) !== p.module)
        bad('file', `${shown(c.file)} is not ${p.module}'s file in ${dir}`);
      return;
    }
    case 'package-install': {
      const p = declaredFor(c, r, bad);
      if (!p) return;
      if (p.source.kind !== 'rpm') {
        bad('patch', `${p.name} is a file, not a package`);
        return;
      }
      same('package', c.package, p.source.package, bad);
      same('module', c.module, p.module, bad);
      if (c.replacesPackage !== undefined && !sameName(c.replacesPackage, c.package))
        bad(
          'replacesPackage',
          `${shown(c.replacesPackage)} is not another version of ${c.package}`,
        );
      return;
    }
    case 'enable-service':
      if (![...r.declared.values()].some((d) => d.state !== 'absent'))
        bad('action', 'nothing is declared loaded or installed for this host');
      return;
    case 'load': {
      const p = declaredFor(c, r, bad, true);
      if (!p) return;
      same('module', c.module, p.module, bad);
      if (r.kernel !== undefined && !kernelMatches(p.kernels, r.kernel))
        bad(
          'patch',
          `${p.name} is declared for ${shown(p.kernels)}, not for kernel ${shown(r.kernel)}`,
        );
      if (p.source.kind === 'rpm') {
        if (c.file !== undefined)
          bad('file', `a package's module is loaded by name, not from ${shown(c.file)}`);
      } else {
        const dir = `${installFolder(r.kernel ?? '')}/`;
        if (c.file === undefined || !c.file.startsWith(dir) || !isKoFile(c.file.slice(dir.length)))
          bad('file', `${shown(c.file)} is not a module installed in ${dir}`);
      }
      const allowed = new Set(p.replaces.flatMap((q) => r.patches.get(q)?.module ?? []));
      for (const m of c.replaces)
        if (!allowed.has(m))
          bad('replaces', `${p.name} does not replace ${shown(m)} in kpfleet.yml`);
      if (c.cves.length > 0) same('cves', c.cves, p.cves, bad);
      return;
    }
    case 'unload':
      checkAfter(c.after, o, bad);
      // a predecessor is unloaded even when it is declared installed (its files stay)
      if (predecessors.has(c.module)) return;
      checkRemoval(c.module, c.patch, r, bad);
      return;
    case 'uninstall': {
      checkAfter(c.after, o, bad);
      if (!isKoFile(c.file)) bad('file', `${shown(c.file)} is not a module file name`);
      // a stale copy of a declared patch, uninstalled so that its declared file is installed
      const p = c.patch !== undefined ? r.declared.get(c.patch) : undefined;
      if (p && p.state !== 'absent') {
        if (!o.installLater(p.p.name, c.kernel))
          bad(
            'patch',
            `${p.p.name} is declared ${p.state}; its file is uninstalled only to install the declared one, which this plan does not do`,
          );
        return;
      }
      checkRemoval(c.module, c.patch, r, bad);
      return;
    }
    case 'package-remove': {
      checkAfter(c.after, o, bad);
      const owner = [...r.removable.values()].find(
        (q) => q.source.kind === 'rpm' && packageMatches(c.package, q.source.package),
      );
      if (owner) return;
      const m = packageModule(c.package);
      if (m === undefined) {
        bad('package', `${shown(c.package)} is not a kpatch-patch package`);
        return;
      }
      if (r.known.has(m)) {
        bad(
          'package',
          `${shown(c.package)} carries ${m}, which kpfleet.yml declares for this host`,
        );
        return;
      }
      if (!r.unmanagedRemove)
        bad(
          'package',
          `${shown(c.package)} is not declared; this host keeps what is not declared (unmanaged: keep)`,
        );
      return;
    }
  }
}

function checkAfter(after: string | undefined, o: Order, bad: Bad): void {
  if (after !== undefined && !o.loaded.has(after))
    bad('after', `no load of ${shown(after)} comes before it`);
}

/** Whether the config allows a module (and its files) to be removed from this host. */
function checkRemoval(module: string, patch: string | undefined, r: HostRules, bad: Bad): void {
  const named = patch !== undefined ? r.removable.get(patch) : undefined;
  if (named) return;
  for (const q of r.removable.values()) if (q.module === module) return;
  if (r.known.has(module)) {
    bad(
      'module',
      `${shown(module)} is declared for this host in kpfleet.yml: nothing allows removing it`,
    );
    return;
  }
  if (!r.unmanagedRemove)
    bad(
      'module',
      `${shown(module)} is not declared; this host keeps what is not declared (unmanaged: keep)`,
    );
}

/** The first difference between saved changes and those planned now, or undefined. */
export function diffChanges(
  saved: readonly Change[],
  planned: readonly Change[],
): string | undefined {
  const n = Math.max(saved.length, planned.length);
  for (let i = 0; i < n; i++) {
    const a = saved[i];
    const b = planned[i];
    if (a === undefined || b === undefined) {
      return `the plan has ${String(saved.length)} change(s), kpfleet plans ${String(planned.length)} now`;
    }
    // field by field (every value is a string, boolean or list of strings): the order in which
    // a file lists the keys of a change does not matter
    const fields = (c: Change) => c as unknown as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    const field = keys.find((k) => JSON.stringify(fields(a)[k]) !== JSON.stringify(fields(b)[k]));
    if (field === undefined) continue;
    return `change ${String(i + 1)} (${a.action}): ${field} is ${shown(fields(a)[field])} in the plan, kpfleet plans ${shown(fields(b)[field])}`;
  }
  return undefined;
}
