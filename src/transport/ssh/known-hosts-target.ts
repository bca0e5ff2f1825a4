/**
 * Which file accept-new may append a host key to. The known_hosts path comes from kpfleet.yml,
 * which a pull request can change, and a recorded line is `name type base64`: appended to
 * ~/.bashrc it is a command, to authorized_keys a key. So kpfleet records a key only in:
 * - an existing file whose every line (blank lines and comments aside) is a known_hosts entry
 *   whose host field holds host names and patterns only (an authorized_keys line with options,
 *   `from="…" ssh-ed25519 …`, parses as one otherwise);
 * - a missing or empty file whose own name (symlinks followed) contains `known_hosts`, in a
 *   folder that exists; only ~/.ssh is created, as ssh creates it (hostfile.c,
 *   hostfile_create_user_ssh_dir).
 * Anything else is refused with the reason, and the host with it (exit 4). The name recorded is
 * checked apart (util/names.ts, knownHostsNameProblem). Docs: docs/security.md, "Host keys".
 */
import { lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { parseKnownHosts } from './known-hosts.ts';

/** accept-new will not write to this file; `message` says why, `hint` what to do. */
export class KnownHostsWriteRefused extends Error {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'KnownHostsWriteRefused';
    this.hint = hint;
  }
}

const CHECK_SETTING =
  'check connection.known_hosts in kpfleet.yml: kpfleet records host keys only in a known_hosts file';

/** Host names, addresses, `[name]:port`, wildcards, negation and lists: a known_hosts host field. */
const HOST_FIELD = /^[\p{L}\p{N}\p{M}._\-:[\]*?!%,]+$/u;

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function statOrUndefined(get: () => Stats): Stats | undefined {
  try {
    return get();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The folder ssh creates when it is missing: ~/.ssh, and only it. */
function isUserSshDir(folder: string): boolean {
  return resolve(folder) === resolve(homedir(), '.ssh');
}

function refuseName(path: string, real: string, state: 'missing' | 'empty'): void {
  if (basename(real).includes('known_hosts')) return;
  const shown = real === path ? path : `${path} (${real})`;
  throw new KnownHostsWriteRefused(
    `${shown} is ${state} and its name does not contain known_hosts; kpfleet creates or starts a known_hosts file only under such a name`,
    `${CHECK_SETTING}; name the file …known_hosts… (e.g. ~/.ssh/known_hosts)`,
  );
}

/** How accept-new may open `path`: create it (and ~/.ssh), or append to the file there. */
export interface RecordTarget {
  exists: boolean;
  /** ~/.ssh is missing and is to be created first. */
  createSshDir: boolean;
  /** The file's real path (symlinks followed); `path` itself when missing. */
  real: string;
}

/**
 * Where `path` leads, checked before the file is opened: a missing file needs a known_hosts name
 * and a folder that exists (or ~/.ssh); a symlink must lead to a file; only a regular file is
 * written. Its content is checked on the open file (`checkRecordContent`).
 * @throws KnownHostsWriteRefused
 */
export function recordTarget(path: string): RecordTarget {
  const link = statOrUndefined(() => lstatSync(path));
  if (link === undefined) {
    refuseName(path, path, 'missing');
    const folder = dirname(path);
    const exists = statOrUndefined(() => statSync(folder))?.isDirectory() === true;
    if (!exists && !isUserSshDir(folder)) {
      throw new KnownHostsWriteRefused(
        `the folder of ${path} does not exist; kpfleet creates no folder for a known_hosts file but ~/.ssh, as ssh does`,
        `${CHECK_SETTING}; or create the folder first`,
      );
    }
    return { exists: false, createSshDir: !exists, real: path };
  }
  const st = statOrUndefined(() => statSync(path));
  if (st === undefined) {
    const to = link.isSymbolicLink() ? readlinkSync(path) : '?';
    throw new KnownHostsWriteRefused(
      `${path} is a symlink to ${to}, which does not exist; kpfleet does not create a file through a symlink`,
      CHECK_SETTING,
    );
  }
  if (!st.isFile()) {
    throw new KnownHostsWriteRefused(`${path} is not a regular file`, CHECK_SETTING);
  }
  return { exists: true, createSshDir: false, real: realpathSync(path) };
}

/**
 * Whether the text of an existing file (read from the open file) may take a new line.
 * @throws KnownHostsWriteRefused
 */
export function checkRecordContent(path: string, target: RecordTarget, text: string): void {
  const { entries, problems } = parseKnownHosts(text, path);
  const first = problems[0];
  const foreign = entries.find(
    (e) => e.names.kind === 'patterns' && !HOST_FIELD.test(e.names.text),
  );
  if (first === undefined && foreign === undefined) {
    if (entries.length === 0) refuseName(path, target.real, 'empty');
    return;
  }
  const [line, why] =
    first !== undefined && (foreign === undefined || first.line < foreign.line)
      ? [first.line, first.reason]
      : [foreign?.line ?? 0, 'its host field is not made of host names'];
  throw new KnownHostsWriteRefused(
    `${path} does not look like a known_hosts file (line ${String(line)}: ${why}); kpfleet records a host key only in a file of known_hosts lines`,
    `${CHECK_SETTING}; if it is one, fix or remove line ${String(line)}`,
  );
}
