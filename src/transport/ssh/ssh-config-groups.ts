/**
 * Which hosts the OpenSSH config files cannot tell apart, so that one `ssh -G` answers for all of
 * them (ssh-config.ts overlays each host's name and port on that answer). The files ssh would read
 * are read once per run (util/ssh-config-files.ts, `Include` followed as readconf.c does), and a
 * host's group is which `Host` lines match it: the same lines, the same settings.
 *
 * The rules, conservative on purpose (a wrong setting for a tool that runs as root is a security
 * bug): a host gets its own `ssh -G` whenever grouping could be wrong.
 * - Every host alone, when the files hold: a `Match` with any criterion other than `all`,
 *   `canonical`, `final` or `localuser` (`host`, `originalhost`, `user`, `exec`, `localnetwork`,
 *   `tagged`, … can differ per host); a line whose keyword OpenSSH versions may read differently,
 *   or a `Host`, `Match` or `Include` line whose words they may split differently (its readings
 *   in ssh-config-words.ts disagree: quotes, backslashes, a `#` after a pattern); a `Host`
 *   pattern with a comma; an `Include` kpfleet cannot follow (`~user/`, a `%` or `$` in its
 *   path, deeper than 16 levels); a file or folder that exists but cannot be read; or when the
 *   files ssh says it read (`ssh -v -G`, checked once per run by ssh-config.ts) are not all among
 *   the files read here (another system file, a path kpfleet reads differently). A FIFO, device
 *   or anything else that is not a regular file counts as unreadable (never read: it may block).
 * - One host alone, when a line it may reach sets `HostName`, sets `CanonicalizeHostname` to
 *   anything but `no`, sets `CanonicalizePermittedCNAMEs` to anything but `none` (ssh then looks
 *   the name up in the DNS), or has a `%` token or a `$` anywhere on the line (`ssh -G` prints
 *   ControlPath, IdentityAgent, UserKnownHostsFile, RemoteCommand, … already expanded). A line
 *   may be reached by every host that its file's last `Host` line matches; a line before any
 *   `Host`, or after a `Match`, by every host.
 * - A host whose name is not a plain lower-case host name or IPv4 address (letters, digits,
 *   `-`, `_` in dot-separated labels; no trailing dot): `Host` patterns match case sensitively
 *   while `ssh -G` prints the name lower-cased, and ssh checks a name it is given (it refuses
 *   some). Also a numeric address that is not written in its standard form (`127.1`,
 *   `010.0.0.1`, `0x7f.1`, `1234`: every label a number, but not a dotted quad without leading
 *   zeros) and every IPv6 address: ssh rewrites those to the standard form, prints that as
 *   `hostname` and matches `Host` lines against it again after a `Match final` (keptAsWritten).
 * - A host that is a hop of its group's `ProxyJump`: ssh refuses to jump through the host itself
 *   (jumpsThrough, checked on the group's answer).
 * Pure but for `strictFs`, which reads the files.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { compileWildcard } from '../../util/glob.ts';
import { trimEndChars } from '../../util/text.ts';
import { walkSshConfig } from '../../util/ssh-config-files.ts';
import type { SshConfigFs, SshConfigRoot } from '../../util/ssh-config-files.ts';
import type { Reading } from '../../util/ssh-config-words.ts';
import { parseJumpHost } from './ssh-config-values.ts';
import type { ResolvedSshConfig } from './ssh-config-values.ts';

/** One `Host` line's patterns; a `!` one excludes the host. */
interface HostLine {
  patterns: { glob: string; negated: boolean }[];
}

/** A line whose value can depend on the host, and the `Host` line in force there (none: every host). */
interface HostDependent {
  block: number | undefined;
  why: string;
}

export type SshConfigShape =
  | {
      groupable: true;
      hosts: HostLine[];
      dependent: HostDependent[];
      /** Every file read (absolute paths). */
      files: ReadonlySet<string>;
    }
  | { groupable: false; why: string };

/** A file or folder that exists but cannot be read: kpfleet cannot know what ssh reads there. */
class Unreadable extends Error {}

const missing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** The text of a regular file, undefined when missing; a FIFO or device is never read (it may block). */
function readRegularFile(path: string): string | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer; O_NOCTTY: a terminal stays a stranger
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    if (missing(err)) return undefined;
    throw new Unreadable(`${path} cannot be read`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new Unreadable(`${path} is not a regular file`);
    return readFileSync(fd, 'utf8');
  } catch (err) {
    throw err instanceof Unreadable ? err : new Unreadable(`${path} cannot be read`);
  } finally {
    closeSync(fd);
  }
}

/** The local files, where only a missing file or folder reads as nothing. */
export const strictFs: SshConfigFs = {
  readFile: readRegularFile,
  readdir(path) {
    try {
      return readdirSync(path);
    } catch (err) {
      if (missing(err)) return [];
      throw new Unreadable(`the folder ${path} cannot be listed`);
    }
  },
};

/**
 * The files ssh reads first for `configFile` (see ResolveSshConfigOptions); undefined for a path
 * kpfleet does not read as ssh does (`~…` given to `-F`).
 */
export function configRoots(configFile: string | undefined): SshConfigRoot[] | undefined {
  if (configFile === undefined)
    // ssh finds the user's file from the passwd entry
    return [
      { path: join(userInfo().homedir, '.ssh', 'config'), user: true },
      { path: '/etc/ssh/ssh_config', user: false },
    ];
  if (configFile.startsWith('~')) return undefined;
  return [{ path: resolve(configFile), user: true }];
}

/** The shape of the files ssh reads for `configFile`; never throws. */
export function sshConfigShapeOf(configFile: string | undefined): SshConfigShape {
  const roots = configRoots(configFile);
  if (roots === undefined) return { groupable: false, why: 'a -F path starting with ~' };
  try {
    return readSshConfigShape(roots);
  } catch (err) {
    return { groupable: false, why: `kpfleet cannot read the files: ${String(err)}` };
  }
}

/** The keyword every reading has; undefined for a blank or comment line, null when they differ. */
function keywordOf(rs: readonly Reading[]): string | undefined | null {
  const words = new Set(rs.map((r) => r.keyword.text.toLowerCase()));
  return words.size === 0 ? undefined : words.size === 1 ? [...words][0] : null;
}

/** The words after the keyword, when every reading has the same; else undefined. */
function agreedArgs(rs: readonly Reading[]): string[] | undefined {
  const all = new Set(rs.map((r) => JSON.stringify(r.args.map((a) => a.text))));
  return all.size === 1 ? (rs[0]?.args.map((a) => a.text) ?? []) : undefined;
}

/** Lines that decide which lines apply, read only when every reading agrees on every word. */
const STRUCTURE = new Set(['host', 'match', 'include']);

/** `Match` criteria whose outcome is the same for every host of a run. */
function hostIndependentMatch(args: readonly string[]): boolean {
  if (args.length === 0) return false;
  for (let i = 0; i < args.length; i++) {
    const c = (args[i] ?? '').toLowerCase().replace(/^!/, '');
    if (c === 'localuser' && i + 1 < args.length) i++;
    else if (c !== 'all' && c !== 'canonical' && c !== 'final') return false;
  }
  return true;
}

const TOKEN = /[%$]/;

/** Read the files ssh reads for `roots` (`home`: $HOME, for `~` in `Include`). */
export function readSshConfigShape(
  roots: readonly SshConfigRoot[],
  home: string = homedir(),
  fs: SshConfigFs = strictFs,
): SshConfigShape {
  let refused: string | undefined;
  const hosts: HostLine[] = [];
  const dependent: HostDependent[] = [];
  const files = new Set<string>();
  try {
    walkSshConfig<undefined>(
      roots.map((r) => ({ ...r, ctx: undefined })),
      home,
      fs,
      {
        tooDeep: (f) => (refused ??= `${f.path} is included deeper than ssh reads`),
        read: (f) => {
          files.add(resolve(f.path));
          // the Host line in force in this file; undefined: every host may reach the line
          let block: number | undefined;
          return {
            include: () => undefined,
            unfollowed: (i, w) =>
              (refused ??= `${f.path}:${String(i + 1)}: kpfleet cannot follow Include ${w.text}`),
            line: (line, i, rs) => {
              const at = `${f.path}:${String(i + 1)}`;
              const keyword = keywordOf(rs);
              if (keyword === undefined || refused !== undefined) return;
              const args = keyword !== null && STRUCTURE.has(keyword) ? agreedArgs(rs) : [];
              if (keyword === null || args === undefined) {
                refused = `${at}: OpenSSH versions may split this line differently`;
                return;
              }
              const depends = (why: string): void => {
                dependent.push({ block, why: `${at}: ${why}` });
              };
              if (keyword === 'host') {
                if (args.some((a) => a.includes(',')))
                  refused = `${at}: a Host pattern with a comma`;
                hosts.push({
                  patterns: args.map((a) => ({
                    glob: a.replace(/^!/, ''),
                    negated: a.startsWith('!'),
                  })),
                });
                block = hosts.length - 1;
              } else if (keyword === 'match') {
                if (!hostIndependentMatch(args))
                  refused = `${at}: Match ${args.join(' ')} can differ per host`;
                block = undefined;
              } else if (keyword === 'include') {
                if (TOKEN.test(line)) refused = `${at}: Include with % or $`;
              } else if (keyword === 'hostname') depends('HostName');
              else if (
                keyword === 'canonicalizehostname' &&
                rs.some((r) => !/^(no|false)$/i.test(r.args[0]?.text ?? ''))
              )
                depends('CanonicalizeHostname');
              // ssh then looks the name up in the DNS (and fails for one it cannot resolve)
              else if (
                keyword === 'canonicalizepermittedcnames' &&
                rs.some((r) => r.args.length !== 1 || r.args[0]?.text !== 'none')
              )
                depends('CanonicalizePermittedCNAMEs');
              // anywhere on the line, in any reading
              else if (TOKEN.test(line)) depends(`% or $ on a ${keyword} line`);
            },
          };
        },
      },
    );
  } catch (err) {
    if (!(err instanceof Unreadable)) throw err;
    refused ??= err.message;
  }
  return refused === undefined
    ? { groupable: true, hosts, dependent, files }
    : { groupable: false, why: refused };
}

/** A lower-case host name or IPv4 address: dot-separated labels, the first starting alphanumeric. */
const PLAIN_NAME = /^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*$/;
/** A label inet_aton(3) may read as a number: decimal, octal (leading 0) or hex (0x). */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;

/**
 * Whether ssh keeps `host` as written. ssh rewrites a numeric address to its standard form
 * (`127.1`, `010.0.0.1`, `0x7f.1`, `2001:0db8::0001`) after reading the config, prints that as
 * `hostname`, and matches the config again against it (`Match final`): such a name must be asked
 * about alone. A name whose every label looks numeric is kept only as a dotted quad without
 * leading zeros (Node's isIPv4 refuses them); a name with `:` (IPv6, whose standard form depends
 * on the C library) never.
 */
export function keptAsWritten(host: string): boolean {
  if (host.includes(':')) return false;
  return !host.split('.').every((label) => NUMERIC_LABEL.test(label)) || isIPv4(host);
}

function matches(line: HostLine, host: string): boolean {
  let positive = false;
  for (const p of line.patterns) {
    if (!compileWildcard(p.glob).match(host)) continue;
    if (p.negated) return false;
    positive = true;
  }
  return positive;
}

/**
 * Which group `host` is in: hosts with the same answer get the same settings from the files;
 * undefined when the host must be asked about alone.
 */
export function hostGroup(shape: SshConfigShape, host: string): string | undefined {
  if (!shape.groupable || host.length > 253 || !PLAIN_NAME.test(host) || !keptAsWritten(host))
    return undefined;
  const bits = shape.hosts.map((line) => matches(line, host));
  for (const d of shape.dependent) if (d.block === undefined || bits[d.block]) return undefined;
  return bits.map((b) => (b ? '1' : '0')).join('');
}

/**
 * Whether `host` is a hop of the `ProxyJump` in its group's answer: ssh refuses to jump through
 * the host itself ("jumphost loop"), so such a host is asked about alone. Any hop, whatever its
 * user and port: conservative, ssh checks only the last hop with the same user and port.
 */
export function jumpsThrough(template: ResolvedSshConfig, host: string): boolean {
  const name = host.toLowerCase();
  return (template.proxyJump ?? []).some((hop) => parseJumpHost(hop).host.toLowerCase() === name);
}

/**
 * Whether every file `ssh -v -G` says it read (`debug1: Reading configuration data PATH`) is one
 * the shape was read from; false when ssh names none though files were read.
 */
export function readTheSameFiles(shape: SshConfigShape, stderr: string, cwd: string): boolean {
  if (!shape.groupable) return false;
  const said = 'debug1: Reading configuration data ';
  const read = stderr
    .split('\n')
    .map((line) => trimEndChars(line, '\r'))
    .filter((line) => line.startsWith(said))
    .map((line) => resolve(cwd, line.slice(said.length)));
  if (read.length === 0) return shape.files.size === 0;
  return read.every((p) => shape.files.has(p));
}
