/**
 * The run's own housekeeping on a host, as commands: the staging folder where uploads wait, and
 * its cleanup; the copies of modules kept before an uninstall (the stash), and their removal.
 * The lock's commands are `lock.ts`'s, each change's `steps.ts`'s; `session.ts` runs these.
 * Pure: commands as strings, every name checked and every word quoted (`transport/shell.ts`).
 */
import { AppError, UnsafeArgumentError } from '../errors.ts';
import type { ManagerName } from '../config-model.ts';
import { STAGING_DIR, STASH_ROOT, storeFolder } from '../host-paths.ts';
import {
  assertFileName,
  assertKernelRelease,
  assertRemotePath,
  quote,
  sh,
} from '../transport/shell.ts';

/** A run id as `apply` makes them (an ISO time and random hex): one safe path component. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Refuses a run id that is not one safe path component (it names folders and records). */
export function assertRunId(runId: string): void {
  if (!RUN_ID.test(runId))
    throw new UnsafeArgumentError(
      'run id',
      runId,
      'a run id is 1 to 128 characters of [A-Za-z0-9._:-], starting with a letter or digit',
    );
}

// ---------------------------------------------------------------------------------------------
// Staging: uploads wait in `~/.kpfleet/stage/<sha>/…`, private to the login user, until
// `kpatch install` copies them; each run removes its own folders there when it is done.

/** `~/.kpfleet/stage/…` → the absolute path on this host (`staging`, as `stagingOf` found it). */
export function resolveStaged(path: string, staging: string): string {
  return path.startsWith(`${STAGING_DIR}/`) ? staging + path.slice(STAGING_DIR.length) : path;
}

/** The staging sub-folders of upload destinations: the plan's own form, a checksum prefix. */
function stagedFolders(destinations: readonly string[]): string[] {
  return [
    ...new Set(
      destinations
        .filter((d) => d.startsWith(`${STAGING_DIR}/`))
        .map((d) => d.slice(STAGING_DIR.length + 1, d.lastIndexOf('/')))
        .filter((d) => /^[0-9a-f]{16}$/.test(d)),
    ),
  ];
}

/**
 * The staging folder as the host resolved it (absolute, symlinks resolved), from where the upload
 * to `destination` (`~/.kpfleet/stage/<sha>/<file>`) landed: `placed`, as the transport says.
 * Undefined for a destination outside staging.
 * @throws AppError E_STAGING when the host put the file elsewhere than below the staging folder
 */
export function stagingOf(destination: string, placed: string): string | undefined {
  if (!destination.startsWith(`${STAGING_DIR}/`)) return undefined;
  const below = destination.slice(STAGING_DIR.length);
  const root = placed.endsWith(below) ? placed.slice(0, placed.length - below.length) : '';
  if (!isRemotePath(root))
    throw new AppError(
      'E_STAGING',
      `the host put the upload ${destination} at ${JSON.stringify(placed.slice(0, 300))}, not below ${STAGING_DIR}`,
      { step: 'upload', hint: 'the login user needs a writable home folder' },
    );
  return root;
}

/** Whether a path the host gave is one that may reach a command (`assertRemotePath`). */
function isRemotePath(path: string): boolean {
  try {
    assertRemotePath(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The command that removes what this run staged (run as the login user before the last facts
 * read): its own folders only, then the staging folder if nothing else is left in it. `staging`:
 * the folder as an upload found it, once one did.
 */
export function cleanupStagingScript(
  destinations: readonly string[],
  staging = '',
): string | undefined {
  // where an upload put it (sftp-server's folder can differ from $HOME), else the login's home
  const root = staging === '' ? '"$HOME"/.kpfleet/stage' : quote(staging);
  const own = stagedFolders(destinations).map((d) => `${root}/${quote(d)}`);
  if (own.length === 0) return undefined;
  return `rm -rf -- ${own.join(' ')}; rmdir -- ${root} 2>/dev/null; true`;
}

// ---------------------------------------------------------------------------------------------
// The stash: the copy of a module kept before kpfleet uninstalls it, so that a rollback can
// install it again: `/var/lib/kpfleet/rollback/<run id>/<kernel>/<file>`. Each run has its own
// folder, so a rollback only ever installs the copy this run made (never one an earlier run
// left); the folder is removed when the host ends in a known state, and kept (named in the
// message) when its rollback failed too. A copy that cannot be made stops the uninstall.

/** This run's folder of copies. */
export function stashFolder(runId: string): string {
  assertRunId(runId);
  return `${STASH_ROOT}/${runId}`;
}

/**
 * Where this run keeps its copy of `<store>/<kernel>/<file>`: kpatch's store's below the run's
 * folder as before, the klp store's below its `klp/` (a host moving between managers can hold a
 * file of the same name in both).
 */
export function stashPath(
  runId: string,
  kernel: string,
  file: string,
  store: ManagerName = 'kpatch',
): string {
  assertKernelRelease(kernel);
  assertFileName(file);
  return `${stashFolder(runId)}${store === 'klp' ? '/klp' : ''}/${kernel}/${file}`;
}

/** The file a stash copies: `file` in the store's folder for `kernel`. */
export function storedPath(kernel: string, file: string, store: ManagerName = 'kpatch'): string {
  return `${storeFolder(store, kernel)}/${file}`;
}

/** The command that keeps the copy (as root), its folders private. */
export function stashScript(
  runId: string,
  kernel: string,
  file: string,
  store: ManagerName = 'kpatch',
): string {
  const dst = stashPath(runId, kernel, file, store);
  const src = storedPath(kernel, file, store);
  return sh`mkdir -p -m 700 -- ${STASH_ROOT} ${stashFolder(runId)} ${dst.slice(0, dst.lastIndexOf('/'))} && cp -p -- ${src} ${dst}`;
}

/** The command that removes this run's copies (as root). */
export function dropStashScript(runId: string): string {
  return sh`rm -rf -- ${stashFolder(runId)}`;
}
