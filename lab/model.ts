/**
 * A pure model of a kpatch host, for property tests of the planner: the simulator's semantics
 * (lab/SPEC.md "Kernel model", docs/kpatch-behaviour.md §2.4–2.8, §4.3, §5.2–5.3) reduced to
 * what the plan's actions touch, with transitions that always complete (a stalled host is
 * blocked by the planner, so it never reaches apply). `model.test.ts` checks this model against
 * the real simulator over SSH-less runs of the same steps.
 *
 * State: sysfs entries (enabled, replace), resident modules (refcnt), /var/lib/kpatch and
 * /usr/lib/kpatch files (by sha256), packages, kpatch.service, staged uploads. Module files are
 * known by their sha256 (`ModelModule`: in-kernel name, vermagic kernel, replace mode).
 */
import type { HostFacts, InstalledModule, SecurityFacts } from '../src/facts/model.ts';
import type { ManagerName } from '../src/config-model.ts';
import type { Change } from '../src/plan/model.ts';
import { normalizeModuleName } from '../src/facts/parse/kpatch-list-model.ts';
import { packageModule, parsePackage, postLoads, sameName } from '../src/plan/packages.ts';
import { versionAtLeast } from '../src/util/version.ts';

export interface ModelModule {
  /** In-kernel name (readelf .gnu.linkonce.this_module). */
  name: string;
  /** vermagic: the kernel it loads on. */
  kernel: string;
  /** Atomic-replace (cumulative) build (§5.3). */
  replace: boolean;
  sha256: string;
}

/** A kpatch-patch package in the repository (§4.3). */
export interface ModelPackage {
  nvra: string;
  module: ModelModule;
}

export interface ModelFile {
  kernel: string;
  file: string;
  sha256: string;
}

export interface ModelHost {
  kernel: string;
  kernels: string[];
  kpatchVersion: string;
  kpatchInstalled: boolean;
  livepatch: boolean;
  sysfs: Map<string, { enabled: boolean; replace: boolean }>;
  resident: Map<string, number>;
  installed: ModelFile[];
  rpmInstalled: ModelFile[];
  packages: string[];
  service: { present: boolean; enabled: boolean };
  staged: Map<string, string>;
  /** Every module file the host can come to hold, by sha256 (uploads and packages). */
  files: Map<string, ModelModule>;
  repo: Map<string, ModelPackage>;
  /**
   * The kernel has `stack_order` (6.13+, profile `STACK_ORDER=1`): a patch's is its place in
   * `sysfs`, whose order is the kernel's list of patches (a load appends, a retire removes).
   */
  stackOrder?: boolean;
  /** Lockdown, sig_enforce, Secure Boot as the probe reads them (profile `LOCKDOWN`, …). */
  security?: SecurityFacts;
  /** The klp manager's store, /var/lib/kpfleet/klp (docs/klp-behaviour.md §K.1). */
  klpStore: ModelFile[];
  /**
   * kpfleet-klp.service (§K.2): `systemctl` false on a host without it; `current`: its unit and
   * boot script are this kpfleet's.
   */
  klpBoot: { systemctl: boolean; enabled: boolean; current: boolean };
}

/**
 * A host with kpatch and livepatch support and nothing patched, nothing installed, nothing
 * staged: `over` says what differs (kernel, kernels, kpatch version, service, files, repo).
 */
export function newHost(over: Partial<ModelHost> & Pick<ModelHost, 'kernel' | 'files'>): ModelHost {
  return {
    kernels: [over.kernel],
    kpatchVersion: '0.9.7',
    kpatchInstalled: true,
    livepatch: true,
    sysfs: new Map(),
    resident: new Map(),
    installed: [],
    rpmInstalled: [],
    packages: [],
    service: { present: true, enabled: true },
    staged: new Map(),
    repo: new Map(),
    klpStore: [],
    klpBoot: { systemctl: true, enabled: false, current: false },
    ...over,
  };
}

export class ModelError extends Error {}

const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

export function cloneHost(h: ModelHost): ModelHost {
  return {
    ...h,
    kernels: [...h.kernels],
    sysfs: new Map([...h.sysfs].map(([k, v]) => [k, { ...v }])),
    resident: new Map(h.resident),
    installed: h.installed.map((f) => ({ ...f })),
    rpmInstalled: h.rpmInstalled.map((f) => ({ ...f })),
    packages: [...h.packages],
    service: { ...h.service },
    staged: new Map(h.staged),
    klpStore: h.klpStore.map((f) => ({ ...f })),
    klpBoot: { ...h.klpBoot },
    ...(h.security ? { security: { ...h.security } } : {}),
  };
}

function moduleOf(h: ModelHost, sha: string): ModelModule {
  const m = h.files.get(sha);
  if (!m) throw new ModelError(`unknown module file ${sha}`);
  return m;
}

/** `kpatch install -k kernel path` (§2.7): vermagic check, "already installed", enables the service. */
export function kpatchInstall(h: ModelHost, kernel: string, sha: string, file: string): void {
  const m = moduleOf(h, sha);
  if (m.kernel !== kernel)
    throw new ModelError(`invalid module version ${m.kernel} for kernel ${kernel}`);
  if (h.installed.some((f) => f.kernel === kernel && f.file === file))
    throw new ModelError(`${file} is already installed`);
  h.installed.push({ kernel, file, sha256: sha });
  if (h.service.present) h.service.enabled = true;
}

/** `kpatch load` of an installed file or module name (§2.4, 0.9.4+ leftover rule, §5.3 replace). */
export function kpatchLoad(h: ModelHost, arg: { file?: string; module?: string }): void {
  if (!h.kpatchInstalled) throw new ModelError('kpatch: command not found');
  let entry: ModelFile | undefined;
  if (arg.file !== undefined) {
    entry = h.installed.find((f) => `/var/lib/kpatch/${f.kernel}/${f.file}` === arg.file);
  } else {
    entry = h.installed.find(
      (f) => f.kernel === h.kernel && normalizeModuleName(f.file) === arg.module,
    );
  }
  if (!entry) throw new ModelError(`can't find ${arg.file ?? arg.module ?? ''}`);
  const m = moduleOf(h, entry.sha256);
  const s = h.sysfs.get(m.name);
  if (s) {
    s.enabled = true; // already enabled, or re-enabled (pre-5.1)
    return;
  }
  if (h.resident.has(m.name)) {
    if (!versionAtLeast(h.kpatchVersion, '0.9.4')) throw new ModelError('insmod: File exists');
    if ((h.resident.get(m.name) ?? 0) > 0) throw new ModelError('refcnt');
    h.resident.delete(m.name);
  }
  insmod(h, m);
}

/** `kpatch unload` / rmmod of an inert leftover (§2.6). */
export function kpatchUnload(h: ModelHost, module: string): void {
  if (h.sysfs.has(module)) {
    h.sysfs.delete(module);
    h.resident.delete(module);
    return;
  }
  if (!h.resident.has(module)) throw new ModelError(`patch module ${module} is not loaded`);
  h.resident.delete(module);
}

/** `kpatch uninstall -k kernel file` (§2.8). */
export function kpatchUninstall(h: ModelHost, kernel: string, file: string): void {
  const i = h.installed.findIndex(
    (f) =>
      f.kernel === kernel &&
      (f.file === file || normalizeModuleName(f.file) === normalizeModuleName(file)),
  );
  if (i < 0) throw new ModelError(`${file} is not installed for kernel ${kernel}`);
  h.installed.splice(i, 1);
}

function rpmFileOf(p: ModelPackage): ModelFile {
  const x = packageModule(p.nvra) ?? p.module.name;
  const parsed = parsePackage(p.nvra);
  const rel = parsed?.release.split('.')[0] ?? '';
  const file = parsed
    ? `kpatch-${parsed.name.slice('kpatch-patch-'.length)}-${parsed.version}-${rel}.ko`
    : `${x}.ko`;
  return { kernel: p.module.kernel, file, sha256: p.module.sha256 };
}

/** dnf install of an exact package: upgrade/downgrade of the same name, %post, %postun (§4.3). */
export function packageInstall(h: ModelHost, spec: string): void {
  const pkg = [...h.repo.values()].find((p) => p.nvra === spec || p.nvra.startsWith(spec + '.'));
  if (!pkg) throw new ModelError(`No match for argument: ${spec}`);
  if (h.packages.includes(pkg.nvra)) return; // "already installed. Nothing to do." (exit 0)
  if (!h.kernels.includes(pkg.module.kernel)) throw new ModelError('kernel-uname-r missing');
  const old = h.packages.find((x) => sameName(x, pkg.nvra));
  const rpmFile = rpmFileOf(pkg);
  h.packages.push(pkg.nvra);
  h.rpmInstalled.push(rpmFile);
  // %post: kpatch install -k, then load when it is the running kernel (a failed load never fails)
  try {
    kpatchInstall(h, rpmFile.kernel, rpmFile.sha256, rpmFile.file);
  } catch {
    /* %post exits 0 */
  }
  // …unless a newer version of the same stream is loaded (a downgrade waits for a reboot)
  const enabled = [...h.sysfs].filter(([, v]) => v.enabled).map(([n]) => n);
  if (rpmFile.kernel === h.kernel && h.kpatchInstalled && postLoads(pkg.nvra, enabled)) {
    try {
      kpatchLoad(h, { file: `/var/lib/kpatch/${rpmFile.kernel}/${rpmFile.file}` });
    } catch {
      /* %post exits 0 */
    }
  }
  if (old !== undefined) removePackageFiles(h, old);
}

function removePackageFiles(h: ModelHost, nvra: string): void {
  h.packages = h.packages.filter((x) => x !== nvra);
  const pkg = h.repo.get(nvra);
  if (!pkg) return;
  const f = rpmFileOf(pkg);
  h.rpmInstalled = h.rpmInstalled.filter((x) => !(x.kernel === f.kernel && x.file === f.file));
  // %postun: kpatch uninstall -k kver file (errors ignored); nothing is unloaded
  h.installed = h.installed.filter((x) => !(x.kernel === f.kernel && x.file === f.file));
}

export function packageRemove(h: ModelHost, nvra: string): void {
  if (!h.packages.includes(nvra)) throw new ModelError(`package ${nvra} is not installed`);
  removePackageFiles(h, nvra);
}

/** The klp store, or kpatch's, as files (a store is a folder of files; `storeOf` in the planner). */
function filesOf(h: ModelHost, store: ManagerName): ModelFile[] {
  return store === 'klp' ? h.klpStore : h.installed;
}

/**
 * An install without kpatch (docs/klp-behaviour.md §K.3): vermagic checked as the step's modinfo
 * does, then the file copied into the store over any file of that name.
 */
export function copyInstall(
  h: ModelHost,
  store: ManagerName,
  kernel: string,
  sha: string,
  file: string,
): void {
  const m = moduleOf(h, sha);
  if (m.kernel !== kernel) throw new ModelError(`built for ${m.kernel}, not ${kernel}`);
  const files = filesOf(h, store).filter((f) => !(f.kernel === kernel && f.file === file));
  files.push({ kernel, file, sha256: sha });
  if (store === 'klp') h.klpStore = files;
  else h.installed = files;
}

/** rm -f of a store's file (its absence is what the step verifies). */
export function removeStored(h: ModelHost, store: ManagerName, kernel: string, file: string): void {
  const files = filesOf(h, store).filter((f) => !(f.kernel === kernel && f.file === file));
  if (store === 'klp') h.klpStore = files;
  else h.installed = files;
}

/**
 * The klp loader (`kpf_klp_load`, §K.3): enabled → nothing; in sysfs but disabled → re-enabled;
 * a resident leftover of the name (refcount 0) → rmmod first; then insmod of the file.
 */
export function klpLoad(h: ModelHost, file: string): void {
  const entry = [...h.klpStore, ...h.installed].find(
    (f) =>
      `/var/lib/kpfleet/klp/${f.kernel}/${f.file}` === file ||
      `/var/lib/kpatch/${f.kernel}/${f.file}` === file,
  );
  if (!entry)
    throw new ModelError(`insmod: ERROR: could not load module ${file}: No such file or directory`);
  const m = moduleOf(h, entry.sha256);
  const s = h.sysfs.get(m.name);
  if (s) {
    s.enabled = true;
    return;
  }
  if (h.resident.has(m.name)) {
    if ((h.resident.get(m.name) ?? 0) > 0) throw new ModelError('refcnt');
    h.resident.delete(m.name);
  }
  insmod(h, m);
}

/** insmod of a livepatch module: the kernel's checks, then atomic replace (§5.3). */
function insmod(h: ModelHost, m: ModelModule): void {
  if (!h.livepatch) throw new ModelError("can't find core module");
  if (m.kernel !== h.kernel) throw new ModelError('Invalid module format');
  if (m.replace) {
    for (const [name] of h.sysfs) {
      h.sysfs.delete(name);
      h.resident.set(name, 0);
    }
  }
  h.sysfs.set(m.name, { enabled: true, replace: m.replace });
  h.resident.set(m.name, 1);
}

/**
 * What a reboot would load: the running kernel's files in each store whose boot mechanism is in
 * place (kpatch.service enabled with kpatch there; kpfleet-klp.service enabled and current), as
 * in-kernel module names.
 */
export function bootSet(h: ModelHost): Set<string> {
  const out = new Set<string>();
  const add = (files: readonly ModelFile[]) => {
    for (const f of files) if (f.kernel === h.kernel) out.add(moduleOf(h, f.sha256).name);
  };
  if (h.kpatchInstalled && h.service.present && h.service.enabled) add(h.installed);
  if (h.klpBoot.systemctl && h.klpBoot.enabled && h.klpBoot.current) add(h.klpStore);
  return out;
}

/**
 * Executes one change of a plan, as apply will (issue 6), on the model, under the host's manager
 * (the plan's `manager`; kpatch when unsaid): klp's steps are `copyInstall`, `klpLoad`, and a
 * plain removal; a file in the other manager's store follows its `store`.
 */
export function applyChange(
  h: ModelHost,
  c: Change,
  uploads: ReadonlyMap<string, string>,
  manager: ManagerName = 'kpatch',
): void {
  if (c.action === 'install' && (c.store ?? manager) === 'klp') {
    const sha = h.staged.get(c.file);
    if (sha === undefined) throw new ModelError(`${c.file} doesn't exist`);
    if (moduleOf(h, sha).name !== c.module)
      throw new ModelError(`${c.file} is the module ${moduleOf(h, sha).name}, not ${c.module}`);
    copyInstall(h, 'klp', c.kernel, sha, `${c.module}.ko`);
    return;
  }
  if (
    c.action === 'uninstall' &&
    (c.store === 'klp' || (manager === 'klp' && !h.kpatchInstalled))
  ) {
    removeStored(h, c.store ?? 'kpatch', c.kernel, c.file);
    return;
  }
  if (manager === 'klp') {
    switch (c.action) {
      case 'enable-service':
        if (!h.klpBoot.systemctl) throw new ModelError('systemctl: command not found');
        h.klpBoot = { systemctl: true, enabled: true, current: true };
        return;
      case 'load':
        if (c.file === undefined) throw new ModelError(`the klp load of ${c.module} names no file`);
        klpLoad(h, c.file);
        return;
      case 'package-install':
      case 'package-remove':
        throw new ModelError('kpatch-patch packages need the kpatch manager');
      case 'unload':
        // `kpf_klp_unload` of a module that is not there is done (§K.4): nothing to remove
        if (!h.sysfs.has(c.module) && !h.resident.has(c.module)) return;
        break;
      // the rest as under kpatch: an upload, the unload (disable, rmmod), and an uninstall
      // from kpatch's store where kpatch is there (a host moving away from it)
      case 'upload':
      case 'install':
      case 'uninstall':
        break;
    }
  }
  switch (c.action) {
    case 'upload': {
      const sha = uploads.get(c.source);
      if (sha !== c.sha256) throw new ModelError(`upload of ${c.source}: checksum mismatch`);
      h.staged.set(c.destination, c.sha256);
      return;
    }
    case 'install': {
      const sha =
        h.staged.get(c.file) ??
        h.rpmInstalled.find((f) => `/usr/lib/kpatch/${f.kernel}/${f.file}` === c.file)?.sha256;
      if (sha === undefined) throw new ModelError(`${c.file} doesn't exist`);
      kpatchInstall(h, c.kernel, sha, basename(c.file));
      return;
    }
    case 'package-install':
      packageInstall(h, c.package);
      return;
    case 'enable-service':
      if (!h.service.present) throw new ModelError('unit kpatch.service does not exist');
      h.service.enabled = true;
      return;
    case 'load':
      // the step rmmods an inert same-named leftover first where kpatch < 0.9.4 cannot (§6 #27)
      if (!h.sysfs.has(c.module) && h.resident.get(c.module) === 0) h.resident.delete(c.module);
      kpatchLoad(h, c.file !== undefined ? { file: c.file } : { module: c.module });
      return;
    case 'unload':
      kpatchUnload(h, c.module);
      return;
    case 'uninstall':
      kpatchUninstall(h, c.kernel, c.file);
      return;
    case 'package-remove':
      packageRemove(h, c.package);
      return;
  }
}

/** What the probe would read on this host (src/facts/probe.ts). */
export function modelFacts(h: ModelHost): HostFacts {
  const inst = (root: string, files: readonly ModelFile[]): InstalledModule[] =>
    files.map((f) => ({
      kernel: f.kernel,
      file: f.file,
      path: `${root}/${f.kernel}/${f.file}`,
      module: normalizeModuleName(f.file),
      sha256: f.sha256,
    }));
  return {
    probeVersion: 2,
    kernel: h.kernel,
    arch: 'x86_64',
    os: { id: 'rhel' },
    cmdline: '',
    kpatchDisabledAtBoot: false,
    tainted: 0,
    kpatch: h.kpatchInstalled
      ? { installed: true, version: h.kpatchVersion }
      : { installed: false },
    kpatchList: { rc: 0, text: '' },
    security: { ...h.security },
    livepatchSupported: h.livepatch,
    patches: [...h.sysfs].map(([name, s], i) => ({
      name,
      enabled: s.enabled,
      transition: false,
      replace: s.replace,
      ...(h.stackOrder === true ? { stackOrder: i + 1 } : {}),
    })),
    kernels: [...h.kernels],
    modules: [...h.resident].map(([name, refcnt]) => ({ name, refcnt, taint: 'OEK' })),
    installed: inst('/var/lib/kpatch', h.installed),
    rpmInstalled: inst('/usr/lib/kpatch', h.rpmInstalled),
    service: {
      present: h.service.present,
      enabled: h.service.enabled,
      state: h.service.present ? (h.service.enabled ? 'enabled' : 'disabled') : 'not-found',
    },
    packages: [...h.packages].sort(),
    klp: {
      store: inst('/var/lib/kpfleet/klp', h.klpStore),
      boot: {
        systemctl: h.klpBoot.systemctl,
        enabled: h.klpBoot.enabled,
        state: !h.klpBoot.systemctl ? '' : h.klpBoot.enabled ? 'enabled' : 'not-found',
        current: h.klpBoot.current,
      },
    },
  };
}
