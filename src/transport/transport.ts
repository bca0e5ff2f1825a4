/**
 * The one interface between kpfleet and a host. Only `transport/ssh` implements it with ssh2;
 * tests may implement it in memory. Every command given to `exec` has been built by
 * `transport/shell.ts` (quoted, validated); `exec` never waits on stdin unless given some.
 */
import type { HostConnection } from '../connection.ts';

/**
 * The most one exec may print, stdout and stderr together (8 MiB): the facts probe of a large host
 * prints well under 100 KiB. Past it the command is stopped and `OutputLimitError` thrown, so one
 * host cannot fill kpfleet's memory.
 */
export const DEFAULT_MAX_OUTPUT_BYTES = 8 * 1024 * 1024;

export interface ExecOptions {
  /** Give up after this long (ms): the channel is closed and `CommandTimeoutError` thrown. */
  timeoutMs?: number;
  /** Run as root the host's way (`sudo -n`), per its `become` setting. */
  become?: boolean;
  /** Bytes for the command's stdin; otherwise stdin is closed at once. */
  stdin?: string | Buffer;
  /** A short name for errors and logs: `facts`, `kpatch load`. */
  step?: string;
  /** Cap on stdout + stderr in bytes (default: the transport's, else DEFAULT_MAX_OUTPUT_BYTES). */
  maxOutputBytes?: number;
  /**
   * Each piece of stdout as it arrives (within the cap), for when parts of it came: a batch's
   * steps are timed by it. The whole output is still in the result.
   */
  onStdout?: (chunk: Buffer) => void;
}

export interface ExecResult {
  /** Exit status, or null when the command was ended by a signal. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface UploadOptions {
  /** Expected sha256 (hex) of the content: checked on what the host stored, before it is put in place. */
  sha256: string;
  /** File mode of the result (default 0o600). */
  mode?: number;
  /** Give up after this long (ms): `CommandTimeoutError`. */
  timeoutMs?: number;
  /** Make the missing folders of its path first, private to the login user (`mkdir -p -m 700`). */
  makeFolders?: boolean;
}

export interface HoldOptions {
  /** Run as root the host's way (`sudo -n`). */
  become?: boolean;
  /** A short name for errors and logs: `lock`. */
  step?: string;
  /** Give up waiting for the first line after this long (ms): the command is ended. */
  timeoutMs?: number;
  /**
   * While held, one byte (`x`) is written to the command's stdin this often (ms): the command can
   * tell a controller that is gone (no byte for a while) from one that is slow.
   */
  heartbeatMs: number;
  /** In the same session, after the held command's first line: see `HoldFollow`. */
  follow?: HoldFollow;
}

/**
 * A command run in the held command's session as the login user (never as root, whatever
 * `become`), once the held command's first line equals `gate`: it reads no stdin, and what it
 * prints comes right after that line (the held command's later output after it). The hold then
 * resolves once a line equal to `until` came, or the session ended, instead of at the first line
 * (within `timeoutMs` of the first line),
 * and keeps stdout up to DEFAULT_MAX_OUTPUT_BYTES (past it: `OutputLimitError`). The session's exit
 * status is the follower's (1 when the held command said nothing, as when sudo refused).
 */
export interface HoldFollow {
  gate: string;
  command: string;
  until: string;
  /** Its own time, from the held command's first line on (default: the command timeout). */
  timeoutMs?: number;
  /** A short name for its errors: `facts`. */
  step?: string;
}

/** A command that keeps running on the host while kpfleet holds it (`Transport.hold`). */
export interface Held {
  /** What the command printed on stdout so far (at least its first line, unless it ended). */
  readonly said: string;
  /** Its stderr so far (for errors). */
  readonly stderr: string;
  /** Its exit status once it ended (null while it runs, or when a signal ended it). */
  readonly code: number | null;
  /** Whether it has ended (before or after its first line). */
  readonly ended: boolean;
  /** Whether it ended because the connection did (not because the command ended on the host). */
  readonly lost: boolean;
  /** Ends it: its stdin is closed (end of file), then its end is awaited (bounded). */
  release(): Promise<void>;
}

export interface Transport {
  /** Inventory name of the host. */
  readonly host: string;
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /**
   * Puts `content` at `remotePath` (absolute, or `~/…` in the login user's home) atomically, in
   * one session: written to a temporary file beside it, its sha256 checked on what the host
   * stored, then renamed. A partial upload never sits at `remotePath`. Resolves to the file's
   * absolute path, symlinks resolved.
   */
  upload(content: Buffer, remotePath: string, options: UploadOptions): Promise<string>;
  /**
   * Starts a command that goes on running while held: it gets heartbeats on stdin, and end of
   * file when released or when the connection ends (sshd closes its stdin). Resolves once the
   * command printed its first line or ended. The host's lock (`apply/lock.ts`) is one.
   */
  hold(command: string, options: HoldOptions): Promise<Held>;
  close(): Promise<void>;
}

/** Opens a connection to one host: the SSH transport (transport/ssh/connect.ts) or a test's. */
export type OpenTransport = (conn: HostConnection) => Promise<Transport>;
