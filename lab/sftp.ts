/**
 * SFTP served in the lab's process (SPEC.md "SFTP in the lab"), instead of one OpenSSH
 * `sftp-server` (and its namespace) per upload: files are written for real into the host's
 * simulator root, at the path the login user's session would write (`/home`, `/tmp`, `/var/tmp`,
 * `/var/lib/kpfleet`, bound there per host by ns-setup.sh; a relative path is under the user's
 * home); anything else is refused. Used where the machine has no `sftp-server` (a fresh machine
 * with only the OpenSSH client: `npm ci && npm start` must work there), by the demo, and in
 * replay mode. Served: open (write; read), read, write, fstat, fsetstat, close, stat, lstat,
 * realpath, mkdir, remove, rename (it replaces the target; posix-rename is not offered, so the
 * client falls back to remove then rename); anything else is refused as
 * unsupported. The fault `disk-full` (SPEC.md) holds: a write past 4 KiB fails, as on the 4 KiB
 * tmpfs ns-setup.sh mounts for it.
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
  mkdirSync,
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

/** The size of the tmpfs ns-setup.sh mounts over those folders under the fault `disk-full`. */
const DISK_FULL_BYTES = 4096;

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
  const diskFull = (): boolean => existsSync(join(root, 'var/lib/kpsim/faults/disk-full'));
  let next = 0;
  const hostPath = (p: string): string => posix.resolve(`/home/${user}`, p);
  const local = (p: string): string | undefined => {
    const abs = hostPath(p);
    return HOST_DIRS.some((d) => abs === d || abs.startsWith(`${d}/`)) ? root + abs : undefined;
  };
  /** Runs `fn` on the open file `handle` names, or answers that it names none. */
  const withHandle = (
    reqid: number,
    handle: Buffer,
    fn: (h: { fd: number; path: string; local: string; written: boolean }) => void,
  ): void => {
    const h = handles.get(handle.length === 4 ? handle.readUInt32BE(0) : -1);
    if (!h) sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle');
    else fn(h);
  };
  const fail = (reqid: number, err: unknown): void => {
    const code = (err as NodeJS.ErrnoException).code;
    sftp.status(
      reqid,
      code === 'ENOENT' ? STATUS_CODE.NO_SUCH_FILE : STATUS_CODE.FAILURE,
      (err as Error).message,
    );
  };

  sftp.on('OPEN', (reqid, filename, flags, attrs) => {
    const file = local(filename);
    const write = (flags & OPEN_MODE.WRITE) !== 0;
    // a file this host did not write is not on this host: it reads only its own
    if (!file || (write && (flags & OPEN_MODE.READ) !== 0) || (!write && !mine(file))) {
      sftp.status(reqid, STATUS_CODE.PERMISSION_DENIED, 'the lab writes, and reads back');
      return;
    }
    try {
      const mode = !write
        ? 'r'
        : ((flags & OPEN_MODE.TRUNC) !== 0 ? 'w' : 'r+') +
          ((flags & OPEN_MODE.EXCL) !== 0 ? 'x' : '');
      const fd = openSync(file, mode, (attrs as Partial<Attributes>).mode ?? 0o644);
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
          sftp.status(reqid, STATUS_CODE.FAILURE, 'No space left on device');
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
      if (n === 0) sftp.status(reqid, STATUS_CODE.EOF);
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
  const stat = (reqid: number, path: string): void => {
    const file = local(path);
    if (!file) {
      sftp.status(reqid, STATUS_CODE.PERMISSION_DENIED);
      return;
    }
    try {
      sftp.attrs(reqid, attrsOf(statSync(file)));
    } catch (err) {
      fail(reqid, err);
    }
  };
  sftp.on('STAT', stat);
  sftp.on('LSTAT', stat);
  sftp.on('REALPATH', (reqid, path) => {
    const abs = hostPath(path);
    sftp.name(reqid, [{ filename: abs, longname: abs, attrs: {} as Attributes }]);
  });
  // folders: made as on a host of its own (one another host made already is there: made)
  sftp.on('MKDIR', (reqid, path, attrs) => {
    const dir = local(path);
    if (!dir) {
      sftp.status(reqid, STATUS_CODE.PERMISSION_DENIED);
      return;
    }
    try {
      mkdirSync(dir, { mode: (attrs as Partial<Attributes>).mode ?? 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) {
        fail(reqid, err);
        return;
      }
    }
    sftp.status(reqid, STATUS_CODE.OK);
  });
  // only this session's own files: another host's are not on this one (no such file)
  sftp.on('REMOVE', (reqid, path) => {
    const file = local(path);
    if (!file || !mine(file)) {
      sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE);
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
    const a = local(from);
    const b = local(to);
    if (!a || !b || !mine(a)) {
      sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE);
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
