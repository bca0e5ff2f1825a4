/**
 * The plan: versioned, serialisable data (schemas/plan.schema.json). What each host runs, what
 * must change there and in which order, and why. Built by `plan/plan.ts` (pure), rendered by
 * `report/plan.ts`, executed by `apply` (issue 6).
 */

import type { ConfigFingerprint } from '../config/fingerprint.ts';
import type { ManagerName, ModuleSignature } from '../config-model.ts';
import type { ErrorInfo } from '../errors.ts';

export const PLAN_FORMAT = 'kpfleet-plan';
/**
 * 2: plans record the fingerprint of their configuration (`configFingerprint`). 3: each host
 * read records its manager and why (`HostPlan.manager`, `managerReason`). A plan of another
 * version is refused whole, as one of another kpfleet is (`cli/commands/saved-plan.ts`).
 */
export const PLAN_VERSION = 3;

/** The order in which actions run on a host (a replacement's clean-up comes after its load). */
export const CHANGE_ACTIONS = [
  'upload',
  'install',
  'package-install',
  'enable-service',
  'load',
  'unload',
  'uninstall',
  'package-remove',
] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

interface ChangeBase {
  /** Why: one sentence an operator reads ("declared loaded by group web", …). */
  reason: string;
  /** The catalogue name, where the module is one of the catalogue's. */
  patch?: string;
}

/** Copy a patch file to the host (SFTP: what it stored is read back and its sha256 checked). */
export interface UploadChange extends ChangeBase {
  action: 'upload';
  patch: string;
  module: string;
  /** The local file, as written in kpfleet.yml. */
  source: string;
  sha256: string;
  /** Where on the host (a staging folder kpfleet owns). */
  destination: string;
  /**
   * The file's appended signature as the controller read it (`config/module-signature.ts`).
   * Absent in plans made before kpfleet read it, or from a configuration not loaded from files.
   */
  signature?: ModuleSignature;
}

/** `kpatch install -k <kernel> -- <file>`: copy into /var/lib/kpatch/<kernel>/, enable the service. */
export interface InstallChange extends ChangeBase {
  action: 'install';
  patch: string;
  module: string;
  kernel: string;
  /** The uploaded file on the host. */
  file: string;
  sha256: string;
  /**
   * The store it goes into; absent: the host manager's. Set by a rollback that puts back a copy
   * it took from the other manager's store (a host moving between managers).
   */
  store?: ManagerName;
}

/** dnf/yum install of that exact kpatch-patch version (its %post installs and loads it). */
export interface PackageInstallChange extends ChangeBase {
  action: 'package-install';
  patch: string;
  module: string;
  /** name-version-release */
  package: string;
  /** An installed package of the same name at another version: this is an upgrade/downgrade. */
  replacesPackage?: string;
}

/** The boot mechanism: kpatch.service enabled, or (klp) kpfleet's own unit written and enabled. */
export interface EnableServiceChange extends ChangeBase {
  action: 'enable-service';
  /** Absent: kpatch.service. The klp manager's own unit (docs/klp-behaviour.md §K.2). */
  unit?: 'kpfleet-klp.service';
}

/**
 * `kpatch load <module>`; loading a patch that `replaces` others retires them (atomic replace).
 * Where an inert leftover of the same name is resident (refcount 0, from an atomic replace) and
 * kpatch is older than 0.9.4, which cannot load over it (docs/kpatch-behaviour.md §6 #27), the step
 * rmmods the leftover first.
 */
export interface LoadChange extends ChangeBase {
  action: 'load';
  patch: string;
  module: string;
  /** The installed file to load (/var/lib/kpatch/<kernel>/<file>); else kpatch finds it by name. */
  file?: string;
  /**
   * Loaded modules (not patch names) this one takes over from: the modules of the patches its
   * catalogue entry `replaces` (`Patch.replaces`). They are unloaded only after it is enabled.
   */
  replacesModules: string[];
  /** It is in sysfs but disabled (pre-5.1 kernels, or a reversed unload): load re-enables it. */
  reenable: boolean;
  /**
   * The facts show an inert leftover of this module (refcount 0) and kpatch is older than 0.9.4:
   * the step rmmods it first (§6 #27). (Apply also does so for a leftover this plan creates.)
   */
  removesLeftover?: true;
  cves: string[];
}

/** `kpatch unload` (disable and rmmod), or rmmod of an inert leftover of an atomic replace. */
export interface UnloadChange extends ChangeBase {
  action: 'unload';
  module: string;
  /** Only a refcount-0 leftover remains (no sysfs entry): nothing is disabled, it is rmmod-ed. */
  leftover: boolean;
  /** The module whose load must have succeeded first (a replacement's clean-up). */
  after?: string;
}

/** `kpatch uninstall -k <kernel> -- <file>` (a file starting with `-`: removed as kpatch would). */
export interface UninstallChange extends ChangeBase {
  action: 'uninstall';
  module: string;
  kernel: string;
  /** The file name under the store's folder for the kernel. */
  file: string;
  /** Absent: kpatch's store (/var/lib/kpatch); `klp`: the klp manager's (/var/lib/kpfleet/klp). */
  store?: 'klp';
  after?: string;
}

/** dnf/yum remove of an installed kpatch-patch package. */
export interface PackageRemoveChange extends ChangeBase {
  action: 'package-remove';
  package: string;
  after?: string;
}

export type Change =
  | UploadChange
  | InstallChange
  | PackageInstallChange
  | EnableServiceChange
  | LoadChange
  | UnloadChange
  | UninstallChange
  | PackageRemoveChange;

export type FindingKind =
  /** No declared patch fits the running kernel. */
  | 'uncovered'
  /** A patch is in transition: nothing new may start on this host. */
  | 'stalled'
  /** A live-patch module that nothing declares for this host (kept per policy). */
  | 'unmanaged'
  /** A loaded patch whose support window (`released` + `reboot_due_after`) has passed. */
  | 'reboot-due'
  /** `kpatch.enable=0` on the kernel command line: nothing is loaded at boot. */
  | 'boot-disabled'
  /** Changes are needed but kpatch is not installed (the host's manager is kpatch). */
  | 'kpatch-missing'
  /** The host's manager cannot make a declared change (a kpatch-patch package under klp). */
  | 'manager-unsupported'
  /** The kernel has no /sys/kernel/livepatch. */
  | 'livepatch-unsupported'
  /** A patch is loaded but disabled and nothing declares it loaded. */
  | 'disabled'
  /** An installed copy differs from the declared file (sha256). */
  | 'checksum'
  /** The host went down while kpfleet was loading this patch (the crash guard's record). */
  | 'suspect'
  /**
   * A module the host's kernel will refuse for its signature: unsigned where signatures are
   * enforced, or a signature no kernel can parse (the host is blocked).
   */
  | 'unsigned'
  /** An unsigned module, and whether the host refuses unsigned modules is not known. */
  | 'signature-unknown'
  /** A loaded patch is an atomic-replace build (sysfs) that kpfleet.yml declares without `replaces`. */
  | 'replace-undeclared'
  /** A function several enabled patches change, and which one's version runs (information). */
  | 'function-overlap';

/**
 * How much a finding about a host matters: `error` goes with a blocked host, `warning` is
 * counted in the summary, `info` is neither. (Not `diagnostics.ts`'s `Severity`, which grades a
 * diagnostic about a user's file.)
 */
export type FindingLevel = 'info' | 'warning' | 'error';

export interface Finding {
  kind: FindingKind;
  severity: FindingLevel;
  message: string;
  module?: string;
  patch?: string;
}

/**
 * - `converged`: nothing to do;
 * - `changes`: the changes below are pending;
 * - `blocked`: kpfleet will not change this host (stalled transition, uncovered with policy fail,
 *   kpatch missing, a kpatch-patch package under the klp manager, no livepatch support); the findings say
 *   why;
 * - `error`: facts could not be read or parsed;
 * - `unreachable`: no connection, authentication or host key refused.
 */
export type HostStatus = 'converged' | 'changes' | 'blocked' | 'error' | 'unreachable';

export interface HostPlan {
  host: string;
  groups: string[];
  status: HostStatus;
  /** Running kernel (absent when facts could not be read). */
  kernel?: string;
  /**
   * What manages the host's live patches (`facts/manager.ts`), and why (`managerReason`:
   * `auto: no kpatch utility`, `group web`, …). Absent when facts could not be read.
   */
  manager?: ManagerName;
  managerReason?: string;
  /** sha256 of the facts the changes were computed from (`facts/fingerprint.ts`). */
  factsFingerprint?: string;
  /** One line: why nothing changes, or what the changes achieve. */
  reason: string;
  /** In execution order. */
  changes: Change[];
  findings: Finding[];
  /** For `error` and `unreachable`: what went wrong, with its code and step. */
  error?: ErrorInfo;
  /** CVEs the changes close (from the catalogue). */
  cves: string[];
  /**
   * CVEs the changes re-open (`plan/cves.ts`): fixed by a patch they unload while it is enabled
   * and by no patch enabled after them. Absent when none.
   */
  reopens?: string[];
  /** In a merged plan (`Plan.shards`): the shard whose plan this host came from. */
  shard?: number;
}

/** How many hosts something concerns: a module removed, a CVE re-opened. */
export interface OnHosts {
  name: string;
  hosts: number;
}

export interface PlanSummary {
  hosts: number;
  converged: number;
  changes: number;
  blocked: number;
  errors: number;
  unreachable: number;
  /**
   * Hosts no declared patch covers (an `uncovered` finding, whatever their status:
   * `plan/coverage.ts`). Absent in plans written before kpfleet counted them.
   */
  uncovered?: number;
  /** Number of changes per action, over every host. */
  actions: Partial<Record<ChangeAction, number>>;
  /** CVEs the plan closes, sorted. */
  cves: string[];
  /**
   * Modules removed (`removedModules`: unloaded, not as the clean-up after a successor's load nor
   * as an inert leftover), each with its number of hosts, by name. Absent when none.
   */
  removes?: OnHosts[];
  /** CVEs the plan re-opens (`HostPlan.reopens`), each with its number of hosts. Absent when none. */
  reopens?: OnHosts[];
  /** Hosts with each finding kind of severity warning or error. */
  findings: Partial<Record<FindingKind, number>>;
  /** Hosts per manager (`HostPlan.manager`), of those whose facts were read. */
  managers: Partial<Record<ManagerName, number>>;
}

/** Shard `index` (1 … `count`) of a fleet cut by `--shard` (`inventory/shard.ts`'s `Shard`). */
export interface PlanShard {
  index: number;
  count: number;
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  /** ISO time the facts were read. */
  createdAt: string;
  kpfleetVersion: string;
  /** The project file, as named on the command line; and the --limit used. */
  config: string;
  /** What the plan was made from (`config/fingerprint.ts`): apply refuses it for another. */
  configFingerprint: ConfigFingerprint;
  limit?: string;
  /** A shard's plan (`plan --shard I/N`): which shard of how many. */
  shard?: PlanShard;
  /** A merged plan (`plan merge`): how many shards it joins; each host has its `shard`. */
  shards?: number;
  hosts: HostPlan[];
  summary: PlanSummary;
}
