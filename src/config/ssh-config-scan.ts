/**
 * Refuses OpenSSH client configuration that would run commands when it comes from the project
 * (the part of the repository a pull request can change). `ssh -G`, which kpfleet asks to
 * resolve every host, runs `Match exec` while it reads the files; kpfleet runs `ProxyCommand`.
 * So a project's ssh config is read here first, without running ssh, and a directive that runs a
 * command is a diagnostic at file:line:col (exit 3) unless the operator passes
 * `--trust-ssh-config`. See docs/config.md, "An ssh config inside the project".
 *
 * Each line is read every way an OpenSSH client may split it (ssh-config-words.ts: OpenSSH's own
 * word splitters, and quotes and backslashes ignored), and refused when any reading finds what
 * ssh-config-rules.ts lists. `Include` is followed as readconf.c follows it (globs, relative paths
 * under ~/.ssh for user files and /etc/ssh for system ones), every reading's paths, a glob read
 * widely (`[...]` as `?`, `\` escapes): the scan may read more files than ssh, never fewer.
 * Pure: the caller gives the file reads and directory listings.
 */
import type { Diagnostic } from '../diagnostics.ts';
import { compileGlob, isGlob } from '../util/glob.ts';
import { SourceText } from '../util/source.ts';
import { includeWords, lineFindings } from './ssh-config-rules.ts';
import type { FindingCode } from './ssh-config-rules.ts';
import { readings } from './ssh-config-words.ts';

/** What the scan may read; every path is absolute. */
export interface SshConfigScanFs {
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

export interface SshConfigScanInput {
  /** The files ssh reads first, in order. */
  roots: readonly SshConfigRoot[];
  /** `$HOME`, which ssh's glob uses for `~` in `Include`. */
  home: string;
  /** Whether a file belongs to the project (a pull request can change it). */
  inProject: (path: string) => boolean;
  /** How a path is shown in a diagnostic (relative to the working directory). */
  display: (path: string) => string;
}

/** readconf.c READCONF_MAX_DEPTH: deeper `Include`s are an error to ssh. */
const MAX_DEPTH = 16;

const HINTS: Readonly<Record<FindingCode, string>> = {
  'ssh-config/runs-command':
    'kpfleet runs no command from an ssh config in the project; an operator who trusts this file passes --trust-ssh-config (never in a pull-request job), or moves the directive to ~/.ssh/config',
  'ssh-config/host-name':
    'write a host name (letters, digits, `-`, `_`, `.`), an IP address or [name]:port; an operator who trusts this file passes --trust-ssh-config, and kpfleet still refuses to record such a name',
  'ssh-config/include':
    'write the path without quotes or backslashes (a glob such as conf.d/*.conf is fine), or pass --trust-ssh-config if you trust this file',
};

/** glob(3) over absolute paths: `*`, `?`, `[...]` per segment; a leading dot is matched only by a dot. */
export function globFiles(pattern: string, fs: SshConfigScanFs): string[] {
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
  fs: SshConfigScanFs,
): string[] | undefined {
  let path = word.replace(/\\(.)/g, '$1');
  if (!path.startsWith('/') && !path.startsWith('~'))
    path = `${user ? '~/.ssh' : '/etc/ssh'}/${path}`;
  if (path === '~' || path.startsWith('~/')) path = home + path.slice(1);
  else if (path.startsWith('~')) return undefined;
  const wide = globFiles(path.replace(/\[[^\]/]*\]/g, '?'), fs);
  return wide.includes(path) ? wide : [...wide, path];
}

interface Visit {
  path: string;
  user: boolean;
  /** The project file that includes this one, when this file is scanned because of it. */
  includedBy: string | undefined;
  depth: number;
}

/**
 * The diagnostics for every line that runs a command in a project file, or in a file a project
 * file includes (at any depth). Files outside the project, and what they include outside it, are
 * read only to follow their `Include`s.
 */
export function scanSshConfig(input: SshConfigScanInput, fs: SshConfigScanFs): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const visit = (v: Visit): void => {
    const own = input.inProject(v.path);
    const scanned = own || v.includedBy !== undefined;
    const key = `${v.path}\0${String(scanned)}`;
    if (seen.has(key) || v.depth > MAX_DEPTH) return;
    seen.add(key);
    const text = fs.readFile(v.path);
    if (text === undefined) return;
    const src = new SourceText(input.display(v.path), text);
    const why =
      own || v.includedBy === undefined
        ? 'this file is part of the project, which a pull request can change'
        : `this file is included by ${v.includedBy}, part of the project`;
    text.split('\n').forEach((line, i) => {
      const rs = readings(line);
      const report = (code: FindingCode, what: string, at: number, hint: string): void => {
        out.push(
          src.diagnostic('error', code, `${what}, and ${why}`, { line: i + 1, col: at + 1 }, hint),
        );
      };
      if (scanned) {
        for (const f of lineFindings(line, rs)) report(f.code, f.what, f.at, HINTS[f.code]);
      }
      for (const w of includeWords(rs)) {
        const files = includePaths(w.text, v.user, input.home, fs);
        if (files === undefined) {
          if (scanned) {
            report(
              'ssh-config/include',
              `kpfleet cannot follow \`Include ${w.text}\` to check what it runs`,
              w.at,
              'name the file by an absolute path, or relative to ~/.ssh',
            );
          }
          continue;
        }
        for (const f of files) {
          visit({
            path: f,
            user: v.user,
            includedBy: scanned ? `${src.file}:${String(i + 1)}` : undefined,
            depth: v.depth + 1,
          });
        }
      }
    });
  };
  for (const r of input.roots)
    visit({ path: r.path, user: r.user, includedBy: undefined, depth: 0 });
  return out;
}
