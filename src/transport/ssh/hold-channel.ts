/**
 * A command kept running on an open SSH connection while held (the host lock): resolved once it
 * said its first line (or, with a follower, the follower's last line: `HoldFollow`) or ended, then fed a heartbeat byte on its stdin until released, when
 * end of file on its stdin ends it (killed if it does not end within 10 s). What it said, its
 * exit code, and whether it ended or the connection was lost stay readable on the `Held`.
 */
import type { Client as ClientType, ClientChannel } from 'ssh2';
import {
  CommandTimeoutError,
  ConnectionLostError,
  OutputLimitError,
  SudoPasswordError,
} from '../errors.ts';
import type { Held } from '../transport.ts';
import { BoundedOutput } from './bounded-output.ts';
import { notOpened, sudoRefused } from './exec-channel.ts';
import type { ChannelOptions } from './exec-channel.ts';

export interface HoldChannelOptions extends ChannelOptions {
  heartbeatMs: number;
  /** Called once the channel closed: gives its place on the connection back. */
  release: () => void;
  /** Resolve once a line equal to this came (a follower's last line), not at the first line. */
  until?: string;
  /** Cap on stdout + stderr kept (default 64 KiB: a held command says one line). */
  maxOutputBytes?: number;
}

/** Tells, chunk by chunk, whether a line equal to `line` came, in O(chunk) each. */
function lineWatcher(line: string | undefined): (chunk: Buffer) => boolean {
  if (line === undefined) {
    let seen = false;
    return (chunk) => (seen ||= chunk.includes(0x0a));
  }
  // at the start of the output, or after a newline; then a newline. Bytes as latin1: the line is
  // ASCII, and a split UTF-8 character cannot fake it
  const want = `\n${line}\n`;
  let tail = '\n';
  let seen = false;
  return (chunk) => {
    if (seen) return true;
    const text = tail + chunk.toString('latin1');
    seen = text.includes(want);
    tail = text.slice(-(want.length - 1));
    return seen;
  };
}

/** Starts `full` (already wrapped for become) on `client`, held until released. */
export async function holdOnChannel(
  client: ClientType,
  full: string,
  options: HoldChannelOptions,
): Promise<Held> {
  const { host, step, timeoutMs, release } = options;
  const lostError = (): Error =>
    options.lost() ??
    new ConnectionLostError(`the connection to ${host} was lost during ${step}`, { host, step });
  // a held command says one line, then nothing; a follower says more, up to the exec cap
  const output = new BoundedOutput(options.maxOutputBytes ?? 64 * 1024);
  const answered = lineWatcher(options.until);
  let channel: ClientChannel | undefined;
  // read through closures: an object, so the compiler does not narrow it
  const st: { code: number | null; ended: boolean; closed: boolean; lost: boolean } = {
    code: null,
    ended: false,
    closed: false,
    lost: false,
  };
  // read after an await: a function, so the compiler does not narrow it
  const isClosed = (): boolean => st.closed;
  let heartbeat: NodeJS.Timeout | undefined;
  let onEnd: () => void = () => undefined;
  const endedP = new Promise<void>((r) => (onEnd = r));
  // the channel closed (all its output read): apart from its end, which `exit` may tell first
  let onClosed: () => void = () => undefined;
  const closedP = new Promise<void>((r) => (onClosed = r));
  const held: Held = {
    get said() {
      return output.stdout();
    },
    get stderr() {
      return output.stderr();
    },
    get code() {
      return st.code;
    },
    get ended() {
      return st.ended;
    },
    get lost() {
      return st.lost;
    },
    release: async () => {
      clearInterval(heartbeat);
      if (st.closed) return;
      try {
        channel?.end(); // end of file on its stdin: the command ends itself
      } catch {
        // the channel is already gone
      }
      // what it printed is all read once the channel closed
      const bound = new Promise<void>((r) => setTimeout(r, 10_000).unref());
      await Promise.race([closedP, bound]);
      if (!isClosed()) {
        try {
          channel?.signal('KILL');
          channel?.close();
        } catch {
          // the channel is already gone
        }
      }
    },
  };
  /** The command ended: its exit status came, or its channel or the connection closed. */
  const ended = (): void => {
    if (st.ended) return;
    st.ended = true;
    clearInterval(heartbeat);
    onEnd();
  };
  const finished = (): void => {
    ended();
    if (st.closed) return;
    st.closed = true;
    client.removeListener('close', onConnectionClose);
    release();
    onClosed();
  };
  const onConnectionClose = (): void => {
    st.lost = true;
    finished();
  };
  client.once('close', onConnectionClose);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new CommandTimeoutError(
            `${step} did not answer within ${String(Math.round(timeoutMs / 1000))} s`,
            { host, step },
          ),
        );
        try {
          channel?.signal('KILL');
          channel?.close();
        } catch {
          // the channel is already gone
        }
      }, timeoutMs);
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      void endedP.then(() => settle(channel ? undefined : lostError()));
      try {
        client.exec(full, (e, stream) => {
          if (e) {
            finished();
            settle(notOpened(options, e));
            return;
          }
          channel = stream;
          // past the cap before the answer: stopped; after it, kept as it was (the hold goes on)
          let done = false;
          const overflow = (): void => {
            if (done) return;
            done = true;
            settle(new OutputLimitError({ host, step, limitBytes: output.limit }));
            try {
              stream.signal('KILL');
              stream.close();
            } catch {
              // the channel is already gone
            }
          };
          stream.on('data', (c: Buffer) => {
            if (!output.add('stdout', c)) overflow();
            else if (!done && answered(c)) {
              done = true;
              settle();
            }
          });
          stream.stderr.on('data', (c: Buffer) => {
            if (!output.add('stderr', c)) overflow();
          });
          // sshd says the exit status when the command ends, even while something it left
          // still holds the channel open
          stream.on('exit', (c: number | null | undefined) => {
            st.code = typeof c === 'number' ? c : null;
            ended();
          });
          stream.on('close', (c: number | null | undefined) => {
            if (typeof c === 'number') st.code = c;
            finished();
          });
        });
      } catch {
        finished();
        settle(lostError());
      }
    });
  } catch (err) {
    await held.release();
    throw err;
  }
  if (st.ended && sudoRefused(options.sudo, st.code, output.stderr()))
    throw new SudoPasswordError({ host, step });
  if (!st.ended) {
    heartbeat = setInterval(() => {
      try {
        channel?.write('x');
      } catch {
        // the channel is gone: its close ends the hold
      }
    }, options.heartbeatMs);
    heartbeat.unref();
  }
  return held;
}
