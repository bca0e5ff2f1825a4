/**
 * Reading a file the user named (an inventory, a vars file, a patch module) without ever waiting
 * on it: a FIFO, a socket or a device is refused before it is opened (reading a FIFO blocks until
 * a writer comes, a device may never end), and the type is checked again on the open descriptor,
 * in case the path changed in between.
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statfsSync,
  statSync,
} from 'node:fs';
import type { Stats } from 'node:fs';

/**
 * The path is not a regular file; `message` says what it is (`it is a FIFO, …`), `code` is
 * `EISDIR` for a directory (as Node's own error), `ENOTREG` for anything else.
 */
export class NotRegularFileError extends Error {
  readonly code: 'EISDIR' | 'ENOTREG';
  constructor(message: string, directory: boolean) {
    super(message);
    this.code = directory ? 'EISDIR' : 'ENOTREG';
  }
}

/**
 * A private key file (`ansible_ssh_private_key_file`, `connection.private_key_file`) is read only
 * up to this size: a 16384-bit RSA key in OpenSSH's format is about 12 KiB.
 */
export const PRIVATE_KEY_MAX_BYTES = 64 * 1024;

/** The file is larger than its reader allows; nothing past the limit was read. */
export class FileTooLargeError extends Error {
  readonly code = 'EFBIG';
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`it is larger than ${String(maxBytes)} bytes`);
    this.maxBytes = maxBytes;
  }
}

function problem(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'it is a directory';
  const kind = st.isFIFO()
    ? 'a FIFO'
    : st.isSocket()
      ? 'a socket'
      : st.isCharacterDevice()
        ? 'a character device'
        : st.isBlockDevice()
          ? 'a block device'
          : 'something else';
  return `it is ${kind}, not a regular file`;
}

/** statfs(2) magic numbers of the kernel's pseudo-file systems (linux/magic.h). */
const PSEUDO_FS = new Map([
  [0x9fa0, '/proc'],
  [0x62656572, '/sys'],
]);

/**
 * A file of /proc or /sys is "regular" to stat, but no file a user names: a symlink a pull
 * request commits (`inventory/zz -> /proc/self/environ`) would otherwise have its text (kpfleet's
 * whole environment) quoted back in parse errors.
 */
function pseudoFileProblem(path: string): string | undefined {
  let type: number;
  try {
    type = statfsSync(path).type;
  } catch {
    return undefined;
  }
  const fs = PSEUDO_FS.get(type);
  return fs === undefined ? undefined : `it is a kernel pseudo-file (${fs}), not a regular file`;
}

/**
 * Why `path` (symlinks followed) is not a regular file of at most `maxBytes`, from its metadata
 * alone (never opened): `it is a FIFO, not a regular file`, `it is 70000 bytes`; undefined when
 * it is one.
 * @throws the file system's errors (ENOENT, EACCES) as is
 */
export function regularFileProblem(path: string, maxBytes?: number): string | undefined {
  const st = statSync(path);
  return (
    problem(st) ??
    (st.isFile() ? pseudoFileProblem(path) : undefined) ??
    (maxBytes !== undefined && st.size > maxBytes ? `it is ${String(st.size)} bytes` : undefined)
  );
}

/**
 * The bytes of a regular file (symlinks followed), at most `maxBytes` of them when given.
 * @throws NotRegularFileError for anything else; FileTooLargeError past `maxBytes`; the file
 * system's errors (ENOENT, EACCES) as is.
 */
export function readRegularFile(path: string, options: { maxBytes?: number } = {}): Buffer {
  const { maxBytes } = options;
  const st = statSync(path);
  const before = problem(st) ?? pseudoFileProblem(path);
  if (before !== undefined) throw new NotRegularFileError(before, st.isDirectory());
  if (maxBytes !== undefined && st.size > maxBytes) throw new FileTooLargeError(maxBytes);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const now = fstatSync(fd);
    const changed = problem(now);
    if (changed !== undefined) throw new NotRegularFileError(changed, now.isDirectory());
    return maxBytes === undefined ? readFileSync(fd) : readAtMost(fd, maxBytes);
  } finally {
    closeSync(fd);
  }
}

/** Reads `fd` to its end, refusing it past `maxBytes` (it may have grown since fstat). */
function readAtMost(fd: number, maxBytes: number): Buffer {
  const buf = Buffer.alloc(maxBytes + 1);
  let got = 0;
  for (;;) {
    const n = readSync(fd, buf, got, buf.length - got, null);
    if (n === 0) return buf.subarray(0, got);
    got += n;
    if (got > maxBytes) throw new FileTooLargeError(maxBytes);
  }
}
