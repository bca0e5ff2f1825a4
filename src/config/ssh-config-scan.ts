/**
 * Refuses OpenSSH client configuration that would run commands when it comes from the project
 * (the part of the repository a pull request can change). `ssh -G`, which kpfleet asks to
 * resolve every host, runs `Match exec` while it reads the files; kpfleet runs `ProxyCommand`.
 * So a project's ssh config is read here first, without running ssh, and a directive that runs a
 * command is a diagnostic at file:line:col (exit 3) unless the operator passes
 * `--trust-ssh-config`. See docs/config.md, "An ssh config inside the project".
 *
 * The lines are split as OpenSSH 9.2 splits them (readconf.c: keyword, one `=` or blanks, double
 * quotes; `Include` globs, relative paths under ~/.ssh for user files and /etc/ssh for system
 * ones). Pure: the caller gives the file reads and directory listings.
 */
import type { Diagnostic } from '../diagnostics.ts';
import { compileGlob, isGlob } from '../util/glob.ts';
import { SourceText } from '../util/source.ts';
import { trimEndChars } from '../util/text.ts';

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

const COMMAND_KEYWORDS: Readonly<Record<string, string>> = {
  proxycommand: 'ProxyCommand',
  localcommand: 'LocalCommand',
  knownhostscommand: 'KnownHostsCommand',
};

interface Token {
  text: string;
  /** 0-based offset of the token in its line. */
  at: number;
}

/** One `strdelim` word from `at`: blanks, a double-quoted run, or up to a blank, quote or `=`. */
function nextWord(line: string, at: number, splitEquals: boolean): Token | undefined {
  let i = at;
  while (i < line.length && /[ \t\r\n]/.test(line[i] ?? '')) i++;
  if (i >= line.length) return undefined;
  if (line[i] === '"') {
    const close = line.indexOf('"', i + 1);
    const end = close === -1 ? line.length : close;
    return { text: line.slice(i + 1, end), at: i };
  }
  const stop = splitEquals ? /[ \t\r\n"=]/ : /[ \t\r\n"]/;
  let j = i;
  while (j < line.length && !stop.test(line[j] ?? '')) j++;
  return { text: line.slice(i, j), at: i };
}

/** Where the next word starts after `token`: past its closing quote, blanks and one `=`. */
function after(line: string, token: Token): number {
  let i = token.at + (line[token.at] === '"' ? token.text.length + 2 : token.text.length);
  while (i < line.length && /[ \t]/.test(line[i] ?? '')) i++;
  if (line[i] === '=') i++;
  return i;
}

/** Every word of the rest of a line, as `Match` and `Include` read it. */
function words(line: string, from: number, splitEquals: boolean): Token[] {
  const out: Token[] = [];
  let at = from;
  for (;;) {
    const t = nextWord(line, at, splitEquals);
    if (t === undefined || (t.text.startsWith('#') && line[t.at] !== '"')) return out;
    out.push(t);
    at = after(line, t);
    if (at <= t.at) return out;
  }
}

interface Directive {
  keyword: string;
  keywordAt: number;
  /** The rest of the line, from the first word after the keyword. */
  rest: number;
}

function directive(line: string): Directive | undefined {
  const text = trimEndChars(line, ' \t\r\n\f');
  const kw = nextWord(text, 0, true);
  if (kw === undefined || kw.text === '' || kw.text.startsWith('#')) return undefined;
  return { keyword: kw.text.toLowerCase(), keywordAt: kw.at, rest: after(text, kw) };
}

/** Why a line runs a command (and the offset to point at), or undefined. */
function runsCommand(line: string, d: Directive): { what: string; at: number } | undefined {
  const text = trimEndChars(line, ' \t\r\n\f');
  const value = text.slice(d.rest).trim();
  const name = COMMAND_KEYWORDS[d.keyword];
  if (name !== undefined) {
    return value === '' || value.toLowerCase() === 'none'
      ? undefined
      : { what: `\`${name}\` runs a command on this machine`, at: d.keywordAt };
  }
  if (d.keyword === 'permitlocalcommand') {
    const v = nextWord(text, d.rest, true)?.text.toLowerCase();
    return v === 'yes' || v === 'true'
      ? { what: '`PermitLocalCommand yes` runs LocalCommand on this machine', at: d.keywordAt }
      : undefined;
  }
  if (d.keyword === 'match') {
    // Any `exec` criterion, negated or not, in any place: ssh runs it while it reads the file.
    const exec = words(text, d.rest, true).find((w) => /^!?exec(=|$)/i.test(w.text));
    return exec === undefined
      ? undefined
      : {
          what: '`Match exec` runs a command on this machine while ssh reads its configuration',
          at: exec.at,
        };
  }
  return undefined;
}

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

/** The files an `Include` word names, as readconf.c finds them; undefined for `~user/`. */
function includePaths(
  word: string,
  user: boolean,
  home: string,
  fs: SshConfigScanFs,
): string[] | undefined {
  let path = word;
  if (!path.startsWith('/') && !path.startsWith('~'))
    path = `${user ? '~/.ssh' : '/etc/ssh'}/${path}`;
  if (path === '~' || path.startsWith('~/')) path = home + path.slice(1);
  else if (path.startsWith('~')) return undefined;
  return globFiles(path, fs);
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
      const d = directive(line);
      if (d === undefined) return;
      const found = scanned ? runsCommand(line, d) : undefined;
      if (found !== undefined) {
        out.push(
          src.diagnostic(
            'error',
            'ssh-config/runs-command',
            `${found.what}, and ${why}`,
            { line: i + 1, col: found.at + 1 },
            'kpfleet runs no command from an ssh config in the project; an operator who trusts this file passes --trust-ssh-config (never in a pull-request job), or moves the directive to ~/.ssh/config',
          ),
        );
      }
      if (d.keyword !== 'include') return;
      for (const w of words(line, d.rest, false)) {
        const files = includePaths(w.text, v.user, input.home, fs);
        if (files === undefined) {
          if (scanned) {
            out.push(
              src.diagnostic(
                'error',
                'ssh-config/include',
                `kpfleet cannot follow \`Include ${w.text}\` to check what it runs, and ${why}`,
                { line: i + 1, col: w.at + 1 },
                'name the file by an absolute path, or relative to ~/.ssh',
              ),
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
