/**
 * One critical section per file, within this process and across processes: accept-new checks a
 * known_hosts file and appends to it under this lock, so two first contacts with the same name
 * (several hosts behind one name, or an attacker racing the real host) cannot both be recorded.
 *
 * Across processes: a lock file beside the file (`<file>.kpfleet-lock`), created with O_EXCL,
 * holding the owner's pid, host name and a random token. A lock left by a run that crashed is
 * broken: at once when its pid is gone on this machine, after `staleMs` otherwise (another
 * machine sharing the home over NFS, or a pid reused). The critical section itself is a file read
 * and an append, so a live holder never keeps the lock that long.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';

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

/** In this process: the tail of the queue of critical sections for each file. */
const queues = new Map<string, Promise<void>>();

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function readHolder(path: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
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

/** Why the lock at `path` is stale, or undefined while its holder may still be working. */
function staleness(path: string, staleMs: number): { why: string; token: string } | undefined {
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return undefined; // gone: the next attempt takes it
  }
  const holder = readHolder(path);
  if (holder !== undefined && holder.host === hostname() && !alive(holder.pid))
    return { why: `its process ${String(holder.pid)} is gone`, token: holder.token };
  if (age > staleMs)
    return { why: `it is ${String(Math.round(age / 1000))} s old`, token: holder?.token ?? '' };
  return undefined;
}

/**
 * Moves a stale lock aside (only one contender's rename succeeds), and puts it back if what was
 * moved turns out to be a fresh lock taken meanwhile.
 */
function breakStale(path: string, token: string): void {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke or released it
  }
  if ((readHolder(aside)?.token ?? '') !== token) {
    try {
      linkSync(aside, path);
    } catch {
      // a new lock exists already; the moved one's holder will find its lock gone on release
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // already removed
  }
}

function tryCreate(path: string, holder: Holder): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(holder));
  } finally {
    closeSync(fd);
  }
  return true;
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
    if (tryCreate(path, holder)) {
      return () => {
        // Never remove a lock that is no longer ours (broken as stale and taken by another run).
        if (readHolder(path)?.token !== holder.token) return;
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      };
    }
    const stale = staleness(path, staleMs);
    if (stale !== undefined) {
      breakStale(path, stale.token);
      continue;
    }
    if (Date.now() > deadline) {
      const other = readHolder(path);
      throw new Error(
        `${path} is held by ${other ? `process ${String(other.pid)} on ${other.host}` : 'another run'}; remove it if no kpfleet is running`,
      );
    }
    await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
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
