/**
 * One connection to a memory host (transport.ts): the `Transport` apply is given. Each command
 * answers on a later tick, never within the call. A connection the host dropped reconnects at its
 * next command, as the ssh transport does; a closed one answers nothing.
 */
import { ConnectionLostError } from '../../../../src/transport/errors.ts';
import type {
  ExecOptions,
  ExecResult,
  Held,
  HoldOptions,
  Transport,
  UploadOptions,
} from '../../../../src/transport/transport.ts';
import type { MemoryHost } from './transport.ts';

/** One connection to a memory host. */
export class MemoryTransport implements Transport {
  readonly host: string;
  private readonly h: MemoryHost;
  private closed = false;
  /** The connection dropped: the next command reconnects, as the ssh transport does. */
  private dropped = false;

  constructor(h: MemoryHost) {
    this.h = h;
    this.host = h.name;
  }

  /** Runs `fn` on the host as one command of this connection. */
  private async call<T>(what: string, fn: () => T): Promise<T> {
    await Promise.resolve(); // a command answers later, never within the call
    if (this.closed) this.h.refuse('a command after close', what);
    if (this.dropped) {
      this.dropped = false;
      this.h.connections++;
    }
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConnectionLostError) this.dropped = true;
      throw err;
    }
  }

  /** The host's answer comes whole: its stdout reaches `onStdout` as one piece. */
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.call(command, () => {
      const r = this.h.exec(command, options);
      if (r.stdout !== '') options.onStdout?.(Buffer.from(r.stdout));
      return r;
    });
  }

  upload(content: Buffer, remotePath: string, options: UploadOptions): Promise<string> {
    return this.call(remotePath, () => this.h.upload(content, remotePath, options));
  }

  hold(command: string, options: HoldOptions): Promise<Held> {
    return this.call(command, () => this.h.hold(command, options));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
