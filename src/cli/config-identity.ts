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
 */
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Config } from '../config-model.ts';

export interface ConfigIdentity {
  /** `<commit>` or `<commit>-dirty`; undefined when kpfleet.yml is not in a git repository. */
  commit?: string;
  /** `sha256:…`: the configuration's fingerprint. */
  fingerprint: string;
}

const git = (dir: string, args: string[]): string =>
  execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });

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
  const dir = dirname(real(project));
  let head: string;
  let top: string;
  try {
    head = git(dir, ['rev-parse', '--verify', 'HEAD']).trim();
    top = real(git(dir, ['rev-parse', '--show-toplevel']).trim());
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
