/**
 * One change of a saved plan against what the current configuration allows on its host
 * (`verify.ts` walks the host's changes and calls `checkChange` for each): what the host's
 * declared patches allow to be uploaded, installed or loaded (`HostRules`, `rulesFor`), and what
 * they allow to go. Pure.
 */
import { kernelMatches } from '../config/kernel-match.ts';
import type { ManagerName, Patch } from '../config-model.ts';
import type { HostDesired } from '../desired/resolve.ts';
import {
  installFolder,
  KLP_UNIT,
  klpStoreFolder,
  rpmModuleFolder,
  STAGING_DIR,
} from '../host-paths.ts';
import { isBareFileName } from '../util/names.ts';
import { basename } from '../util/text.ts';
import type { Change } from './model.ts';
import { packageMatches, packageModule, sameName } from './packages.ts';
import { declaredPatches, retiredBy, type Declared } from './host/context.ts';

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

/** What the configuration allows on one host. */
export interface HostRules {
  /** Patches declared for the host's groups, by name. */
  declared: Map<string, Declared>;
  patches: ReadonlyMap<string, Patch>;
  kernel: string | undefined;
  /** Modules of patches declared for the host (any state) and of their predecessors. */
  known: Set<string>;
  /** Modules that patches declared loaded replace: unloaded even when declared installed. */
  predecessors: Set<string>;
  /** Patches whose module, files or package the config allows to remove. */
  removable: Map<string, Patch>;
  unmanagedRemove: boolean;
}

export function rulesFor(
  desired: HostDesired,
  patches: ReadonlyMap<string, Patch>,
  kernel?: string,
): HostRules {
  const declared = new Map(declaredPatches(desired, patches).map((d) => [d.patch, d]));
  const known = new Set<string>();
  const predecessors = new Set<string>();
  const removable = new Map<string, Patch>();
  for (const d of declared.values()) {
    known.add(d.p.module);
    if (d.state === 'absent') removable.set(d.p.name, d.p);
    if (d.state !== 'loaded') continue;
    for (const q of retiredBy(d.p, patches)) {
      known.add(q.module);
      predecessors.add(q.module);
      // a predecessor declared installed keeps its files: only its unload is allowed
      if (declared.get(q.name)?.state !== 'installed') removable.set(q.name, q);
    }
  }
  return {
    declared,
    patches,
    kernel,
    known,
    predecessors,
    removable,
    unmanagedRemove: desired.unmanaged === 'remove',
  };
}

/** What the changes before this one did, and what comes after it. */
export interface Order {
  /** The host's manager as the plan names it: its store, its boot unit. */
  manager: ManagerName;
  uploaded: Set<string>;
  loaded: Set<string>;
  installLater: (patch: string, kernel: string) => boolean;
  /** This plan installs `patch` for `kernel`, before or after this change. */
  installs: (patch: string, kernel: string) => boolean;
}

export type Bad = (field: string, message: string) => void;

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

/** JSON with every object's keys in order: the order in which a file lists them does not matter. */
export function canonicalJson(v: unknown): string | undefined {
  return JSON.stringify(v, (_key, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

function same(
  field: string,
  planned: unknown,
  declared: unknown,
  bad: Bad,
  what = 'kpfleet.yml declares',
): void {
  if (canonicalJson(planned) !== canonicalJson(declared))
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

/** Every problem of one change, given what came before it (`o`) and the host's rules. */
export function checkChange(c: Change, o: Order, r: HostRules, bad: Bad): void {
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
      // what a reviewer read of the file's signature is what the file says
      if (c.signature === undefined && p.source.signature !== undefined)
        bad(
          'signature',
          `the plan states none (a plan made before kpfleet read patch files' signatures, or edited), the file says ${shown(p.source.signature)}`,
        );
      else same('signature', c.signature ?? null, p.source.signature ?? null, bad, 'the file says');
      return;
    }
    case 'install': {
      const p = declaredFor(c, r, bad);
      if (!p) return;
      same('module', c.module, p.module, bad);
      // only a rollback (never a plan) puts a copy back into a store other than the manager's
      if (c.store !== undefined) bad('store', "a plan installs into the host manager's store only");
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
      // kpatch.service under kpatch, kpfleet's own unit under klp (§K.2)
      if (c.unit !== (o.manager === 'klp' ? KLP_UNIT : undefined))
        bad(
          'unit',
          `${shown(c.unit ?? 'kpatch.service')} is not the ${o.manager} manager's boot unit`,
        );
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
        // from the manager's store (docs/klp-behaviour.md §K.1), never from anywhere else
        const dir = `${(o.manager === 'klp' ? klpStoreFolder : installFolder)(r.kernel ?? '')}/`;
        if (o.manager === 'klp') {
          // the klp store holds a module as `<module>.ko` and nothing else (§K.1)
          const want = `${dir}${p.module}.ko`;
          if (c.file !== want) bad('file', `${shown(c.file)} is not ${want}`);
        } else if (
          c.file === undefined ||
          !c.file.startsWith(dir) ||
          !isKoFile(c.file.slice(dir.length))
        )
          bad('file', `${shown(c.file)} is not a module installed in ${dir}`);
      }
      const allowed = new Set(retiredBy(p, r.patches).map((q) => q.module));
      for (const m of c.replacesModules)
        if (!allowed.has(m))
          bad('replacesModules', `${p.name} does not replace ${shown(m)} in kpfleet.yml`);
      if (c.cves.length > 0) same('cves', c.cves, p.cves, bad);
      return;
    }
    case 'unload':
      checkAfter(c.after, o, bad);
      // a predecessor is unloaded even when it is declared installed (its files stay)
      if (r.predecessors.has(c.module)) return;
      checkRemoval(c.module, c.patch, r, bad);
      return;
    case 'uninstall': {
      checkAfter(c.after, o, bad);
      if (!isKoFile(c.file)) bad('file', `${shown(c.file)} is not a module file name`);
      // a stale copy of a declared patch, uninstalled so that its declared file is installed;
      // or its copy in the other manager's store, once its own holds it (a move, §K.6: the
      // plan made under the lock, from the host's facts, must then be this very plan)
      const p = c.patch !== undefined ? r.declared.get(c.patch) : undefined;
      if (p && p.state !== 'absent' && (c.store ?? 'kpatch') !== o.manager) {
        // only that patch's own copy: by its module, or by its file's name
        const src = p.p.source;
        if (c.module !== p.p.module && !(src.kind === 'file' && c.file === basename(src.path)))
          bad('module', `${shown(c.module)} (${shown(c.file)}) is not ${p.p.name}'s module`);
        return;
      }
      if (p && p.state !== 'absent' && o.manager === 'klp' && c.file === `${p.p.module}.ko`) {
        // the copy the klp manager loads at boot is never removed for a declared patch (§K.1)
        bad('file', `${shown(c.file)} is ${p.p.name}'s own copy in the klp store`);
        return;
      }
      if (p && p.state !== 'absent') {
        // kpatch: before the install (kpatch install refuses a file of the same name); klp: a
        // copy under another name, after the install that puts `<module>.ko` in place (§K.7)
        const installs =
          o.manager === 'klp' ? o.installs(p.p.name, c.kernel) : o.installLater(p.p.name, c.kernel);
        if (!installs)
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
