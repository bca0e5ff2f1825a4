/**
 * SFTP served in the lab's process (SPEC.md "SFTP in the lab"), instead of one OpenSSH
 * `sftp-server` (and its namespace) per upload: files are written for real into the host's
 * simulator root, at the path the login user's session would write (`/home`, `/tmp`, `/var/tmp`,
 * `/var/lib/kpfleet`, bound there per host by ns-setup.sh; a relative path is under the user's
 * home); anything else is refused, and so is a path that a symlink leads out of those folders
 * (this process is not in the host's namespace: it would write into this machine's own). Used
 * where the machine has no `sftp-server` (a fresh machine with only the OpenSSH client:
 * `npm ci && npm start` must work there), by the demo, and in replay mode. Served: open (write;
 * read), read, write, fstat, fsetstat, close, stat, lstat, realpath, mkdir, remove, rename;
 * anything else is refused as unsupported. Answered as sftp-server answers: its status for each
 * errno, with its words; a rename onto a file that is there fails, and so does a mkdir of a folder
 * that is there (posix-rename, which replaces, is not offered: ssh2's server cannot say so, and
 * the client falls back to remove then rename). The fault `disk-full` (SPEC.md) holds: a write
 * past 4 KiB fails, as on the 4 KiB tmpfs ns-setup.sh mounts for it.
 *
 * Replay mode (`uploads` given; SPEC.md "Replay"): the root is shared by every host. Each upload
 * is checked against the first host's upload to the same path (temporary names masked as in
 * replay.ts): a host whose bytes differ gets an SFTP failure, since its later commands are
 * answered from the first host's. A session sees the shared folder as a host of its own would:
 * it reads back and removes only the files it wrote (another host's are not on it: no such file),
 * a folder another host made is made, a rename puts its own file in place replacing atomically
 * what another host put there. Its own files and folders stay as it left them: the first host's
 * cleanup (`rm -rf` of the shared staging folder, run for real) may remove them while this host
 * still uploads, so a folder it made is made again and a file it wrote put back (its bytes and
 * mode, kept from its close) when a request of this session needs them.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  readSync,
  renameSync,
  unlinkSync,
  fchmodSync,
  fstatSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { join, posix } from 'node:path';
import ssh2 from 'ssh2';
import type { Attributes, SFTPWrapper } from 'ssh2';
import { replayKey } from './replay.ts';
import type { FirstUpload } from './replay.ts';

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

/** Where a host's session can write, as ns-setup.sh binds them to the host folder. */
const HOST_DIRS = ['/home', '/tmp', '/var/tmp', '/var/lib/kpfleet'];

/**
 * The status OpenSSH's sftp-server answers for an errno (its errno_to_portable), with its text:
 * the client sees the same words, never a path of the lab's.
 */
const STATUS_OF: Record<string, number> = {
  ENOENT: STATUS_CODE.NO_SUCH_FILE,
  ENOTDIR: STATUS_CODE.NO_SUCH_FILE,
  EBADF: STATUS_CODE.NO_SUCH_FILE,
  ELOOP: STATUS_CODE.NO_SUCH_FILE,
  EPERM: STATUS_CODE.PERMISSION_DENIED,
  EACCES: STATUS_CODE.PERMISSION_DENIED,
  EFAULT: STATUS_CODE.PERMISSION_DENIED,
  ENAMETOOLONG: STATUS_CODE.BAD_MESSAGE,
  EINVAL: STATUS_CODE.BAD_MESSAGE,
  ENOSYS: STATUS_CODE.OP_UNSUPPORTED,
};
const TEXT_OF: Record<number, string> = {
  [STATUS_CODE.EOF]: 'End of file',
  [STATUS_CODE.NO_SUCH_FILE]: 'No such file',
  [STATUS_CODE.PERMISSION_DENIED]: 'Permission denied',
  [STATUS_CODE.FAILURE]: 'Failure',
  [STATUS_CODE.BAD_MESSAGE]: 'Bad message',
  [STATUS_CODE.OP_UNSUPPORTED]: 'Operation unsupported',
};

/** The size of the tmpfs ns-setup.sh mounts over those folders under the fault `disk-full`. */
const DISK_FULL_BYTES = 4096;

/**
 * Replay mode: the largest file whose bytes are kept to put it back (uploads are KiBs). The bytes
 * of a path's first upload are kept once for the lab (every session's file that matches them is
 * put back from them), until `Replays.reset`; a larger file is put back only at its close.
 */
const KEPT_MAX = 1024 * 1024;
/** How many times a request that met a removed folder or file is tried again (the cleanup races it). */
const TRIES = 3;
/** Names the files put back are written under first (then renamed into place), lab-wide. */
let putBacks = 0;

const isDirectory = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};
const exists = (p: string): boolean => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

const missing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** An open file of a session. */
interface Handle {
  fd: number;
  path: string;
  local: string;
  written: boolean;
}

/** Replay mode: what a session needs to put one of its own files back. */
interface Kept {
  mode: number;
  bytes: Buffer;
}

const attrsOf = (st: Stats): Attributes => ({
  mode: st.mode,
  uid: st.uid,
  gid: st.gid,
  size: st.size,
  atime: Math.floor(st.atimeMs / 1000),
  mtime: Math.floor(st.mtimeMs / 1000),
});

/**
 * Serves `sftp` for a host whose state is under `root` (its simulator root), logged in as
 * `user`. In replay mode `uploads` holds the sha256 of the first upload to each (masked) path,
 * and `root` is shared by every host.
 */
export function serveLabSftp(
  sftp: SFTPWrapper,
  root: string,
  user: string,
  uploads?: Map<string, FirstUpload>,
): void {
  const handles = new Map<number, Handle>();
  /**
   * Replay mode: the files this session wrote, the only ones on its host (another host's are
   * not), each with what puts it back once it was closed (none while open for writing, or when
   * too large). A host of its own has every file of its root.
   */
  const own = new Map<string, Kept | undefined>();
  const mine = (file: string): boolean => uploads === undefined || own.has(file);
  /**
   * Replay mode: the folders this session made, with their modes. On a host of its own nobody
   * else removes them; here the first host's cleanup (run for real) may remove one while this
   * host still uploads into it: a request that needs it makes it again.
   */
  const made = new Map<string, number>();
  const diskFull = (): boolean => existsSync(join(root, 'var/lib/kpsim/faults/disk-full'));
  let next = 0;
  const hostPath = (p: string): string => posix.resolve(`/home/${user}`, p);
  const inHostDirs = (abs: string, base: string): boolean =>
    HOST_DIRS.some((d) => abs === base + d || abs.startsWith(`${base}${d}/`));
  let realRoot: string | undefined;
  /**
   * Whether `file` (the last part followed when `follow`) stays in the host's folders once the
   * symlinks on its way are followed. This process is not in the host's namespace: a link a
   * command put there would lead into this machine's own folders (as root, here).
   */
  const contained = (file: string, follow: boolean): boolean => {
    realRoot ??= realpathSync(root);
    let at = follow ? file : posix.dirname(file);
    let rest = follow ? '' : `/${posix.basename(file)}`;
    for (;;) {
      try {
        return inHostDirs(realpathSync(at) + rest, realRoot);
      } catch {
        // missing: its folder decides; a link that leads nowhere (or round) is refused
        try {
          lstatSync(at);
          return false;
        } catch {
          const up = posix.dirname(at);
          if (up === at) return false;
          rest = `/${posix.basename(at)}${rest}`;
          at = up;
        }
      }
    }
  };
  const local = (p: string, follow = true): string | undefined => {
    const abs = hostPath(p);
    if (!inHostDirs(abs, '')) return undefined;
    return contained(root + abs, follow) ? root + abs : undefined;
  };
  /**
   * Makes `dir` again, with its missing parents, where this session made them (their modes); never
   * through a symlink out of the host's folders.
   */
  const makeAgain = (dir: string): void => {
    const mode = made.get(dir);
    if (mode === undefined || exists(dir)) return;
    makeAgain(posix.dirname(dir));
    if (!contained(dir, false)) return;
    try {
      mkdirSync(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  };
  /**
   * Writes `kept` at `file` (its folder made again where this session made it): under another
   * name, then renamed into place, so a file another host has at `file` is replaced, never
   * written into. Not through a symlink out of the host's folders. Tried again when the cleanup
   * removes the folder meanwhile.
   */
  const putAt = (file: string, kept: Kept): void => {
    for (let tried = 1; ; tried++) {
      try {
        makeAgain(posix.dirname(file));
        const temp = `${file}.lab-${String(process.pid)}-${String(putBacks++)}`;
        if (!contained(temp, false)) throw Object.assign(new Error('outside'), { code: 'EACCES' });
        const fd = openSync(temp, 'wx', kept.mode);
        try {
          writeSync(fd, kept.bytes, 0, kept.bytes.length, 0);
          fchmodSync(fd, kept.mode);
        } finally {
          closeSync(fd);
        }
        renameSync(temp, file);
        return;
      } catch (err) {
        if (tried === TRIES || !missing(err)) throw err;
      }
    }
  };
  /** Puts back this session's own `file` if it is gone and its bytes were kept. */
  const putBack = (file: string): void => {
    const kept = own.get(file);
    if (kept !== undefined && !exists(file)) putAt(file, kept);
  };
  /**
   * Runs `fn` as on a host of its own: in replay mode the own `files` and made `dirs` it needs are
   * put back first, and again when it still finds one missing (the cleanup raced it).
   */
  const asOwnHost = <T>(files: readonly string[], dirs: readonly string[], fn: () => T): T => {
    if (uploads === undefined) return fn();
    for (let tried = 1; ; tried++) {
      for (const f of files) putBack(f);
      for (const d of dirs) makeAgain(d);
      try {
        return fn();
      } catch (err) {
        if (tried === TRIES || !missing(err)) throw err;
      }
    }
  };
  const status = (reqid: number, code: number): void => {
    sftp.status(reqid, code, TEXT_OF[code]);
  };
  /** Runs `fn` on the open file `handle` names, or answers that it names none. */
  const withHandle = (reqid: number, handle: Buffer, fn: (h: Handle) => void): void => {
    const h = handles.get(handle.length === 4 ? handle.readUInt32BE(0) : -1);
    if (!h) {
      status(reqid, STATUS_CODE.FAILURE);
      return;
    }
    // an error of the file system is the client's answer, never an exception of this process
    // (it would end the connection)
    try {
      fn(h);
    } catch (err) {
      fail(reqid, err);
    }
  };
  const fail = (reqid: number, err: unknown): void => {
    status(reqid, STATUS_OF[(err as NodeJS.ErrnoException).code ?? ''] ?? STATUS_CODE.FAILURE);
  };

  sftp.on('OPEN', (reqid, filename, flags, attrs) => {
    const file = local(filename);
    const write = (flags & OPEN_MODE.WRITE) !== 0;
    // a file this host did not write is not on this host: it reads only its own
    if (!file || (write && (flags & OPEN_MODE.READ) !== 0) || (!write && !mine(file))) {
      status(reqid, STATUS_CODE.PERMISSION_DENIED);
      return;
    }
    try {
      const mode = !write
        ? 'r'
        : ((flags & OPEN_MODE.TRUNC) !== 0 ? 'w' : 'r+') +
          ((flags & OPEN_MODE.EXCL) !== 0 ? 'x' : '');
      const fileMode = (attrs as Partial<Attributes>).mode ?? 0o644;
      const fd = asOwnHost([file], write ? [posix.dirname(file)] : [], () =>
        openSync(file, mode, fileMode),
      );
      if (write && uploads !== undefined) own.set(file, undefined);
      const id = next++;
      handles.set(id, { fd, path: hostPath(filename), local: file, written: write });
      const h = Buffer.alloc(4);
      h.writeUInt32BE(id);
      sftp.handle(reqid, h);
    } catch (err) {
      fail(reqid, err);
    }
  });
  sftp.on('WRITE', (reqid, handle, offset, data) => {
    withHandle(reqid, handle, (h) => {
      try {
        if (offset + data.length > DISK_FULL_BYTES && diskFull()) {
          status(reqid, STATUS_CODE.FAILURE); // as sftp-server says ENOSPC
          return;
        }
        writeSync(h.fd, data, 0, data.length, offset);
        sftp.status(reqid, STATUS_CODE.OK);
      } catch (err) {
        fail(reqid, err);
      }
    });
  });
  sftp.on('READ', (reqid, handle, offset, length) => {
    withHandle(reqid, handle, (h) => {
      const buf = Buffer.alloc(Math.min(length, 256 * 1024));
      const n = readSync(h.fd, buf, 0, buf.length, offset);
      if (n === 0) status(reqid, STATUS_CODE.EOF);
      else sftp.data(reqid, buf.subarray(0, n));
    });
  });
  sftp.on('FSETSTAT', (reqid, handle, attrs) => {
    withHandle(reqid, handle, (h) => {
      const { mode } = attrs as Partial<Attributes>;
      if (mode !== undefined) fchmodSync(h.fd, mode & 0o7777);
      sftp.status(reqid, STATUS_CODE.OK);
    });
  });
  sftp.on('FSTAT', (reqid, handle) => {
    withHandle(reqid, handle, (h) => {
      sftp.attrs(reqid, attrsOf(fstatSync(h.fd)));
    });
  });
  sftp.on('CLOSE', (reqid, handle) => {
    withHandle(reqid, handle, (h) => {
      handles.delete(handle.readUInt32BE(0));
      if (!h.written || uploads === undefined) {
        closeSync(h.fd);
        sftp.status(reqid, STATUS_CODE.OK);
        return;
      }
      // what this session wrote, read through its handle (open for writing only: reopened for
      // reading through /proc, the lab runs on Linux): the path may name it no more (the first
      // host's cleanup removed it, or its folder, since the open)
      let written: Stats;
      let bytes: Buffer;
      try {
        written = fstatSync(h.fd);
        bytes = readFileSync(`/proc/self/fd/${String(h.fd)}`);
      } finally {
        closeSync(h.fd);
      }
      const mode = written.mode & 0o7777;
      let there: Stats | undefined;
      try {
        there = lstatSync(h.local);
      } catch {
        there = undefined;
      }
      if (there?.ino !== written.ino || there.dev !== written.dev) putAt(h.local, { mode, bytes });
      const sum = createHash('sha256').update(bytes).digest('hex');
      const key = replayKey(h.path);
      const first = uploads.get(key);
      if (first === undefined)
        uploads.set(key, { sha256: sum, bytes: bytes.length <= KEPT_MAX ? bytes : undefined });
      // kept to put it back later: the first upload's bytes when they are these (kept once)
      const same = first === undefined || first.sha256 === sum;
      const keep = same && first !== undefined ? first.bytes : bytes;
      own.set(h.local, keep && keep.length <= KEPT_MAX ? { mode, bytes: keep } : undefined);
      if (!same)
        sftp.status(reqid, STATUS_CODE.FAILURE, "replay: not the first host's bytes for this path");
      else sftp.status(reqid, STATUS_CODE.OK);
    });
  });
  /** STAT follows a last symlink (inside the host's folders only), LSTAT does not. */
  const stat =
    (follow: boolean) =>
    (reqid: number, path: string): void => {
      const file = local(path, follow);
      if (!file) {
        status(reqid, STATUS_CODE.PERMISSION_DENIED);
        return;
      }
      try {
        // an own file or made folder is there, as on a host of its own
        const st = asOwnHost([file], [file], () => (follow ? statSync(file) : lstatSync(file)));
        sftp.attrs(reqid, attrsOf(st));
      } catch (err) {
        fail(reqid, err);
      }
    };
  sftp.on('STAT', stat(true));
  sftp.on('LSTAT', stat(false));
  sftp.on('REALPATH', (reqid, path) => {
    const abs = hostPath(path);
    sftp.name(reqid, [{ filename: abs, longname: abs, attrs: {} as Attributes }]);
  });
  // folders: made as on a host of its own
  sftp.on('MKDIR', (reqid, path, attrs) => {
    const dir = local(path, false);
    if (!dir) {
      status(reqid, STATUS_CODE.PERMISSION_DENIED);
      return;
    }
    const dirMode = (attrs as Partial<Attributes>).mode ?? 0o755;
    try {
      asOwnHost([], [posix.dirname(dir)], () => {
        mkdirSync(dir, { mode: dirMode });
      });
      if (uploads !== undefined) made.set(dir, dirMode);
    } catch (err) {
      // a folder that is there fails, as sftp-server's mkdir does; in replay mode one another
      // host made was not there for this one: made
      const madeByOther = uploads !== undefined && isDirectory(dir);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !madeByOther) {
        fail(reqid, err);
        return;
      }
      made.set(dir, dirMode);
    }
    sftp.status(reqid, STATUS_CODE.OK);
  });
  // only this session's own files: another host's are not on this one (no such file)
  sftp.on('REMOVE', (reqid, path) => {
    const file = local(path, false);
    if (!file || !mine(file)) {
      status(reqid, STATUS_CODE.NO_SUCH_FILE);
      return;
    }
    try {
      unlinkSync(file);
    } catch (err) {
      // an own file another host's cleanup removed was there on a host of its own: removed
      if (uploads === undefined || !missing(err)) {
        fail(reqid, err);
        return;
      }
    }
    own.delete(file);
    sftp.status(reqid, STATUS_CODE.OK);
  });
  // its own file into place, replacing atomically what another host put there
  sftp.on('RENAME', (reqid, from, to) => {
    const a = local(from, false);
    const b = local(to, false);
    if (!a || !b || !mine(a)) {
      status(reqid, STATUS_CODE.NO_SUCH_FILE);
      return;
    }
    // SFTP's rename, as sftp-server's: a target that is there (on this host: every own file is)
    // stays, and the rename fails (replacing it is posix-rename's, which this server does not offer)
    if (uploads === undefined ? exists(b) : own.has(b)) {
      status(reqid, STATUS_CODE.FAILURE);
      return;
    }
    try {
      asOwnHost([a], [posix.dirname(b)], () => {
        renameSync(a, b);
      });
      if (uploads !== undefined) {
        own.set(b, own.get(a));
        own.delete(a);
      }
      sftp.status(reqid, STATUS_CODE.OK);
    } catch (err) {
      fail(reqid, err);
    }
  });
  for (const op of ['OPENDIR', 'READDIR', 'RMDIR', 'SETSTAT', 'READLINK', 'SYMLINK'] as const)
    sftp.on(op, (reqid: number) => sftp.status(reqid, STATUS_CODE.OP_UNSUPPORTED));
  // the client's end of file ends the session, as sftp-server exits on it (OpenSSH's sftp
  // client waits for that; kpfleet closes the channel itself)
  sftp.on('end', () => {
    sftp.end();
  });
  sftp.on('close', () => {
    for (const h of handles.values()) closeSync(h.fd);
    handles.clear();
  });
}
