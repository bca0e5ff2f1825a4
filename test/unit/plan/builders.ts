/**
 * Small builders for the planner's inputs: HostFacts (a RHEL 9 host by default), catalogue
 * entries (file and RHEL kpatch-patch RPM sources, named as docs/kpatch-behaviour.md §1.3 and §4.3
 * have them), HostDesired, and one call of `planHost` with defaults for the rest.
 */
import { createHash } from 'node:crypto';
import type { ManagerName, Patch, PatchState } from '../../../src/config-model.ts';
import type { DesiredPatch, HostDesired } from '../../../src/desired/resolve.ts';
import type {
  HostFacts,
  InstalledModule,
  LivepatchState,
  LoadedModule,
} from '../../../src/facts/model.ts';
import type { HostPlan } from '../../../src/plan/model.ts';
import { planHost } from '../../../src/plan/plan.ts';

/** The running kernel of the default host (RHEL 9.3). */
export const KERNEL = '5.14.0-362.8.1.el9_3.x86_64';
/** A newer kernel installed on the host, not running (RHEL 9.4). */
export const NEXT_KERNEL = '5.14.0-427.13.1.el9_4.x86_64';
/** An older kernel still installed (RHEL 9.2). */
export const OLD_KERNEL = '5.14.0-284.11.1.el9_2.x86_64';
export const FINGERPRINT = 'f1'.repeat(32);
export const DAY_MS = 86_400_000;

export const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The name `kpatch list` derives from a file name (§1.3): basename, no `.ko`, `-` → `_`. */
export const moduleOf = (file: string): string =>
  file
    .slice(file.lastIndexOf('/') + 1)
    .replace(/\.ko$/, '')
    .replace(/-/g, '_');

// ---------------------------------------------------------------------------------------------
// Facts

/** An entry of /sys/kernel/livepatch (enabled unless told). */
export function live(name: string, over: Partial<LivepatchState> = {}): LivepatchState {
  return { name, enabled: true, transition: false, replace: undefined, ...over };
}

/** A live-patch module in memory; refcount 0 is an inert leftover of an atomic replace (§5.3). */
export function mod(name: string, refcnt = 1): LoadedModule {
  return { name, refcnt, taint: 'K' };
}

/** A file under /var/lib/kpatch/<kernel>/ (kpatch install, §4.1). */
export function inst(
  file: string,
  over: { kernel?: string; sha256?: string } = {},
): InstalledModule {
  const kernel = over.kernel ?? KERNEL;
  return {
    kernel,
    file,
    path: `/var/lib/kpatch/${kernel}/${file}`,
    module: moduleOf(file),
    sha256: over.sha256 ?? sha(file),
  };
}

/** A file in the klp manager's store, /var/lib/kpfleet/klp/<kernel>/ (docs/klp-behaviour.md §K.1). */
export function klpInst(
  file: string,
  over: { kernel?: string; sha256?: string } = {},
): InstalledModule {
  const kernel = over.kernel ?? KERNEL;
  return { ...inst(file, over), path: `/var/lib/kpfleet/klp/${kernel}/${file}` };
}

/** A host without kpatch whose klp store holds `store`, its unit set up unless told. */
export function klpFacts(
  store: InstalledModule[] = [],
  over: Partial<HostFacts> = {},
  boot: Partial<NonNullable<HostFacts['klp']>['boot']> = {},
): HostFacts {
  return facts({
    kpatch: { installed: false },
    kpatchList: { rc: 127, text: '' },
    service: { present: false, enabled: false, state: 'not-found' },
    klp: {
      store,
      boot: { systemctl: true, enabled: true, state: 'enabled', current: true, ...boot },
    },
    ...over,
  });
}

/** A file under /usr/lib/kpatch/<kernel>/ (shipped by a kpatch-patch RPM, §4.3). */
export function rpmInst(
  file: string,
  over: { kernel?: string; sha256?: string } = {},
): InstalledModule {
  const kernel = over.kernel ?? KERNEL;
  return { ...inst(file, over), path: `/usr/lib/kpatch/${kernel}/${file}` };
}

/** An enabled patch as the probe sees it: in sysfs and in memory with refcount 1. */
export function loaded(name: string): Pick<HostFacts, 'patches' | 'modules'> {
  return { patches: [live(name)], modules: [mod(name, 1)] };
}

/** A RHEL 9 host with kpatch 0.9.7, live patching, kpatch.service enabled, nothing patched. */
export function facts(over: Partial<HostFacts> = {}): HostFacts {
  const kernel = over.kernel ?? KERNEL;
  return {
    probeVersion: 1,
    kernel,
    arch: 'x86_64',
    os: { id: 'rhel', versionId: '9.3', prettyName: 'Red Hat Enterprise Linux 9.3 (Plow)' },
    cmdline: `BOOT_IMAGE=(hd0,gpt2)/vmlinuz-${kernel} root=/dev/mapper/rhel-root ro`,
    kpatchDisabledAtBoot: false,
    tainted: 0,
    kpatch: { installed: true, version: '0.9.7' },
    kpatchList: { rc: 0, text: 'Loaded patch modules:\n\nInstalled patch modules:\n' },
    security: {},
    livepatchSupported: true,
    patches: [],
    kernels: [kernel],
    modules: [],
    installed: [],
    rpmInstalled: [],
    service: { present: true, enabled: true, state: 'enabled' },
    packages: [],
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// Catalogue

interface PatchExtra {
  kernels?: string[];
  replaces?: string[];
  cves?: string[];
  released?: string;
  supportMs?: number;
}

function withExtra(p: Patch, extra: PatchExtra): Patch {
  return {
    ...p,
    ...(extra.kernels !== undefined ? { kernels: extra.kernels } : {}),
    ...(extra.replaces !== undefined ? { replaces: extra.replaces } : {}),
    ...(extra.cves !== undefined ? { cves: extra.cves } : {}),
    ...(extra.released !== undefined ? { released: extra.released } : {}),
    ...(extra.supportMs !== undefined ? { supportMs: extra.supportMs } : {}),
  };
}

/** A catalogue entry delivered as a file: `patches/<file>` (default `livepatch-<name>.ko`). */
export function filePatch(name: string, extra: PatchExtra & { file?: string } = {}): Patch {
  const file = extra.file ?? `livepatch-${name}.ko`;
  return withExtra(
    {
      name,
      module: moduleOf(file),
      kernels: [KERNEL],
      source: {
        kind: 'file',
        path: `/srv/kpfleet/patches/${file}`,
        written: `patches/${file}`,
        sha256: sha(file),
      },
      replaces: [],
      cves: [],
    },
    extra,
  );
}

/** The file name of a patch's source (file patches only). */
export function fileOf(p: Patch): string {
  if (p.source.kind !== 'file') throw new Error(`${p.name} is not a file patch`);
  return p.source.path.slice(p.source.path.lastIndexOf('/') + 1);
}

export function shaOf(p: Patch): string {
  if (p.source.kind !== 'file') throw new Error(`${p.name} is not a file patch`);
  return p.source.sha256;
}

/** A RHEL kpatch-patch package for KERNEL at <version>-<release> (§4.3). */
export interface RpmNames {
  /** name-version-release as the catalogue declares it. */
  package: string;
  /** name-version-release.dist.arch as `rpm -qa` prints it. */
  nvra: string;
  /** The module it carries, in-kernel name. */
  module: string;
  /** The module file, under /usr/lib/kpatch/<kver>/ and /var/lib/kpatch/<kver>/. */
  file: string;
}

export function rhel(version: number, release: number): RpmNames {
  const x = '5_14_0-362_8_1';
  return {
    package: `kpatch-patch-${x}-${String(version)}-${String(release)}`,
    nvra: `kpatch-patch-${x}-${String(version)}-${String(release)}.el9_3.x86_64`,
    module: `kpatch_5_14_0_362_8_1_${String(version)}_${String(release)}`,
    file: `kpatch-${x}-${String(version)}-${String(release)}.ko`,
  };
}

export function rpmPatch(name: string, names: RpmNames, extra: PatchExtra = {}): Patch {
  return withExtra(
    {
      name,
      module: names.module,
      kernels: ['5.14.0-362.8.1.el9_3.*'],
      source: { kind: 'rpm', package: names.package },
      replaces: [],
      cves: [],
    },
    extra,
  );
}

export function catalogue(...patches: Patch[]): Map<string, Patch> {
  return new Map(patches.map((p) => [p.name, p]));
}

// ---------------------------------------------------------------------------------------------
// Desired state

export function want(patch: string, state: PatchState, groups: string[] = ['web']): DesiredPatch {
  return { patch, state, groups };
}

export function desired(
  patches: DesiredPatch[],
  over: Partial<Omit<HostDesired, 'patches'>> = {},
): HostDesired {
  return {
    host: 'web1',
    groups: ['all', 'web'],
    patches,
    unmanaged: 'keep',
    uncoveredKernel: 'warn',
    manager: { choice: 'auto', source: 'default' },
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// One planner call

export interface Scenario {
  patches: Patch[];
  want?: DesiredPatch[];
  facts?: HostFacts;
  desired?: Partial<Omit<HostDesired, 'patches'>>;
  rebootDueAfterMs?: number;
  now?: number;
  manager?: ManagerName;
}

export const NOW = Date.parse('2024-03-01T00:00:00Z');

export function plan(s: Scenario): HostPlan {
  return planHost({
    desired: desired(s.want ?? [], {
      ...s.desired,
      ...(s.manager !== undefined ? { manager: { choice: s.manager, source: 'test' } } : {}),
    }),
    facts: s.facts ?? facts(),
    fingerprint: FINGERPRINT,
    patches: catalogue(...s.patches),
    rollout: s.rebootDueAfterMs !== undefined ? { rebootDueAfterMs: s.rebootDueAfterMs } : {},
    now: s.now ?? NOW,
  });
}
