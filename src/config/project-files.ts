/**
 * What "inside the project" means, for every rule that trusts a file less because a pull request
 * can change it: the git work tree that holds kpfleet.yml (a file beside the project folder is as
 * easy to change as one inside it), or the project folder outside git. The user's and the
 * system's ssh folders (~/.ssh, /etc/ssh) are never part of it.
 */
import { existsSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

/** The work tree (the nearest folder up from `dir` holding .git), or `dir` outside git. */
export function projectRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return dir;
  }
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The folders no project owns, as written and as they really are. */
function sshFolders(home: string): string[] {
  const written = [join(home, '.ssh'), join(userInfo().homedir, '.ssh'), '/etc/ssh'];
  return [...written, ...written.map(realpathOr)];
}

/**
 * Whether a file belongs to the project (a pull request can change it), as the ssh config scan
 * judges it: inside the work tree or reached through one of its symlinks, and not under ~/.ssh
 * or /etc/ssh.
 */
export function projectFileTest(dir: string, home: string): (path: string) => boolean {
  const root = projectRoot(dir);
  const realRoot = realpathOr(root);
  const trusted = sshFolders(home);
  return (path) =>
    !trusted.some((t) => isInside(t, path)) &&
    (isInside(root, path) || isInside(realRoot, realpathOr(path)));
}

/**
 * Whether a file really is in the project, symlinks followed: in the work tree, but not in git's
 * own folder (.git/config may hold a CI token) nor under ~/.ssh or /etc/ssh. A file of an
 * inventory inside the project that is not (a committed link to ~/.ssh/id_ed25519) is refused
 * unread. A path that cannot be resolved (a dangling link) passes: reading it fails as well.
 */
export function realPathInProject(dir: string, home: string): (path: string) => boolean {
  const realRoot = realpathOr(projectRoot(dir));
  const trusted = sshFolders(home);
  return (path) => {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return true;
    }
    return (
      isInside(realRoot, real) &&
      !relative(realRoot, real).split(sep).includes('.git') &&
      !trusted.some((t) => isInside(t, real))
    );
  };
}
