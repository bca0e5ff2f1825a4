/**
 * known_hosts on disk: loading several files (UserKnownHostsFile…, GlobalKnownHostsFile…) and
 * appending a line for accept-new. The only I/O of the known_hosts code; parsing is in
 * `known-hosts.ts`, checking in `known-hosts-check.ts`.
 */
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { readRegularFile } from '../../util/regular-file.ts';
import { parseKnownHosts } from './known-hosts.ts';
import type { ParsedKnownHosts } from './known-hosts-types.ts';
import { checkRecordContent, KnownHostsWriteRefused, recordTarget } from './known-hosts-target.ts';
import type { RecordTarget } from './known-hosts-target.ts';

export { KnownHostsWriteRefused };

// The pure API, so that a caller that reads known_hosts needs one import.
export { checkHostKey, describeHostKeyVerdict } from './known-hosts-check.ts';
export { preferredHostKeyAlgorithms } from './known-hosts-check.ts';
export { fingerprintSha256, keyTypeOf } from './known-hosts-keys.ts';
export { formatKnownHostsLine } from './known-hosts-write.ts';
export { knownHostsDiagnostics, parseKnownHosts } from './known-hosts.ts';
export type {
  HostKeyTarget,
  HostKeyVerdict,
  KnownHostsEntry,
  KnownHostsProblem,
  KnownKeyRef,
  ParsedKnownHosts,
} from './known-hosts-types.ts';
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
 * be read, or is not a regular file, throws a ConfigError naming its path. Every entry and problem keeps its file:line.
 * Synchronous: it runs once, before any connection, on files of a few kilobytes.
 */
export function loadKnownHostsFiles(paths: readonly string[]): ParsedKnownHosts {
  const out: ParsedKnownHosts = { entries: [], problems: [] };
  for (const path of paths) {
    let text: string;
    try {
      // never waits on a FIFO or reads a device without end (`known_hosts: /dev/zero`)
      text = readRegularFile(path).toString('utf8');
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

/** Opens the file for appending: created (exclusively, 0600) when it is missing. */
function openForAppend(path: string, target: RecordTarget): number {
  if (target.createSshDir) mkdirSync(dirname(path), { mode: 0o700 });
  if (target.exists) return openSync(path, constants.O_RDWR | constants.O_APPEND);
  // O_EXCL: nothing (a symlink included) may have appeared at the path since it was checked
  return openSync(
    path,
    constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL,
    0o600,
  );
}

/**
 * Appends one line (from `formatKnownHostsLine`) to a known_hosts file, as `ssh` does for a new
 * host, if the file is one accept-new may write to (known-hosts-target.ts): ~/.ssh is created
 * 0700 and the file 0600 when missing; the line goes out in one O_APPEND write, so concurrent
 * writers do not interleave. If the file does not end with a newline, one is written first so the
 * new line stays a line of its own.
 * @throws KnownHostsWriteRefused when the file is not one to write a host key into
 */
export function appendKnownHostsLine(path: string, line: string): void {
  if (/[\r\n]/.test(line)) throw new TypeError('a known_hosts line cannot contain a newline');
  const target = recordTarget(path);
  const fd = openForAppend(path, target);
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new KnownHostsWriteRefused(
        `${path} is not a regular file`,
        'check connection.known_hosts',
      );
    const text = readFileSync(fd, 'utf8');
    checkRecordContent(path, target, text);
    writeSync(fd, `${text !== '' && !text.endsWith('\n') ? '\n' : ''}${line}\n`);
  } finally {
    closeSync(fd);
  }
}
