/**
 * The local files kpfleet writes: `plan --out`, `apply --report` and the audit log
 * (docs/exit-codes.md, "Files kpfleet writes").
 *
 * - `preflightReplace` / `preflightAppend` check a destination before any host is contacted: its
 *   folder exists and takes a new file, the target is no folder, FIFO, socket or device, an audit
 *   log can be opened for appending. A failure is a UsageError (exit 64) naming the file and why.
 * - `writeFileAtomic` (atomic-file.ts) replaces a file through a temporary file in the same folder, with a random
 *   name, created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW), written, fsynced, renamed over the
 *   target, the folder fsynced; on any failure the temporary file is removed. `DurableAppender`
 *   appends and fsyncs (group commit). Their failures are OutputFileErrors (exit 74).
 * - A symlink at the target is written through (to where it points, the link kept) only when it
 *   is owned by the user running kpfleet or by the owner of its folder, the rule Linux's
 *   fs.protected_symlinks applies in shared folders; any other is refused.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OutputFileError, UsageError } from '../errors.ts';

/** A destination checked by a preflight: what to call it in messages, and where it writes. */
export interface OutputTarget {
  /** `--out plan.json`, `the audit log /var/log/kpfleet.jsonl`. */
  label: string;
  /** Absolute; trusted symlinks at its end already followed. */
  path: string;
}

const { O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants;
const O_DIRECTORY = constants.O_DIRECTORY;
const MAX_SYMLINKS = 40;
const TEMP_ATTEMPTS = 8;

const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the file system',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'it is a symlink',
  ENXIO: 'no process reads it',
};

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function errnoText(err: unknown): string {
  const code = errnoOf(err);
  return (
    (code !== undefined ? ERRNO_TEXT[code] : undefined) ??
    (err instanceof Error ? err.message : String(err))
  );
}

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** What a file that is not a regular file is, for "it is a FIFO, not a regular file". */
function kindOf(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function refuse(label: string, reason: string, hint?: string): UsageError {
  return new UsageError(`cannot write ${label}: ${reason}`, hint === undefined ? {} : { hint });
}

/** Why `dir` cannot hold a file: it, or the first part of its path, is missing or not a folder. */
function folderProblem(dir: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return `its folder ${dir} does not exist`;
    if (code === 'ENOTDIR') {
      for (let p = dirname(dir); p !== dirname(p); p = dirname(p)) {
        try {
          if (!statSync(p).isDirectory()) return `${p} is not a folder`;
        } catch {
          // missing or unreadable: look further up
        }
      }
    }
    return `its folder ${dir}: ${errnoText(err)}`;
  }
  return st.isDirectory() ? undefined : `${dir} is not a folder`;
}

/**
 * The target with the symlinks at its end followed, each checked: owned by this user or by the
 * owner of the folder it is in. Symlinks in the folders above are the file system's business.
 */
function followTrusted(path: string, label: string): string {
  let p = path;
  for (let hops = 0; ; hops++) {
    let st: Stats | undefined;
    try {
      st = lstatOrUndefined(p);
    } catch (err) {
      throw refuse(label, folderProblem(dirname(p)) ?? errnoText(err));
    }
    if (st === undefined || !st.isSymbolicLink()) return p;
    if (hops >= MAX_SYMLINKS) throw refuse(label, 'too many levels of symlinks');
    const me = process.geteuid?.() ?? st.uid;
    const folderOwner = statSync(dirname(p)).uid;
    if (st.uid !== me && st.uid !== folderOwner) {
      const which = hops === 0 ? 'it is' : `${p}, where it leads, is`;
      throw refuse(
        label,
        `${which} a symlink owned by another user (uid ${String(st.uid)}) in a folder owned by uid ${String(folderOwner)}; kpfleet does not write through it`,
        'remove the link, or name the file it points to',
      );
    }
    p = resolve(dirname(p), readlinkSync(p));
  }
}

/** A new file with a random name in `dir`, created exclusively, never through a symlink. */
export function createTemp(dir: string, mode: number): { fd: number; path: string } {
  for (let i = 0; ; i++) {
    const path = resolve(dir, `.kpfleet-${randomBytes(8).toString('hex')}.tmp`);
    try {
      return { fd: openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode), path };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST' || i + 1 >= TEMP_ATTEMPTS) throw err;
    }
  }
}

/** Creating (and removing) a file in `dir` works: the folder is writable, not read-only. */
function probeFolder(dir: string, label: string): void {
  const problem = folderProblem(dir);
  if (problem !== undefined) throw refuse(label, problem);
  let temp: { fd: number; path: string };
  try {
    temp = createTemp(dir, 0o600);
  } catch (err) {
    throw refuse(label, `cannot create a file in ${dir}: ${errnoText(err)}`);
  }
  closeSync(temp.fd);
  unlinkSync(temp.path);
}

/** The target itself, if it exists, is a regular file. */
function checkTargetKind(path: string, label: string): Stats | undefined {
  const st = lstatOrUndefined(path);
  const kind = st ? kindOf(st) : undefined;
  if (kind !== undefined) {
    throw refuse(
      label,
      kind === 'a folder' ? 'it is a folder' : `it is ${kind}, not a regular file`,
      'name a regular file (kpfleet replaces it) or a new one',
    );
  }
  return st;
}

/** Runs a preflight; a file system error it did not foresee is still a usage error, named. */
function preflight(label: string, check: () => string): OutputTarget {
  try {
    return { label, path: check() };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw refuse(label, errnoText(err));
  }
}

/** A file to be replaced (`--out`, `--report`): checked now, before any host is contacted. */
export function preflightReplace(path: string, label: string): OutputTarget {
  return preflight(label, () => {
    const target = followTrusted(path, label);
    checkTargetKind(target, label);
    probeFolder(dirname(target), label);
    return target;
  });
}

/**
 * A file to be appended to (the audit log): checked now, before any host is contacted. With
 * `createFolder` (kpfleet's own state folder) its folder is made, private to the user.
 */
export function preflightAppend(
  path: string,
  label: string,
  options: { createFolder?: boolean } = {},
): OutputTarget {
  return preflight(label, () => {
    if (options.createFolder === true) {
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      } catch (err) {
        throw refuse(label, folderProblem(dirname(path)) ?? errnoText(err));
      }
    }
    const target = followTrusted(path, label);
    if (checkTargetKind(target, label) === undefined) {
      probeFolder(dirname(target), label);
    } else {
      try {
        closeSync(openSync(target, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK));
      } catch (err) {
        throw refuse(label, `cannot open it for appending: ${errnoText(err)}`);
      }
    }
    return target;
  });
}

export function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
}

/** What fsync of a folder says on file systems that cannot sync one (the data itself was synced). */
const FOLDER_SYNC_UNSUPPORTED = ['EINVAL', 'ENOTSUP', 'EROFS', 'EBADF'];

/** fsync a folder, so that a rename or a new name in it survives a crash. */
export function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | O_DIRECTORY);
    fsyncSync(fd);
  } catch (err) {
    // file systems that cannot sync a folder say so; the data itself was synced
    if (!FOLDER_SYNC_UNSUPPORTED.includes(errnoOf(err) ?? '')) throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function writeFailed(target: OutputTarget, err: unknown): OutputFileError {
  const dir = dirname(target.path);
  const code = errnoOf(err);
  const why =
    code === 'ENOSPC'
      ? `no space left on the file system of ${dir}`
      : code === 'EDQUOT'
        ? `disk quota exceeded in ${dir}`
        : errnoText(err);
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new OutputFileError(`${why} while writing ${target.label}`, target.path, {
    cause: err,
    ...(full
      ? { hint: 'free some space (no temporary file was left) or name a file elsewhere' }
      : {}),
  });
}

/**
 * The fsync a DurableAppender calls, off the main thread (node:fs's; a test gives its own, to make
 * it fail or hang). It has no fsync on the main thread: one that never returns (a hung disk) would
 * freeze the process, its signal handlers and its exit included.
 */
export interface FsyncOps {
  fsync: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;
}

const NODE_FSYNCS: FsyncOps = { fsync };

/**
 * An append-only file written as a run goes (the audit log), opened on the first append (created
 * 0600, no symlink followed, a regular file; a newline first if an earlier write was cut short, so
 * that records never run together) and kept open. `append` writes at once: a kpfleet killed
 * afterwards leaves the text in the file. `durable` resolves once everything appended before the
 * call is fsynced, one fsync (off the main thread) for all the appends made while the previous
 * one ran (a group commit: a fleet's hosts start their changes at nearly the same moment). A new
 * file's folder is fsynced with its first fsync.
 * Failures are OutputFileErrors.
 *
 * Linux reports a failed write back to one fsync of the file only, and marks the pages clean: a
 * later fsync returns 0 with the text lost. So the first failed fsync breaks the appender (every
 * later `durable` fails with it). A file
 * removed or replaced (renamed over) while open fails the next fsync: its text would be lost.
 */
export class DurableAppender {
  private readonly target: OutputTarget;
  private readonly ops: FsyncOps;
  private fd: number | undefined;
  private newFile = false;
  /** Appends so far, and how many of them are known to be on disk. */
  private appended = 0;
  private synced = 0;
  /** The text of the appends not yet known to be on disk, in order. */
  private pending: string[] = [];
  private syncing: Promise<void> | undefined;
  private closing = false;
  /** The first failed fsync: no later one is believed. */
  private broken: OutputFileError | undefined;

  constructor(target: OutputTarget, ops: FsyncOps = NODE_FSYNCS) {
    this.target = target;
    this.ops = ops;
  }

  append(text: string): void {
    try {
      let data = text;
      if (this.fd === undefined) {
        this.fd = openSync(
          this.target.path,
          O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK,
          0o600,
        );
        const st = fstatSync(this.fd);
        if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EFTYPE' });
        this.newFile = st.size === 0;
        if (st.size > 0) {
          const last = Buffer.alloc(1);
          readSync(this.fd, last, 0, 1, st.size - 1);
          if (last[0] !== 0x0a) data = '\n' + text;
        }
      }
      writeAll(this.fd, Buffer.from(data, 'utf8'));
    } catch (err) {
      throw writeFailed(this.target, err);
    }
    this.appended++;
    this.pending.push(text);
  }

  /** The text appended and not yet known to be on disk (what a failed fsync may have lost). */
  unsynced(): string {
    return this.pending.join('');
  }

  /** Resolves once every append made before the call is on disk; rejects if an fsync failed. */
  async durable(): Promise<void> {
    const want = this.appended;
    while (this.synced < want) {
      if (this.broken) throw this.broken;
      this.syncing ??= this.syncOnce().finally(() => {
        this.syncing = undefined;
        if (this.closing) this.close();
      });
      await this.syncing;
    }
  }

  /** Closes the file (once an fsync in flight has ended); a later append opens it again. */
  close(): void {
    if (this.syncing !== undefined) {
      this.closing = true;
      return;
    }
    this.closing = false;
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }

  private async syncOnce(): Promise<void> {
    const upTo = this.appended;
    const fd = this.fd;
    // closed with text not fsynced: nothing can sync it (`durable` looped on this forever, a
    // microtask loop that froze the process, its signal handlers too)
    if (fd === undefined)
      throw writeFailed(
        this.target,
        new Error('the file was closed before its records were fsynced'),
      );
    try {
      await this.fsyncOff(fd);
      this.stillNamed(fd);
      await this.syncedFolder();
    } catch (err) {
      this.broken ??= writeFailed(this.target, err);
      throw this.broken;
    }
    this.markSynced(upTo);
  }

  /**
   * Throws when no name reaches the file any more (removed, or replaced by a rename: `sed -i`, an
   * editor): what was written to it is lost once it is closed, which no fsync says.
   */
  private stillNamed(fd: number): void {
    if (fstatSync(fd).nlink === 0)
      throw new Error(
        'the file was removed or replaced during the run (what was written to it is gone with it)',
      );
  }

  private fsyncOff(fd: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.ops.fsync(fd, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** A new file's folder fsynced (its name kept), off the main thread as the file's fsync. */
  private async syncedFolder(): Promise<void> {
    if (!this.newFile) return;
    const dir = openSync(dirname(this.target.path), constants.O_RDONLY | O_DIRECTORY);
    try {
      await this.fsyncOff(dir);
    } catch (err) {
      // file systems that cannot sync a folder say so (as in syncFolder)
      if (!FOLDER_SYNC_UNSUPPORTED.includes(errnoOf(err) ?? '')) throw err;
    } finally {
      closeSync(dir);
    }
    this.newFile = false;
  }

  private markSynced(upTo: number): void {
    if (upTo <= this.synced) return;
    this.pending.splice(0, upTo - this.synced);
    this.synced = upTo;
  }
}
