/**
 * known_hosts on disk: loading several files (UserKnownHostsFile…, GlobalKnownHostsFile…) and
 * appending a line for accept-new. The only I/O of the known_hosts code; parsing and checking
 * are in `known-hosts.ts`.
 */
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { parseKnownHosts, type ParsedKnownHosts } from './known-hosts.ts';

// The pure API, so that a caller that reads known_hosts needs one import.
export {
  checkHostKey,
  describeHostKeyVerdict,
  fingerprintSha256,
  formatKnownHostsLine,
  keyTypeOf,
  knownHostsDiagnostics,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
} from './known-hosts.ts';
export type {
  HostKeyTarget,
  HostKeyVerdict,
  KnownHostsEntry,
  KnownHostsProblem,
  KnownKeyRef,
  ParsedKnownHosts,
} from './known-hosts.ts';
import { pushAll } from '../../util/arrays.ts';

function errnoOf(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

function unreadable(path: string, err: unknown): ConfigError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ConfigError(
    [
      {
        severity: 'error',
        code: 'known-hosts/unreadable',
        message: `cannot read known_hosts file: ${reason}`,
        file: path,
      },
    ],
    { hint: 'fix its permissions, or name other files with UserKnownHostsFile', cause: err },
  );
}

/**
 * Reads and parses known_hosts files in order (user files first, then global ones, as `ssh`
 * consults them). A missing file is fine (nothing known from it); a file that exists but cannot
 * be read throws a ConfigError naming its path. Every entry and problem keeps its file:line.
 * Synchronous: it runs once, before any connection, on files of a few kilobytes.
 */
export function loadKnownHostsFiles(paths: readonly string[]): ParsedKnownHosts {
  const out: ParsedKnownHosts = { entries: [], problems: [] };
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw unreadable(path, err);
    }
    const parsed = parseKnownHosts(text, path);
    pushAll(out.entries, parsed.entries);
    pushAll(out.problems, parsed.problems);
  }
  return out;
}

/**
 * Appends one line (from `formatKnownHostsLine`) to a known_hosts file, as `ssh` does for a new
 * host: the directory is created 0700 and the file 0600 when missing; the line goes out in one
 * O_APPEND write, so concurrent writers do not interleave. If the file does not end with a
 * newline, one is written first so the new line stays a line of its own.
 */
export function appendKnownHostsLine(path: string, line: string): void {
  if (/[\r\n]/.test(line)) throw new TypeError('a known_hosts line cannot contain a newline');
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    const { size } = fstatSync(fd);
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    writeSync(fd, `${prefix}${line}\n`);
  } finally {
    closeSync(fd);
  }
}
