/**
 * The validated configuration model: what `kpfleet.yml` means once defaults are applied and paths
 * resolved. Raw YAML is `unknown` until it has passed the schema; this is what the rest of
 * kpfleet reads.
 */
import type { Become, ConnectionDefaults, HostKeyChecking } from './connection.ts';

export type UnmanagedPolicy = 'keep' | 'remove';

/**
 * What manages a host's live patches: `kpatch` (the kpatch utility and kpatch.service) or `klp`
 * (plain livepatch modules loaded by kpfleet itself with insmod and sysfs, docs/klp-behaviour.md).
 */
export type ManagerName = 'kpatch' | 'klp';
export const MANAGER_NAMES: readonly ManagerName[] = ['kpatch', 'klp'];
/** The setting as written: a manager, or `auto` (kpatch where the utility is installed, else klp). */
export type ManagerChoice = ManagerName | 'auto';
export const MANAGER_CHOICES: readonly ManagerChoice[] = ['kpatch', 'klp', 'auto'];

/**
 * A host's manager setting and where it came from (`desired/resolve.ts`): `default`,
 * `connection.manager`, `group web`, `kpfleet_manager at host_vars/h1.yml:1:1`.
 */
export interface ManagerSetting {
  choice: ManagerChoice;
  source: string;
}
export type UncoveredPolicy = 'warn' | 'fail';
export type PatchState = 'loaded' | 'installed' | 'absent';
export const PATCH_STATES: readonly PatchState[] = ['loaded', 'installed', 'absent'];

/** A cumulative wave size: a host count or a percentage of the selected hosts. */
export type Amount = { kind: 'count'; value: number } | { kind: 'percent'; value: number };

export interface Rollout {
  forks: number;
  waves: Amount[];
  maxFailures: Amount;
  healthCheck?: string;
  healthCheckTimeoutMs: number;
  rebootDueAfterMs?: number;
}

/**
 * What a module file's appended signature says, read on the controller
 * (`config/module-signature.ts`): what `modinfo` shows as `signer`, `sig_key`, `sig_hashalgo`.
 * `signed: false`: no `~Module signature appended~` trailer at all.
 */
export type ModuleSignature =
  | { signed: false }
  | {
      signed: true;
      /**
       * `struct module_signature`'s id_type as modinfo names it: `PKCS#7` (the only kind a kernel
       * checks; since 4.3 it refuses any other as unsupported crypto, ENOPKG, like an unsigned
       * module), `PGP`, `X509`, or `id_type N`. Absent when the trailer is too short to hold it.
       */
      idType?: string;
      /** The signing certificate's issuer CN (modinfo's `signer`); absent where not known. */
      signer?: string;
      /** The certificate's serial number (modinfo's `sig_key`): `1A:2B:…`; or the subject key id. */
      keyId?: string;
      /** The digest algorithm: `sha256`, `sha384`, `sha512`, `sha1`, …, or a dotted OID. */
      hashAlgo?: string;
      /**
       * Why the trailer or its PKCS#7 cannot be read. A kernel refuses such a module on every host,
       * enforcing signatures or not (EBADMSG).
       */
      malformed?: string;
    };

export type PatchSource =
  | {
      kind: 'file';
      /** absolute */ path: string;
      /** as written */ written: string;
      sha256: string;
      /** The file's signature, read by the loader (config/load.ts); absent when it was not read. */
      signature?: ModuleSignature;
    }
  | { kind: 'rpm'; package: string };

export interface Patch {
  name: string;
  module: string;
  /** Releases or globs matched against `uname -r`. */
  kernels: string[];
  source: PatchSource;
  replaces: string[];
  cves: string[];
  released?: string;
  /**
   * How long after `released` the patch is supported: its own `support`, else
   * `patch_defaults.support` (the rollout's `reboot_due_after` applies where neither is set).
   */
  supportMs?: number;
  description?: string;
}

export interface GroupSpec {
  name: string;
  loaded: string[];
  installed: string[];
  absent: string[];
  unmanaged?: UnmanagedPolicy;
  uncoveredKernel?: UncoveredPolicy;
  manager?: ManagerChoice;
}

export interface Config {
  /** The project file, as the user named it. */
  file: string;
  /** Absolute path of the inventory. */
  inventory: string;
  /** The inventory path as written in the project file. */
  inventoryWritten: string;
  connection: ConnectionDefaults;
  /** `connection.manager`: the lowest layer of every host's manager setting; absent: not set. */
  manager?: ManagerChoice;
  rollout: Rollout;
  /** In file order. */
  patches: Map<string, Patch>;
  /** In file order. */
  groups: Map<string, GroupSpec>;
}

export const DEFAULTS = {
  become: 'sudo' as Become,
  hostKeyChecking: 'strict' as HostKeyChecking,
  knownHosts: '~/.ssh/known_hosts',
  sshConfig: '~/.ssh/config',
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 300_000,
  keepaliveIntervalMs: 10_000,
  forks: 50,
  waves: [{ kind: 'percent', value: 100 }] as Amount[],
  maxFailures: { kind: 'count', value: 0 } as Amount,
  healthCheckTimeoutMs: 120_000,
  unmanaged: 'keep' as UnmanagedPolicy,
  uncoveredKernel: 'warn' as UncoveredPolicy,
  manager: 'auto' as ManagerChoice,
};
