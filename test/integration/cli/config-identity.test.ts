/**
 * Which configuration an apply names in its audit records and report (`cli/config-identity.ts`):
 * the commit of the git repository that holds kpfleet.yml, found from kpfleet.yml's folder (not
 * the working directory's repository), `-dirty` only when a file of the configuration is not as
 * committed; no commit outside git. Real git, in temporary folders.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configCommit, configFiles, configIdentity } from '../../../src/cli/config-identity.ts';
import { selectHostsForCli } from '../../../src/cli/commands/project.ts';
import type { CliIo } from '../../../src/cli/io.ts';

const BASE = new URL('../../fixtures/invalid/_base/', import.meta.url).pathname;
const FP = `sha256:${'0'.repeat(64)}`;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const git = (dir: string, ...args: string[]): string =>
  execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();

/** A project (kpfleet.yml, inventory.ini, patches/) in `dir`. */
function project(dir: string): string {
  mkdirSync(dir, { recursive: true });
  cpSync(BASE, dir, { recursive: true });
  writeFileSync(
    join(dir, 'kpfleet.yml'),
    ['inventory: inventory.ini', 'groups:', '  web:', '    loaded: []', ''].join('\n'),
  );
  return dir;
}

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kpfleet-identity-'));
  dirs.push(d);
  return d;
}

/** A git repository holding a project in `ops/`, committed; returns [repo, project folder]. */
function repoWithProject(): [string, string] {
  const repo = temp();
  git(repo, 'init', '-q');
  const dir = project(join(repo, 'ops'));
  writeFileSync(join(repo, 'README'), 'other things\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'config');
  return [repo, dir];
}

const io = (cwd: string): CliIo => ({
  stdout: { write: () => true },
  stderr: { write: () => true },
  env: { HOME: cwd },
  cwd,
});

function identityOf(dir: string, cwd = dir) {
  const { config } = selectHostsForCli({ config: join(dir, 'kpfleet.yml') }, io(cwd));
  return configIdentity(config, cwd, FP);
}

describe('the configuration an apply names', () => {
  it('a clean repository: its commit, without -dirty, and the fingerprint', () => {
    const [repo, dir] = repoWithProject();
    const head = git(repo, 'rev-parse', 'HEAD');
    expect(identityOf(dir)).toEqual({ commit: head, fingerprint: FP });
    // a change elsewhere in the repository is not a change of the configuration
    writeFileSync(join(repo, 'README'), 'changed\n');
    writeFileSync(join(repo, 'notes.txt'), 'new\n');
    expect(identityOf(dir).commit).toBe(head);
  });

  it('-dirty when kpfleet.yml, the inventory or a patch file is changed, new or ignored', () => {
    const [repo, dir] = repoWithProject();
    const head = git(repo, 'rev-parse', 'HEAD');
    writeFileSync(join(dir, 'kpfleet.yml'), 'inventory: inventory.ini\ngroups: {}\n');
    expect(identityOf(dir).commit).toBe(`${head}-dirty`);
    git(repo, 'checkout', '-q', '--', '.');
    expect(identityOf(dir).commit).toBe(head);
    writeFileSync(join(dir, 'inventory.ini'), '[web]\nweb01\nweb02\n');
    expect(identityOf(dir).commit).toBe(`${head}-dirty`);
    git(repo, 'checkout', '-q', '--', '.');
    // group_vars beside the inventory, not committed
    mkdirSync(join(dir, 'group_vars'));
    writeFileSync(join(dir, 'group_vars', 'web.yml'), 'x: 1\n');
    expect(identityOf(dir).commit).toBe(`${head}-dirty`);
    rmSync(join(dir, 'group_vars'), { recursive: true });
    // kpfleet.yml ignored by git: the commit does not hold it
    writeFileSync(join(repo, '.gitignore'), 'ops/kpfleet.yml\n');
    git(repo, 'add', '.gitignore');
    git(repo, 'rm', '-q', '--cached', 'ops/kpfleet.yml');
    git(repo, 'commit', '-q', '-m', 'ignore it');
    const now = git(repo, 'rev-parse', 'HEAD');
    expect(identityOf(dir).commit).toBe(`${now}-dirty`);
  });

  it('a patch file changed is a change of the configuration', () => {
    const [repo, dir] = repoWithProject();
    const head = git(repo, 'rev-parse', 'HEAD');
    const files = [join(dir, 'kpfleet.yml'), join(dir, 'patches', 'a.ko')];
    expect(configCommit(files)).toBe(head);
    writeFileSync(join(dir, 'patches', 'a.ko'), 'rebuilt\n');
    expect(configCommit(files)).toBe(`${head}-dirty`);
  });

  it("is taken from kpfleet.yml's repository, not the working directory's", () => {
    const [repo, dir] = repoWithProject();
    const [other] = repoWithProject();
    writeFileSync(join(other, 'README'), 'another repository\n');
    git(other, 'commit', '-q', '-am', 'another');
    expect(identityOf(dir, other).commit).toBe(git(repo, 'rev-parse', 'HEAD'));
    expect(git(other, 'rev-parse', 'HEAD')).not.toBe(git(repo, 'rev-parse', 'HEAD'));
  });

  it('outside git: no commit, the fingerprint alone', () => {
    const dir = project(join(temp(), 'ops'));
    expect(identityOf(dir)).toEqual({ fingerprint: FP });
  });

  it('an inventory outside the repository makes the commit -dirty', () => {
    const [repo, dir] = repoWithProject();
    const outside = temp();
    cpSync(join(dir, 'inventory.ini'), join(outside, 'inventory.ini'));
    const files = configFiles(
      selectHostsForCli({ config: join(dir, 'kpfleet.yml') }, io(dir)).config,
      dir,
    );
    expect(configCommit([files[0] ?? '', join(outside, 'inventory.ini')])).toBe(
      `${git(repo, 'rev-parse', 'HEAD')}-dirty`,
    );
  });

  it('runs nothing a committed file asks for, and names the real commit', () => {
    // a pull request lays out the project folder as a bare repository (HEAD, objects/, refs/,
    // config): git would discover it before the real one and run its core.fsmonitor
    const [repo, dir] = repoWithProject();
    const mini = temp();
    git(mini, 'init', '-q');
    writeFileSync(join(mini, 'f'), 'x\n');
    git(mini, 'add', 'f');
    git(mini, 'commit', '-q', '-m', 'forged');
    for (const p of ['objects', 'refs', 'HEAD'])
      cpSync(join(mini, '.git', p), join(dir, p), { recursive: true });
    const canary = join(temp(), 'ran');
    writeFileSync(
      join(dir, 'config'),
      `[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n\tfsmonitor = "touch '${canary}'; false"\n`,
    );
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'a bare repository beside kpfleet.yml');
    // the repository's own config may set core.fsmonitor too (a runner's checkout altered)
    git(repo, 'config', 'core.fsmonitor', `touch '${canary}'; false`);
    const commit = identityOf(dir).commit;
    expect(existsSync(canary)).toBe(false);
    expect(commit).toBe(git(repo, 'rev-parse', 'HEAD'));
  });
});
