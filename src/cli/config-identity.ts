/**
 * Which configuration an apply applied, as its audit records and its report name it: the commit
 * of the git repository that holds kpfleet.yml (found from kpfleet.yml's own folder, never from
 * kpfleet's install folder or the working directory), `-dirty` when a file of the configuration
 * is not exactly as in that commit, and always the configuration's fingerprint (the plan's
 * `configFingerprint`, `config/fingerprint.ts`), which names it in git or out of it.
 *
 * The configuration's files are kpfleet.yml, the inventory with the group_vars and host_vars
 * beside it, and the patch files: one of them changed, new (untracked), ignored by git, or
 * outside the repository makes the commit `-dirty`, since the commit alone does not hold it.
 * Changes elsewhere in the repository do not.
 *
 * git runs nothing the project can write: the repository is the nearest folder above kpfleet.yml
 * with a `.git` (found here, as config/load.ts finds the project's root, and handed to git as
 * `--git-dir`/`--work-tree`), never one git would discover on its own: files of a pull request
 * laid out as a bare repository (`HEAD`, `objects/`, `refs/`, `config`) beside kpfleet.yml would
 * otherwise be that repository, and its `config` (`core.fsmonitor`, filters) would run commands
 * and name a commit of its choosing. `core.fsmonitor` is off in any case, and status takes no
 * optional lock (it writes nothing).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Config } from '../config-model.ts';

export interface ConfigIdentity {
  /** `<commit>` or `<commit>-dirty`; undefined when kpfleet.yml is not in a git repository. */
  commit?: string;
  /** `sha256:…`: the configuration's fingerprint. */
  fingerprint: string;
}

/** git on the repository whose work tree is `top`, with nothing of it that runs a command. */
const git = (top: string, args: string[]): string =>
  execFileSync(
    'git',
    [
      `--git-dir=${join(top, '.git')}`,
      `--work-tree=${top}`,
      '--no-optional-locks',
      '-c',
      'core.fsmonitor=false',
      '-c',
      'safe.bareRepository=explicit',
      ...args,
    ],
    {
      cwd: top,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );

/** The nearest folder from `dir` up that holds a `.git` (a folder, or a worktree's file). */
function workTreeOf(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

const real = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

/** The files a configuration is made of (absolute), as this module's header lists them. */
export function configFiles(config: Config, cwd: string): string[] {
  const inventoryDir = dirname(config.inventory);
  const files = [
    resolve(cwd, config.file),
    config.inventory,
    join(inventoryDir, 'group_vars'),
    join(inventoryDir, 'host_vars'),
  ];
  for (const p of config.patches.values()) if (p.source.kind === 'file') files.push(p.source.path);
  return [...new Set(files)];
}

/**
 * The commit of the repository holding `files[0]` (kpfleet.yml), `-dirty` as the header says;
 * undefined when it is in no repository or git is missing.
 */
export function configCommit(files: readonly string[]): string | undefined {
  const [project] = files;
  if (project === undefined) return undefined;
  const found = workTreeOf(dirname(real(project)));
  if (found === undefined) return undefined;
  const top = real(found);
  let head: string;
  try {
    head = git(top, ['rev-parse', '--verify', 'HEAD']).trim();
  } catch {
    return undefined;
  }
  const inside: string[] = [];
  let outside = false;
  for (const f of files) {
    const rel = relative(top, real(f));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) outside = true;
    else inside.push(rel);
  }
  if (outside) return `${head}-dirty`;
  try {
    // changed, staged, untracked or ignored: the commit does not hold the file as it is
    const status = git(top, [
      'status',
      '--porcelain',
      '--untracked-files=all',
      '--ignored=matching',
      '--',
      ...inside.map((p) => `:(literal)${p}`),
    ]);
    return status.trim() !== '' ? `${head}-dirty` : head;
  } catch {
    return `${head}-dirty`;
  }
}

export function configIdentity(config: Config, cwd: string, fingerprint: string): ConfigIdentity {
  const commit = configCommit(configFiles(config, cwd));
  return { ...(commit !== undefined ? { commit } : {}), fingerprint };
}
