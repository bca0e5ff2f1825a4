/**
 * One critical section per file, within this process and across processes: accept-new checks a
 * known_hosts file and appends to it under this lock, so two first contacts with the same name
 * (several hosts behind one name, or an attacker racing the real host) cannot both be recorded.
 *
 * Across processes: a lock folder beside the file (`<file>.kpfleet-lock/`) holding one file,
 * `holder-<token>`, with the owner's pid, host name and a random token. The folder is made whole
 * under another name and renamed into place, which succeeds only where no lock is (or an empty
 * folder, a lock being released): a lock is never there without its holder file.
 *
 * A lock left by a run that crashed is broken: at once when its pid is gone on this machine,
 * after `staleMs` otherwise (another machine sharing the home over NFS, or a pid reused). The
 * critical section itself is a file read and an append, so a live holder never keeps the lock
 * that long. Breaking removes the holder file judged stale, by its name, then the folder if it
 * is empty: a lock taken since has another holder file, so neither step can remove it, and the
 * lock path is never empty for a third process to take while a holder has it.
 *
 * A stale lock this user cannot remove (another user's, in a sticky or read-only folder) is an
 * error naming the lock, at once; so is any other failure to make or inspect one. Never a busy
 * loop: every turn that did not break a lock checks the deadline and sleeps.
 *
 * A lock file (not a folder) at the lock path, as kpfleet 0.1 made them, is honoured the same
 * way; broken only while it is still the very file judged stale (same device and inode).
 */
import { randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { readRegularFile } from '../../util/regular-file.ts';
import { showCommand } from '../shell.ts';

export interface FileLockOptions {
  /** A lock older than this is taken as left by a crashed run. Default 30 s. */
  staleMs?: number;
  /** Give up waiting after this long. Default 60 s. */
  timeoutMs?: number;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

/** A lock judged stale: why, and exactly what to remove. */
interface Stale {
  why: string;
  /** The holder file inside the lock folder (by its name, which no other lock has). */
  holderFile?: string;
  /** A lock file of kpfleet 0.1: removed only while it is this same file. */
  legacy?: { dev: number; ino: number };
}

const HOLDER = 'holder-';

/** In this process: the tail of the queue of critical sections for each file. */
const queues = new Map<string, Promise<void>>();

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** The error for a lock this process cannot make, read or remove: names it and what to do. */
function lockError(path: string, what: string, err: unknown): Error {
  const code = errno(err);
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? `permission denied (${code})`
      : code !== undefined
        ? code
        : err instanceof Error
          ? err.message
          : String(err);
  return new Error(
    `${path}: ${what}: ${why}; if no kpfleet is running, remove it (${showCommand(['rm', '-r', '--', path])}) as its owner or root`,
  );
}

/** A holder as recorded, or undefined when unreadable or not a kpfleet holder. */
function readHolder(path: string): Holder | undefined {
  try {
    // a regular file only: never wait on a FIFO put there
    const h = JSON.parse(readRegularFile(path).toString('utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string'
      ? { pid: h.pid, host: h.host, token: h.token }
      : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

function staleWhy(
  holder: Holder | undefined,
  mtimeMs: number,
  staleMs: number,
): string | undefined {
  if (holder !== undefined && holder.host === hostname() && !alive(holder.pid))
    return `its process ${String(holder.pid)} is gone`;
  const age = Date.now() - mtimeMs;
  return age > staleMs ? `it is ${String(Math.round(age / 1000))} s old` : undefined;
}

/**
 * Why the lock at `path` is stale and what to remove, or undefined while its holder may still be
 * working (or it is gone, or being released: the next attempt takes it).
 * @throws when the lock cannot be inspected (permission denied)
 */
function staleness(path: string, staleMs: number): Stale | undefined {
  try {
    const st = lstatSync(path);
    if (!st.isDirectory()) {
      // kpfleet 0.1's lock file
      const holder = readHolder(path);
      const why = staleWhy(holder, st.mtimeMs, staleMs);
      return why === undefined ? undefined : { why, legacy: { dev: st.dev, ino: st.ino } };
    }
    const name = readdirSync(path).find((n) => n.startsWith(HOLDER));
    if (name === undefined) return undefined; // being released or broken
    const file = join(path, name);
    const why = staleWhy(readHolder(file), lstatSync(file).mtimeMs, staleMs);
    return why === undefined ? undefined : { why, holderFile: file };
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw lockError(path, 'cannot inspect this lock', err);
  }
}

/**
 * Removes the stale lock `s` judged at `path`, and only it. True when it is gone (removed here
 * or by another contender), false when it is still there for another reason.
 * @throws when this user may not remove it
 */
function breakStale(path: string, s: Stale): boolean {
  try {
    if (s.holderFile !== undefined) {
      unlinkSync(s.holderFile);
      removeIfEmpty(path);
      return true;
    }
    const now = lstatSync(path);
    if (now.dev !== s.legacy?.dev || now.ino !== s.legacy.ino) return true; // replaced meanwhile
    unlinkSync(path);
    return true;
  } catch (err) {
    const code = errno(err);
    if (code === 'ENOENT') return true;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      throw lockError(path, `cannot remove this stale lock (${s.why})`, err);
    return false;
  }
}

/** The lock folder, if nothing is left in it (a lock taken meanwhile is never empty). */
function removeIfEmpty(path: string): void {
  try {
    rmdirSync(path);
  } catch (err) {
    const code = errno(err);
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
}

/**
 * Takes the lock: the folder is made whole beside it, then renamed into place. False when a
 * lock is there.
 * @throws when the lock cannot be made at all (permission denied, read-only, full)
 */
function tryTake(path: string, holder: Holder): boolean {
  const fresh = `${path}.${holder.token}.new`;
  const file = join(fresh, `${HOLDER}${holder.token}`);
  let made = false;
  try {
    mkdirSync(fresh, { mode: 0o700 });
    writeFileSync(file, JSON.stringify(holder), { mode: 0o600, flag: 'wx' });
    made = true;
    renameSync(fresh, path);
    return true;
  } catch (err) {
    const code = errno(err);
    try {
      unlinkSync(file);
      rmdirSync(fresh);
    } catch {
      // not made, or already gone
    }
    // a lock folder with its holder in it (ENOTEMPTY, or EEXIST on some systems), or a lock file
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return false;
    // another user's lock in a sticky folder cannot be replaced: held, while it is there
    if (made && (code === 'EPERM' || code === 'EACCES') && exists(path)) return false;
    throw lockError(path, 'cannot take this lock', err);
  }
}

async function acquire(path: string, opts: FileLockOptions): Promise<() => void> {
  const staleMs = opts.staleMs ?? 30_000;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const holder: Holder = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(12).toString('hex'),
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    if (tryTake(path, holder)) {
      return () => {
        // Only our own holder file: gone when the lock was broken as stale and taken by another.
        try {
          unlinkSync(join(path, `${HOLDER}${holder.token}`));
          removeIfEmpty(path);
        } catch {
          // not ours any more, or the empty folder stays for the next taker to replace
        }
      };
    }
    const stale = staleness(path, staleMs);
    const broken = stale !== undefined && breakStale(path, stale);
    if (Date.now() > deadline) {
      const other = readCurrentHolder(path);
      throw new Error(
        `${path} is held by ${other ? `process ${String(other.pid)} on ${other.host}` : 'another run'}; remove it if no kpfleet is running`,
      );
    }
    if (!broken) await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Who holds the lock at `path` now, if that can be read. */
function readCurrentHolder(path: string): Holder | undefined {
  try {
    if (!lstatSync(path).isDirectory()) return readHolder(path);
    const name = readdirSync(path).find((n) => n.startsWith(HOLDER));
    return name === undefined ? undefined : readHolder(join(path, name));
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` while holding the lock of `file`: one at a time in this process (queued in order),
 * and one at a time across processes (the lock file). The lock is released when `fn` settles.
 */
export async function withFileLock<T>(
  file: string,
  fn: () => T | Promise<T>,
  opts: FileLockOptions = {},
): Promise<T> {
  const key = resolve(file);
  const before = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((r) => (done = r));
  const tail = before.then(() => mine);
  queues.set(key, tail);
  await before;
  try {
    const release = await acquire(`${key}.kpfleet-lock`, opts);
    try {
      return await fn();
    } finally {
      release();
    }
  } finally {
    done();
    if (queues.get(key) === tail) queues.delete(key);
  }
}
