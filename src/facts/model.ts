/** What a host runs, as the probe found it: the input of the planner. */
import type { KpatchListParsed } from './parse/kpatch-list-model.ts';

export interface LivepatchState {
  name: string;
  /** `1`/`0`, or undefined where the file was missing. */
  enabled: boolean | undefined;
  transition: boolean | undefined;
  /** The atomic-replace flag; undefined on kernels without the `replace` attribute. */
  replace: boolean | undefined;
  /**
   * The patch's position in the kernel's stack of patches, 1 the oldest (`stack_order`, kernels
   * 6.13+): for a function several patches change, the highest runs. Absent without the file
   * (docs/kpatch-behaviour.md §5.1).
   */
  stackOrder?: number;
  /**
   * The functions it changes, as sysfs lists them (`<object>/<function>,<sympos>`, §5.1):
   * `vmlinux` or a module, the function, its position among same-named symbols. Absent from
   * probes before they were read.
   */
  functions?: PatchedFunction[];
}

/** One function a live patch changes (`/sys/kernel/livepatch/<p>/<object>/<function>,<sympos>`). */
export interface PatchedFunction {
  object: string;
  name: string;
  sympos: number;
}

/** The kernel's lockdown level (`/sys/kernel/security/lockdown`, §5.5). */
export type LockdownLevel = 'none' | 'integrity' | 'confidentiality';

/**
 * What the kernel does with an unsigned module (docs/kpatch-behaviour.md §5.5). A key is absent
 * where the probe could not tell: no such file on that kernel, or not readable without root.
 */
export interface SecurityFacts {
  /** The bracketed word of /sys/kernel/security/lockdown. */
  lockdown?: LockdownLevel;
  /** /sys/module/module/parameters/sig_enforce is `Y`: only signed modules load. */
  sigEnforce?: boolean;
  /** The firmware's SecureBoot EFI variable (informational: lockdown and sig_enforce decide). */
  secureBoot?: boolean;
}

export interface LoadedModule {
  name: string;
  /** Module reference count; 0 for a patch that was atomically replaced (a leftover). */
  refcnt: number | undefined;
  taint: string;
}

export interface InstalledModule {
  /** The kernel release folder it is installed for. */
  kernel: string;
  file: string;
  path: string;
  /** The name `kpatch list` derives from the file name (docs/kpatch-behaviour.md §1.3). */
  module: string;
  sha256: string;
}

/** A task not yet switched to the target state of the patch in transition (§3.1, §5.2). */
export interface TransitionTask {
  pid: number;
  comm: string;
}

/** A patch in transition (only one at a time, system-wide: §5.2). */
export interface TransitionFacts {
  patch: string;
  /** enabled=1: patching (a load); enabled=0: unpatching (an unload). */
  enabling: boolean;
  /** The tasks that hold it up, from `kpatch list`'s Stalled block and /proc/<pid>/patch_state. */
  tasks: TransitionTask[];
  /** /proc/<pid>/patch_state of other users' tasks was readable (root): `tasks` is complete. */
  tasksComplete: boolean;
}

/**
 * The record of a load that never finished, left by a boot before this one: the host went down
 * while kpfleet was loading this patch (issue 15 point 4; apply/load-record.ts `loadRecordScript`).
 */
export interface SuspectLoad {
  module: string;
  /** The catalogue name of the patch being loaded. */
  patch: string;
  /** The boot id when the load started (/proc/sys/kernel/random/boot_id). */
  bootId: string;
  /** The apply run that was loading it. */
  run?: string;
  /** When the load started (ISO, UTC, to the second). */
  time?: string;
}

/** What kpfleet's klp manager keeps on a host (docs/klp-behaviour.md §K.1, §K.2). */
export interface KlpFacts {
  /** /var/lib/kpfleet/klp/<kernel>/*.ko: the modules it installed, loaded at every boot. */
  store: InstalledModule[];
  /**
   * kpfleet-klp.service: `systemctl is-enabled`'s answer (`systemctl` false where there is no
   * systemctl), and `current`: its unit file and boot script are both there and are exactly what
   * this kpfleet writes (`facts/klp-boot.ts`).
   */
  boot: { systemctl: boolean; enabled: boolean; state: string; current: boolean };
}

export interface HostFacts {
  probeVersion: number;
  kernel: string;
  arch: string;
  os: { id?: string; versionId?: string; prettyName?: string };
  cmdline: string;
  /** `kpatch.enable=0` on the kernel command line: kpatch.service loads nothing at boot. */
  kpatchDisabledAtBoot: boolean;
  tainted: number | undefined;
  /**
   * `flavor`: `rhel` when kpatch accepts the `force` prefix (RHEL's build, whose `unload` prompts
   * and must be called as `kpatch force unload`, §2.6), else `upstream`.
   */
  kpatch: { installed: boolean; version?: string; flavor?: 'rhel' | 'upstream' };
  /** `kpatch list` output, exactly, and what it says (absent when kpatch is not installed). */
  kpatchList: { rc: number | undefined; text: string; parsed?: KpatchListParsed };
  /** Lockdown, module signature enforcement, Secure Boot (absent keys: unknown). */
  security: SecurityFacts;
  /** /sys/kernel/livepatch exists: the kernel can live-patch. */
  livepatchSupported: boolean;
  patches: LivepatchState[];
  /** The patch in transition, if one is (nothing new may start until it ends). */
  transition?: TransitionFacts;
  /** Kernel releases installed on the host (/lib/modules/*), the running one included. */
  kernels: string[];
  /** Live-patch modules in memory (taint K), including replaced leftovers. */
  modules: LoadedModule[];
  /** /var/lib/kpatch/<kernel>/*.ko (kpatch install). */
  installed: InstalledModule[];
  /** /usr/lib/kpatch/<kernel>/*.ko (kpatch-patch RPMs). */
  rpmInstalled: InstalledModule[];
  service: { present: boolean; enabled: boolean; state: string };
  /** The klp manager's store and boot unit; absent from probes before them (read as empty). */
  klp?: KlpFacts;
  /** Installed kpatch-patch packages (rpm -qa), name-version-release. */
  packages: string[];
  /** This boot's id (/proc/sys/kernel/random/boot_id), where the probe could read it. */
  bootId?: string;
  /** Loads that took the host down, by the crash guard's records (only a boot before this one). */
  suspects?: SuspectLoad[];
}
