/**
 * What a memory host (transport.ts) answers, as text, and the commands it expects of a run:
 * the staging clean-up apply sends (scripts.ts builds it: written here to the letter, so that a
 * change there is refused, loudly), the copy before an uninstall and its removal (scripts.ts's
 * own commands), and what a step's verification prints, read from the host model
 * (lab/model.ts).
 */
import { createHash } from 'node:crypto';
import { dropStashScript, stashPath, stashScript } from '../../../../src/apply/scripts.ts';
import { normalizeModuleName } from '../../../../src/facts/parse/kpatch-list-model.ts';
import { STAGING_DIR } from '../../../../src/host-paths.ts';
import type { ManagerName } from '../../../../src/config-model.ts';
import type { Change } from '../../../../src/plan/model.ts';
import { quote } from '../../../../src/transport/shell.ts';
import type { ExecResult, Held } from '../../../../src/transport/transport.ts';
import type { ModelHost } from '../../../../lab/model.ts';

/** Who runs apply: what its lock request says. */
export interface RunIdentity {
  operator: string;
  runId: string;
  /** `now().toISOString()` as apply will read it when it takes the lock. */
  since: string;
}

export const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
export const SHA = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Where the staging folder is on every memory host (~/.kpfleet/stage, symlinks resolved). */
export const STAGING_PATH = '/home/kpfleet/.kpfleet/stage';

/** The staging folders of upload destinations, as apply names them (`<sha prefix>`). */
function stagedFolders(destinations: readonly string[]): string[] {
  return [...new Set(destinations.map((d) => d.slice(STAGING_DIR.length + 1, d.lastIndexOf('/'))))];
}

/**
 * scripts.ts `cleanupStagingScript`'s commands, to the letter: naming the staging folder as an
 * upload found it (STAGING_PATH), or, before any upload said, the login's home.
 */
export function cleanupCommands(folders: readonly string[]): string[] {
  return ['"$HOME"/.kpfleet/stage', quote(STAGING_PATH)].map((root) => {
    const own = folders.map((d) => `${root}/${quote(d)}`);
    return `rm -rf -- ${own.join(' ')}; rmdir -- ${root} 2>/dev/null; true`;
  });
}

export const execResult = (stdout: string, code = 0, stderr = ''): ExecResult => ({
  code,
  signal: null,
  stdout,
  stderr,
  durationMs: 0,
});

/** What a host expects of one run: its plan's changes, and the commands they bring. */
export interface RunCommands {
  changes: readonly Change[];
  /** The host's manager, as its plan names it: the steps (`stepFor`) and stores it uses. */
  manager: ManagerName;
  run: RunIdentity;
  healthCheck?: string;
  /** Upload destinations (~/.kpfleet/stage/…) and their folders. */
  uploads: string[];
  folders: string[];
  /** The copy kept before each of the plan's uninstalls: its command, what it keeps where. */
  stash: Map<string, { kernel: string; file: string; path: string; store: ManagerName }>;
  dropStash: string;
}

export function runCommands(
  changes: readonly Change[],
  run: RunIdentity,
  healthCheck?: string,
  manager: ManagerName = 'kpatch',
): RunCommands {
  const uploads = changes.flatMap((c) => (c.action === 'upload' ? [c.destination] : []));
  const stash = new Map<
    string,
    { kernel: string; file: string; path: string; store: ManagerName }
  >();
  for (const c of changes) {
    if (c.action !== 'uninstall') continue;
    const store = c.store ?? 'kpatch';
    stash.set(stashScript(run.runId, c.kernel, c.file, store), {
      kernel: c.kernel,
      file: c.file,
      path: stashPath(run.runId, c.kernel, c.file, store),
      store,
    });
  }
  return {
    changes,
    manager,
    run,
    ...(healthCheck !== undefined ? { healthCheck } : {}),
    uploads,
    folders: stagedFolders(uploads),
    stash,
    dropStash: dropStashScript(run.runId),
  };
}

/** What a step's verification prints (src/apply/steps.ts), read from the model after it. */
export function verifyText(
  m: ModelHost,
  transition: ReadonlySet<string>,
  c: Change,
  manager: ManagerName = 'kpatch',
): string {
  const packages = m.packages.map((p) => `package ${p}`);
  const files = (store: ManagerName) => (store === 'klp' ? m.klpStore : m.installed);
  switch (c.action) {
    case 'upload':
      return '';
    case 'install': {
      // the klp store names a module `<module>.ko` (docs/klp-behaviour.md §K.1)
      const store = c.store ?? manager;
      const name = store === 'klp' ? `${c.module}.ko` : basename(c.file);
      return files(store).find((i) => i.kernel === c.kernel && i.file === name)?.sha256 ?? '';
    }
    case 'package-install':
      return [...packages, ...m.installed.map((i) => `module ${normalizeModuleName(i.file)}`)].join(
        '\n',
      );
    case 'enable-service':
      // klp's step prints `enabled` only when its unit is enabled and its files current
      if (manager === 'klp')
        return m.klpBoot.enabled && m.klpBoot.current ? 'enabled' : 'is-enabled: disabled';
      return m.service.present ? (m.service.enabled ? 'enabled' : 'disabled') : '';
    case 'load': {
      const s = m.sysfs.get(c.module);
      return s ? `${s.enabled ? '1' : '0'}${transition.has(c.module) ? '1' : '0'}` : '';
    }
    case 'unload':
      return [
        ...(m.sysfs.has(c.module) ? ['sysfs'] : []),
        ...(m.resident.has(c.module) ? ['module'] : []),
      ].join('\n');
    case 'uninstall':
      return files(c.store ?? 'kpatch').some((i) => i.kernel === c.kernel && i.file === c.file)
        ? 'present'
        : '';
    case 'package-remove':
      return packages.join('\n');
  }
}

/** A hold that ended at once, having said `said`. */
export function endedHold(said: string): Held {
  return {
    said,
    stderr: '',
    code: 0,
    ended: true,
    lost: false,
    release: () => Promise.resolve(),
  };
}
