/**
 * A command's stdout and stderr, kept up to a cap on both together. Past the cap nothing more is
 * kept (what was kept is dropped too): the caller stops the command and reports the overflow.
 */
export class BoundedOutput {
  readonly limit: number;
  private bytes = 0;
  private out: Buffer[] = [];
  private err: Buffer[] = [];
  /** The cap was passed. */
  overflowed = false;

  constructor(limitBytes: number) {
    this.limit = limitBytes;
  }

  /** Keeps a chunk; false (and nothing kept any more) once the total passes the cap. */
  add(stream: 'stdout' | 'stderr', chunk: Buffer): boolean {
    if (this.overflowed) return false;
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.overflowed = true;
      this.out = [];
      this.err = [];
      return false;
    }
    (stream === 'stdout' ? this.out : this.err).push(chunk);
    return true;
  }

  stdout(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }
}
