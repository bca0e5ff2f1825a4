/**
 * What the project ssh-config scan (ssh-config-scan.ts) refuses on one line of a project file,
 * judged by every reading of the line (ssh-config-words.ts): a line is refused when any reading
 * finds one of these. Over-refusing in a project file is the safe side (`--trust-ssh-config`
 * exists); see docs/config.md, "An ssh config inside the project".
 *
 * - a command run on this machine: `Match exec` (negated too, anywhere on the line; `ssh -G`
 *   runs it while it reads the file), `ProxyCommand` (kpfleet runs it), `LocalCommand`,
 *   `KnownHostsCommand`, `PermitLocalCommand yes`;
 * - a library loaded into ssh: `PKCS11Provider`, `SecurityKeyProvider` (other than `none`, and
 *   `internal` for the latter);
 * - a `HostName` or `HostKeyAlias` that kpfleet would not record in known_hosts (not a host name,
 *   an IP address or `[name]:port`: util/names.ts);
 * - an `Include` written with quotes or backslashes: it is followed as OpenSSH reads it, but the
 *   scan does not bet on one version's quoting rules for which files it reads.
 *
 * `ProxyUseFdpass` is not here: it only changes how a ProxyCommand's connection is handed over,
 * the ProxyCommand itself is refused, and kpfleet refuses `ProxyUseFdpass yes` in any file.
 * Pure.
 */
import { trimEndChars } from '../util/text.ts';
import { knownHostsNameProblem } from '../util/names.ts';
import { includeWords } from '../util/ssh-config-files.ts';
import type { Reading } from '../util/ssh-config-words.ts';

export type FindingCode = 'ssh-config/runs-command' | 'ssh-config/host-name' | 'ssh-config/include';

export interface Finding {
  code: FindingCode;
  /** What the line does, for the diagnostic's message. */
  what: string;
  /** 0-based offset in the line to point at. */
  at: number;
}

const RUNS = 'ssh-config/runs-command';

const COMMANDS: Readonly<Record<string, string>> = {
  proxycommand: 'ProxyCommand',
  localcommand: 'LocalCommand',
  knownhostscommand: 'KnownHostsCommand',
};

const LIBRARIES: Readonly<Record<string, { name: string; harmless: readonly string[] }>> = {
  pkcs11provider: { name: 'PKCS11Provider', harmless: ['none'] },
  securitykeyprovider: { name: 'SecurityKeyProvider', harmless: ['none', 'internal'] },
};

const NAMES: Readonly<Record<string, string>> = {
  hostname: 'HostName',
  hostkeyalias: 'HostKeyAlias',
};

/**
 * The one spelling in which a command keyword names no command: `Keyword none` or
 * `Keyword=none`, unquoted, nothing after it (ssh takes the rest of the line as the command, so
 * `ProxyCommand "none"` and `ProxyCommand none # x` are commands).
 */
const PLAIN_NONE = /^[ \t]*[A-Za-z0-9]+(?:[ \t]*=[ \t]*|[ \t]+)none$/i;

function readingFindings(line: string, r: Reading): Finding[] {
  const keyword = r.keyword.text.toLowerCase();
  const value = r.args[0];
  const command = COMMANDS[keyword];
  if (command !== undefined) {
    return PLAIN_NONE.test(line)
      ? []
      : [{ code: RUNS, what: `\`${command}\` runs a command on this machine`, at: r.keyword.at }];
  }
  if (keyword === 'permitlocalcommand') {
    return value === undefined || /^(?:no|false)$/i.test(value.text)
      ? []
      : [
          {
            code: RUNS,
            what: '`PermitLocalCommand yes` runs LocalCommand on this machine',
            at: r.keyword.at,
          },
        ];
  }
  const library = LIBRARIES[keyword];
  if (library !== undefined) {
    return value === undefined || library.harmless.includes(value.text.toLowerCase())
      ? []
      : [
          {
            code: RUNS,
            what: `\`${library.name}\` loads a library into ssh on this machine`,
            at: r.keyword.at,
          },
        ];
  }
  if (keyword === 'match') {
    // Any `exec` criterion, negated or not, in any place: ssh runs it while it reads the file.
    const exec = r.args.find((w) => /^!?exec(?:=|$)/i.test(w.text));
    return exec === undefined
      ? []
      : [
          {
            code: RUNS,
            what: '`Match exec` runs a command on this machine while ssh reads its configuration',
            at: exec.at,
          },
        ];
  }
  const name = NAMES[keyword];
  if (name !== undefined && value !== undefined) {
    // ssh expands %h (the host asked about) in HostName; kpfleet checks that host itself
    const recorded = keyword === 'hostname' ? value.text.replaceAll('%h', 'h') : value.text;
    const problem = knownHostsNameProblem(recorded);
    return problem === undefined
      ? []
      : [
          {
            code: 'ssh-config/host-name',
            what: `\`${name}\` here is a name kpfleet would record in known_hosts, but ${problem}`,
            at: value.at,
          },
        ];
  }
  return [];
}

/** What one line of a project file does that the scan refuses, at most one finding per code. */
export function lineFindings(line: string, rs: readonly Reading[]): Finding[] {
  const text = trimEndChars(line, ' \t\r\n\f');
  const found = new Map<FindingCode, Finding>();
  const add = (f: Finding): void => {
    const had = found.get(f.code);
    if (had === undefined || f.at < had.at) found.set(f.code, f);
  };
  for (const r of rs) for (const f of readingFindings(text, r)) add(f);
  const quote = text.search(/["'\\]/);
  if (quote !== -1 && includeWords(rs).length > 0) {
    add({
      code: 'ssh-config/include',
      what: '`Include` written with quotes or backslashes: OpenSSH versions read them differently, so kpfleet cannot be sure which files ssh would read',
      at: quote,
    });
  }
  return [...found.values()].sort((a, b) => a.at - b.at);
}
