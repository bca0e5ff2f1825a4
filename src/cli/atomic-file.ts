/**
 * Replacing a local file atomically and durably (`plan --out`, `apply --report`, status files):
 * through a temporary file in the same folder, with a random name, created exclusively
 * (O_CREAT|O_EXCL|O_NOFOLLOW), written (whole, or piece by piece as a streamed plan is), fsynced,
 * renamed over the target, the folder fsynced; on any failure the temporary file is removed. The
 * target is checked first by `preflightReplace` (output-files.ts). Failures are OutputFileErrors.
 */
import { closeSync, fchmodSync, fsyncSync, renameSync, unlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { OutputTarget } from './output-files.ts';
import { createTemp, lstatOrUndefined, syncFolder, writeAll, writeFailed } from './output-files.ts';

/**
 * A file being written to replace `target`: a temporary file in its folder until `commit`
 * renames it over the target (fsynced first, the folder after), so a reader sees the old file or
 * the whole new one, never a part. `abort` (or any failure) removes the temporary file.
 */
export class AtomicFile {
  private fd: number | undefined;
  private temp: string | undefined;
  private readonly existing: Stats | undefined;
  private readonly target: OutputTarget;

  constructor(target: OutputTarget) {
    this.target = target;
    this.existing = lstatOrUndefined(target.path);
    const mode = this.existing?.isFile() === true ? 0o600 : 0o644;
    this.guard(() => ({ fd: this.fd, path: this.temp } = createTemp(dirname(target.path), mode)));
  }

  write(text: string): void {
    this.guard(() => writeAll(this.fd ?? -1, Buffer.from(text, 'utf8')));
  }

  commit(): void {
    this.guard(() => {
      const fd = this.fd ?? -1;
      if (this.existing?.isFile() === true) fchmodSync(fd, this.existing.mode & 0o777);
      fsyncSync(fd);
      this.fd = undefined;
      closeSync(fd);
      renameSync(this.temp ?? '', this.target.path);
      this.temp = undefined;
      syncFolder(dirname(this.target.path));
    });
  }

  /** Removes the temporary file, if it is still there; never throws. */
  abort(): void {
    const { fd, temp } = this;
    this.fd = this.temp = undefined;
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {
      // closed
    }
    try {
      if (temp !== undefined) unlinkSync(temp);
    } catch {
      // already gone
    }
  }

  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.abort();
      throw writeFailed(this.target, err);
    }
  }
}

/**
 * Replaces `target` with `text` (or its pieces, in order), atomically and durably; nothing is
 * left behind on failure.
 */
export function writeFileAtomic(target: OutputTarget, text: string | readonly string[]): void {
  const file = new AtomicFile(target);
  for (const piece of typeof text === 'string' ? [text] : text) file.write(piece);
  file.commit();
}
