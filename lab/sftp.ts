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
 * what another host put there.
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
  uploads?: Map<string, string>,
): void {
  const handles = new Map<number, { fd: number; path: string; local: string; written: boolean }>();
  /**
   * Replay mode: the files this session wrote, the only ones on its host (another host's are
   * not). A host of its own has every file of its root.
   */
  const own = new Set<string>();
  const mine = (file: string): boolean => uploads === undefined || own.has(file);
  /**
   * Replay mode: the folders this session made. On a host of its own nobody else removes them;
   * here the first host's cleanup (run for real) may remove one while this host still uploads
   * into it: an open for writing makes it again (with the mode this session made it with).
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
  const status = (reqid: number, code: number): void => {
    sftp.status(reqid, code, TEXT_OF[code]);
  };
  /** Runs `fn` on the open file `handle` names, or answers that it names none. */
  const withHandle = (
    reqid: number,
    handle: Buffer,
    fn: (h: { fd: number; path: string; local: string; written: boolean }) => void,
  ): void => {
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
      let fd: number;
      try {
        fd = openSync(file, mode, fileMode);
      } catch (err) {
        const dirMode = made.get(posix.dirname(file));
        if (!write || dirMode === undefined || (err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw err;
        mkdirSync(posix.dirname(file), { recursive: true, mode: dirMode });
        fd = openSync(file, mode, fileMode);
      }
      if (write) own.add(file);
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
      closeSync(h.fd);
      if (!h.written || uploads === undefined) {
        sftp.status(reqid, STATUS_CODE.OK);
        return;
      }
      const sum = createHash('sha256').update(readFileSync(h.local)).digest('hex');
      const key = replayKey(h.path);
      const first = uploads.get(key);
      if (first === undefined) uploads.set(key, sum);
      if (first !== undefined && first !== sum)
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
        sftp.attrs(reqid, attrsOf(follow ? statSync(file) : lstatSync(file)));
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
      mkdirSync(dir, { mode: dirMode });
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
      own.delete(file);
      sftp.status(reqid, STATUS_CODE.OK);
    } catch (err) {
      fail(reqid, err);
    }
  });
  // its own file into place, replacing atomically what another host put there
  sftp.on('RENAME', (reqid, from, to) => {
    const a = local(from, false);
    const b = local(to, false);
    if (!a || !b || !mine(a)) {
      status(reqid, STATUS_CODE.NO_SUCH_FILE);
      return;
    }
    // SFTP's rename, as sftp-server's: a target that is there (on this host) stays, and the
    // rename fails (replacing it is posix-rename's, which this server does not offer)
    if (mine(b) && exists(b)) {
      status(reqid, STATUS_CODE.FAILURE);
      return;
    }
    try {
      renameSync(a, b);
      own.delete(a);
      own.add(b);
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
