/**
 * Where things are on a managed host, named once. kpatch's own places are described in
 * docs/kpatch-behaviour.md §4.1 and §4.3; kpfleet's are listed in docs/ARCHITECTURE.md ("Shared").
 * Pure constants and path builders: every caller still validates the names it joins in.
 */

/** `kpatch install` copies modules here, one folder per kernel release (§4.1). */
export const KPATCH_INSTALL_ROOT = '/var/lib/kpatch';
/** kpatch-patch RPMs put their module here, one folder per kernel release (§4.3). */
export const RPM_MODULE_ROOT = '/usr/lib/kpatch';
/** kpfleet's own state on the host: lock, run info, load records, rollback copies. */
export const KPFLEET_DIR = '/var/lib/kpfleet';
/**
 * The lock's own folder, root's alone (0700): flock needs only read access to a file, so a lock
 * file any local user can open is a lock any local user can hold (src/apply/lock.ts).
 */
export const LOCK_DIR = `${KPFLEET_DIR}/locks`;
/** The run lock (flock), who holds it, and the steps' shared lock (src/apply/lock.ts). */
export const RUN_LOCK = `${LOCK_DIR}/run.lock`;
export const RUN_INFO = `${LOCK_DIR}/run.info`;
export const STEPS_LOCK = `${LOCK_DIR}/steps.lock`;
/** Names the run whose batched steps may start no more: its rollback has begun (src/apply/lock.ts). */
export const BATCH_STOP = `${LOCK_DIR}/batch.stop`;
/** The lock folder of kpfleet before the flock lock (mkdir-based; it could outlive its run). */
export const LEGACY_LOCK_DIR = `${KPFLEET_DIR}/lock`;
/** The crash guard's record of a load in progress, one file per module. */
export const LOAD_RECORD_DIR = `${KPFLEET_DIR}/loading`;
/** Copies of uninstalled modules kept for a rollback, one folder per run. */
export const STASH_ROOT = `${KPFLEET_DIR}/rollback`;
/** Where uploads wait before `kpatch install` copies them: the SSH user's home, private to it. */
export const STAGING_DIR = '~/.kpfleet/stage';

/** `/var/lib/kpatch/<kernel>` */
export const installFolder = (kernel: string): string => `${KPATCH_INSTALL_ROOT}/${kernel}`;
/** `/var/lib/kpatch/<kernel>/<file>` */
export const installedPath = (kernel: string, file: string): string =>
  `${installFolder(kernel)}/${file}`;
/** `/usr/lib/kpatch/<kernel>` */
export const rpmModuleFolder = (kernel: string): string => `${RPM_MODULE_ROOT}/${kernel}`;

/** The klp manager's store: the modules it installed, one folder per kernel release (§K.1). */
export const KLP_STORE_ROOT = `${KPFLEET_DIR}/klp`;
/** `/var/lib/kpfleet/klp/<kernel>` */
export const klpStoreFolder = (kernel: string): string => `${KLP_STORE_ROOT}/${kernel}`;
/** `/var/lib/kpfleet/klp/<kernel>/<file>` */
export const klpStorePath = (kernel: string, file: string): string =>
  `${klpStoreFolder(kernel)}/${file}`;
/** The klp manager's boot mechanism: its own unit, and the script the unit runs (§K.2). */
export const KLP_UNIT = 'kpfleet-klp.service';
export const KLP_UNIT_PATH = `/etc/systemd/system/${KLP_UNIT}`;
export const KLP_BOOT_SCRIPT = `${KLP_STORE_ROOT}/boot.sh`;

/** A manager's store: kpatch's `/var/lib/kpatch`, or the klp manager's `/var/lib/kpfleet/klp`. */
export const storeRoot = (store: 'kpatch' | 'klp'): string =>
  store === 'klp' ? KLP_STORE_ROOT : KPATCH_INSTALL_ROOT;
/** That store's folder for a kernel release. */
export const storeFolder = (store: 'kpatch' | 'klp', kernel: string): string =>
  `${storeRoot(store)}/${kernel}`;
