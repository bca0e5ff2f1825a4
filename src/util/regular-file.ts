/**
 * Reading a file the user named (an inventory, a vars file, a patch module) without ever waiting
 * on it: a FIFO, a socket or a device is refused before it is opened (reading a FIFO blocks until
 * a writer comes, a device may never end), and the type is checked again on the open descriptor,
 * in case the path changed in between.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
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

/**
 * The bytes of a regular file (symlinks followed).
 * @throws NotRegularFileError for anything else; the file system's errors (ENOENT, EACCES) as is.
 */
export function readRegularFile(path: string): Buffer {
  const st = statSync(path);
  const before = problem(st);
  if (before !== undefined) throw new NotRegularFileError(before, st.isDirectory());
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const now = fstatSync(fd);
    const changed = problem(now);
    if (changed !== undefined) throw new NotRegularFileError(changed, now.isDirectory());
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
