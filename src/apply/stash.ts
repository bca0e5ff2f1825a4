/**
 * The copy of a module kept before kpfleet uninstalls it, so that a rollback can install it
 * again: `/var/lib/kpfleet/rollback/<run id>/<kernel>/<file>` on the host. Each run has its own
 * folder, so a rollback only ever installs the copy this run made (never one an earlier run left);
 * the folder is removed when the host ends in a known state, and kept (named in the message) when
 * its rollback failed too. A copy that cannot be made stops the uninstall: the step fails and the
 * host is rolled back. Pure: commands as strings, names checked (`transport/shell.ts`).
 */
import { AppError, UnsafeArgumentError } from '../errors.ts';
import { installedPath, KPFLEET_DIR, STASH_ROOT } from '../host-paths.ts';
import { assertFileName, assertKernelRelease, sh } from '../transport/shell.ts';
import { tailText } from '../util/text.ts';

/** A run id as `apply` makes them (an ISO time and random hex): one safe path component. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** This run's folder of copies. */
export function stashFolder(runId: string): string {
  if (!RUN_ID.test(runId))
    throw new UnsafeArgumentError(
      'run id',
      runId,
      'a run id is 1 to 128 characters of [A-Za-z0-9._:-], starting with a letter or digit',
    );
  return `${STASH_ROOT}/${runId}`;
}

/** Where this run keeps its copy of `/var/lib/kpatch/<kernel>/<file>`. */
export function stashPath(runId: string, kernel: string, file: string): string {
  assertKernelRelease(kernel);
  assertFileName(file);
  return `${stashFolder(runId)}/${kernel}/${file}`;
}

/** The command that keeps the copy (as root), its folders private. */
function stashCommand(runId: string, kernel: string, file: string): string {
  const dst = stashPath(runId, kernel, file);
  const src = installedPath(kernel, file);
  return sh`mkdir -p -m 700 -- ${STASH_ROOT} ${stashFolder(runId)} ${dst.slice(0, dst.lastIndexOf('/'))} && cp -p -- ${src} ${dst}`;
}

/** What runs a command on the host (the Transport's exec, as apply calls it). */
type Exec = (
  command: string,
  options: { become: boolean; step: string; timeoutMs: number },
) => Promise<{ code: number | null; stderr: string }>;

/**
 * Keeps the copy of a module before its uninstall.
 * @throws AppError E_STASH (exit 1) when it could not be made: the module must not be uninstalled
 */
export async function stashBeforeUninstall(
  exec: Exec,
  o: { runId: string; host: string; kernel: string; file: string },
): Promise<void> {
  const r = await exec(stashCommand(o.runId, o.kernel, o.file), {
    become: true,
    step: 'stash',
    timeoutMs: 30_000,
  });
  if (r.code === 0) return;
  const said =
    tailText(r.stderr.trim(), 3, 500).replaceAll('\n', ' / ') || `exit ${String(r.code)}`;
  throw new AppError(
    'E_STASH',
    `could not keep a copy of ${installedPath(o.kernel, o.file)} in ${stashFolder(o.runId)}, so it was not uninstalled: ${said}`,
    {
      host: o.host,
      step: 'stash',
      hint: `kpfleet keeps a copy of each module it uninstalls until the host is done, for a rollback; free space in ${KPFLEET_DIR} on the host`,
    },
  );
}

/** Removes this run's copies (as root); a failure leaves them, and is not the host's failure. */
export async function dropStash(exec: Exec, runId: string): Promise<void> {
  await exec(sh`rm -rf -- ${stashFolder(runId)}`, {
    become: true,
    step: 'stash cleanup',
    timeoutMs: 30_000,
  }).catch(() => undefined);
}
