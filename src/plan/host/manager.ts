/**
 * The planner's half of a host's manager (docs/klp-behaviour.md §K.5): what differs between
 * kpatch and klp for the phases. Every rule (ordering, replaces, unmanaged, drift, the crash
 * guard, signatures) stays in the shared phases; they read the store, its paths and the boot
 * mechanism from here. Pure.
 */
import type { ManagerName, Patch } from '../../config-model.ts';
import { basename } from '../../util/text.ts';
import type { ResolvedManager } from '../../facts/manager.ts';
import type { HostFacts, InstalledModule } from '../../facts/model.ts';
import {
  installedPath,
  installFolder,
  KLP_STORE_ROOT,
  klpStoreFolder,
  klpStorePath,
} from '../../host-paths.ts';

export interface PlanManager {
  name: ManagerName;
  /** Why this one (`facts/manager.ts` resolveManager): `auto: no kpatch utility`, `group web`, … */
  reason: string;
  /** The store it installs into and loads from at boot. */
  store: readonly InstalledModule[];
  /**
   * The other manager's store: a host moved between managers may still hold declared patches
   * there, removed once this store has them (the migration phase).
   */
  foreign: readonly InstalledModule[];
  storeFolder: (kernel: string) => string;
  storePath: (kernel: string, file: string) => string;
  /**
   * The file name a declared file patch has in the store: kpatch's, the source's own (kpatch
   * names modules by it, §1.3); klp's, `<module>.ko`, the name its boot script and crash guard
   * key on (§K.1), whatever the source file is called.
   */
  storeFile: (p: Patch) => string;
}

/** The store an installed file is in: the klp manager's by its path, else kpatch's. */
export function storeOf(i: Pick<InstalledModule, 'path'>): ManagerName {
  return i.path.startsWith(`${KLP_STORE_ROOT}/`) ? 'klp' : 'kpatch';
}

export function planManager(resolved: ResolvedManager, facts: HostFacts): PlanManager {
  const klpStore = facts.klp?.store ?? [];
  const { manager: name, reason } = resolved;
  return name === 'klp'
    ? {
        name,
        reason,
        store: klpStore,
        foreign: facts.installed,
        storeFolder: klpStoreFolder,
        storePath: klpStorePath,
        storeFile: (p) => `${p.module}.ko`,
      }
    : {
        name,
        reason,
        store: facts.installed,
        foreign: klpStore,
        storeFolder: installFolder,
        storePath: installedPath,
        storeFile: (p) => (p.source.kind === 'file' ? basename(p.source.path) : `${p.module}.ko`),
      };
}
