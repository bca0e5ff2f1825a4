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
 * ssh-config-rules.ts lists. `Include` is followed as readconf.c follows it, every reading's
 * paths (util/ssh-config-files.ts): the scan may read more files than ssh, never fewer.
 * Pure: the caller gives the file reads and directory listings.
 */
import type { Diagnostic } from '../diagnostics.ts';
import { SourceText } from '../util/source.ts';
import { walkSshConfig } from '../util/ssh-config-files.ts';
import type { SshConfigFs, SshConfigRoot } from '../util/ssh-config-files.ts';
import { lineFindings } from './ssh-config-rules.ts';
import type { FindingCode } from './ssh-config-rules.ts';

export type { SshConfigRoot };
/** What the scan may read; every path is absolute. */
export type SshConfigScanFs = SshConfigFs;

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

const HINTS: Readonly<Record<FindingCode, string>> = {
  'ssh-config/runs-command':
    'kpfleet runs no command from an ssh config in the project; an operator who trusts this file passes --trust-ssh-config (never in a pull-request job), or moves the directive to ~/.ssh/config',
  'ssh-config/host-name':
    'write a host name (letters, digits, `-`, `_`, `.`), an IP address or [name]:port; an operator who trusts this file passes --trust-ssh-config, and kpfleet still refuses to record such a name',
  'ssh-config/include':
    'write the path without quotes or backslashes (a glob such as conf.d/*.conf is fine), or pass --trust-ssh-config if you trust this file',
};

/** The project file that includes a file, when it is scanned because of it. */
interface Via {
  includedBy: string | undefined;
}

/**
 * The diagnostics for every line that runs a command in a project file, or in a file a project
 * file includes (at any depth). Files outside the project, and what they include outside it, are
 * read only to follow their `Include`s.
 */
export function scanSshConfig(input: SshConfigScanInput, fs: SshConfigScanFs): Diagnostic[] {
  const out: Diagnostic[] = [];
  const scanned = (path: string, via: Via): boolean =>
    input.inProject(path) || via.includedBy !== undefined;
  walkSshConfig<Via>(
    input.roots.map((r) => ({ ...r, ctx: { includedBy: undefined } })),
    input.home,
    fs,
    {
      key: (f) => `${f.path}\0${String(scanned(f.path, f.ctx))}`,
      read: (f, text) => {
        const own = input.inProject(f.path);
        const scan = scanned(f.path, f.ctx);
        const src = new SourceText(input.display(f.path), text);
        const why =
          own || f.ctx.includedBy === undefined
            ? 'this file is part of the project, which a pull request can change'
            : `this file is included by ${f.ctx.includedBy}, part of the project`;
        const report = (
          i: number,
          code: FindingCode,
          what: string,
          at: number,
          hint: string,
        ): void => {
          out.push(
            src.diagnostic(
              'error',
              code,
              `${what}, and ${why}`,
              { line: i + 1, col: at + 1 },
              hint,
            ),
          );
        };
        return {
          line: (line, i, rs) => {
            if (scan)
              for (const x of lineFindings(line, rs))
                report(i, x.code, x.what, x.at, HINTS[x.code]);
          },
          include: (i) => ({ includedBy: scan ? `${src.file}:${String(i + 1)}` : undefined }),
          unfollowed: (i, w) => {
            if (scan)
              report(
                i,
                'ssh-config/include',
                `kpfleet cannot follow \`Include ${w.text}\` to check what it runs`,
                w.at,
                'name the file by an absolute path, or relative to ~/.ssh',
              );
          },
        };
      },
    },
  );
  return out;
}
