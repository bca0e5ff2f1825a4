/**
 * The files an OpenSSH client reads for its configuration, walked line by line: the roots (the
 * `-F` file, or ~/.ssh/config then /etc/ssh/ssh_config), and every file an `Include` names, read
 * where the `Include` stands, as readconf.c reads them (globs, relative paths under ~/.ssh for
 * user files and /etc/ssh for system ones, `~` from $HOME, at most 16 levels deep). Each line is
 * given with every way OpenSSH may split it (ssh-config-words.ts), and `Include` is followed for
 * every reading's paths, a glob read widely (`[...]` as `?`, `\` escapes): the walk may read more
 * files than ssh, never fewer.
 *
 * Two users: the project ssh-config scan (config/ssh-config-scan.ts) and the `ssh -G` grouping
 * (transport/ssh/ssh-config-groups.ts). Pure: the caller gives the file reads and listings.
 */
import { compileGlob, isGlob } from './glob.ts';
import { readings } from './ssh-config-words.ts';
import type { Reading, Word } from './ssh-config-words.ts';

/** What the walk may read; every path is absolute. */
export interface SshConfigFs {
  /** The text of a file; undefined when it is missing or not a readable file. */
  readFile(path: string): string | undefined;
  /** The names in a folder; empty when it cannot be listed. */
  readdir(path: string): string[];
}

export interface SshConfigRoot {
  path: string;
  /** Read as a user file (`~/.ssh/config`, `ssh -F`): relative `Include`s live in ~/.ssh. */
  user: boolean;
}

/** readconf.c READCONF_MAX_DEPTH: deeper `Include`s are an error to ssh. */
export const MAX_INCLUDE_DEPTH = 16;

/** A file the walk reads, and what its caller attached to it (`ctx`). */
export interface WalkedFile<C> {
  path: string;
  user: boolean;
  depth: number;
  ctx: C;
}

/** What the caller does with one file's lines. */
export interface FileVisitor<C> {
  /** Each line (without its newline) and its readings, before the files its `Include` names. */
  line(line: string, index: number, rs: readonly Reading[]): void;
  /** The context of the files an `Include` on line `index` names. */
  include(index: number): C;
  /** An `Include` word the walk cannot follow (`~user/…`). */
  unfollowed?(index: number, word: Word): void;
}

export interface SshConfigWalker<C> {
  /** Files with the same key are read once; by default the path. */
  key?(file: WalkedFile<C>): string;
  /** A file read: what to do with its lines. */
  read(file: WalkedFile<C>, text: string): FileVisitor<C>;
  /** A file deeper than readconf.c reads (ssh refuses the configuration). */
  tooDeep?(file: WalkedFile<C>): void;
}

/** glob(3) over absolute paths: `*`, `?`, `[...]` per segment; a leading dot is matched only by a dot. */
export function globFiles(pattern: string, fs: SshConfigFs): string[] {
  const parts = pattern.split('/').filter((p) => p !== '');
  let paths = [''];
  for (const part of parts) {
    if (!isGlob(part)) {
      paths = paths.map((p) => `${p}/${part}`);
      continue;
    }
    const glob = compileGlob(part);
    paths = paths.flatMap((p) =>
      fs
        .readdir(p === '' ? '/' : p)
        .filter((n) => glob.match(n) && (!n.startsWith('.') || part.startsWith('.')))
        .sort()
        .map((n) => `${p}/${n}`),
    );
  }
  return paths.map((p) => (p === '' ? '/' : p));
}

/**
 * The files an `Include` word names, as readconf.c finds them or more; undefined for `~user/`.
 * glob(3) reads `\x` as `x` and has its own bracket rules: the word is unescaped, and each closed
 * `[...]` widened to `?`, and the unescaped word is also taken literally.
 */
function includePaths(
  word: string,
  user: boolean,
  home: string,
  fs: SshConfigFs,
): string[] | undefined {
  let path = word.replace(/\\(.)/g, '$1');
  if (!path.startsWith('/') && !path.startsWith('~'))
    path = `${user ? '~/.ssh' : '/etc/ssh'}/${path}`;
  if (path === '~' || path.startsWith('~/')) path = home + path.slice(1);
  else if (path.startsWith('~')) return undefined;
  const wide = globFiles(path.replace(/\[[^\]/]*\]/g, '?'), fs);
  return wide.includes(path) ? wide : [...wide, path];
}

/** The words an `Include` on this line names, in every reading (each once). */
export function includeWords(rs: readonly Reading[]): Word[] {
  const seen = new Map<string, Word>();
  for (const r of rs) {
    if (r.keyword.text.toLowerCase() !== 'include') continue;
    for (const w of r.args) if (!seen.has(w.text)) seen.set(w.text, w);
  }
  return [...seen.values()];
}

/**
 * Every line of `roots` and of the files they include, in the order ssh reads them. A missing
 * or unreadable file is skipped (the caller's `fs` may throw instead).
 */
export function walkSshConfig<C>(
  roots: readonly (SshConfigRoot & { ctx: C })[],
  home: string,
  fs: SshConfigFs,
  walker: SshConfigWalker<C>,
): void {
  const seen = new Set<string>();
  const visit = (file: WalkedFile<C>): void => {
    const key = walker.key?.(file) ?? file.path;
    if (seen.has(key)) return;
    if (file.depth > MAX_INCLUDE_DEPTH) {
      walker.tooDeep?.(file);
      return;
    }
    seen.add(key);
    const text = fs.readFile(file.path);
    if (text === undefined) return;
    const visitor = walker.read(file, text);
    text.split('\n').forEach((line, i) => {
      const rs = readings(line);
      visitor.line(line, i, rs);
      for (const w of includeWords(rs)) {
        const files = includePaths(w.text, file.user, home, fs);
        if (files === undefined) {
          visitor.unfollowed?.(i, w);
          continue;
        }
        for (const path of files)
          visit({ path, user: file.user, depth: file.depth + 1, ctx: visitor.include(i) });
      }
    });
  };
  for (const r of roots) visit({ path: r.path, user: r.user, depth: 0, ctx: r.ctx });
}
