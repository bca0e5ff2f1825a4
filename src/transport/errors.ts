/** Typed errors of the transport: each says which host and step, and what to do. */
import { AppError } from '../errors.ts';
import type { AppErrorOptions } from '../errors.ts';

type Opts = AppErrorOptions & { host: string };

/** The host could not be reached: DNS, refused, timed out, dropped during the handshake. */
export class HostUnreachableError extends AppError {
  constructor(message: string, options: Opts) {
    super('E_UNREACHABLE', message, options);
  }
}

/** The host refused every way kpfleet had to log in. */
export class AuthenticationError extends AppError {
  constructor(message: string, options: Opts) {
    super('E_AUTH', message, options);
  }
}

/** The host's key was not accepted: unknown (strict), changed, revoked, or a certificate. */
export class HostKeyError extends AppError {
  readonly fingerprint: string;
  constructor(message: string, options: Opts & { fingerprint: string }) {
    super('E_HOST_KEY', message, options);
    this.fingerprint = options.fingerprint;
  }
}

/** sudo wants a password on this host: `sudo -n` refused to ask. */
export class SudoPasswordError extends AppError {
  constructor(options: Opts) {
    super('E_SUDO_PASSWORD', 'sudo wants a password here, and kpfleet never types one', {
      hint: 'kpfleet runs each step as `sudo -n -- sh -c …`, so the login user needs `NOPASSWD: ALL` in sudoers (a rule for kpatch alone does not work; docs/security.md), or connect as root with become: none',
      ...options,
    });
  }
}

/** The connection died while a command or upload was running. */
export class ConnectionLostError extends AppError {
  constructor(message: string, options: Opts) {
    super('E_CONNECTION_LOST', message, options);
  }
}

/** A command ran longer than it was allowed to. */
export class CommandTimeoutError extends AppError {
  constructor(message: string, options: Opts) {
    super('E_TIMEOUT', message, options);
  }
}

/** An upload failed or arrived damaged; nothing was put in place. */
export class UploadError extends AppError {
  constructor(message: string, options: Opts) {
    super('E_UPLOAD', message, options);
  }
}

/** `8 MiB`, `1000 bytes`: a byte count as the output cap's error says it. */
function showBytes(n: number): string {
  return n >= 1024 * 1024 && n % (1024 * 1024) === 0
    ? `${String(n / (1024 * 1024))} MiB`
    : n >= 1024 && n % 1024 === 0
      ? `${String(n / 1024)} KiB`
      : `${String(n)} bytes`;
}

/**
 * A command printed more (stdout and stderr together) than one exec may keep: the transport
 * stopped reading, closed the channel (the command is killed) and kept nothing of it.
 */
export class OutputLimitError extends AppError {
  readonly limitBytes: number;
  constructor(options: Opts & { step: string; limitBytes: number }) {
    super(
      'E_OUTPUT_LIMIT',
      `${options.step} printed more than ${showBytes(options.limitBytes)} of output; kpfleet stopped it and kept none of it`,
      {
        hint: 'no command kpfleet runs prints that much on a healthy host: run it there by hand to see what it prints (a kpatch or shell profile that floods its output?)',
        ...options,
      },
    );
    this.limitBytes = options.limitBytes;
  }
}
