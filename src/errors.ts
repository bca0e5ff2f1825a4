/**
 * Typed errors. Every expected failure is an AppError with a stable code from ERROR_CODES (the one
 * registry: code → exit code and meaning, listed in docs/exit-codes.md), a hint and, where it
 * applies, the host and step. Only `cli/` turns them into an exit code.
 */
import type { Diagnostic } from './diagnostics.ts';

/** Exit codes: the contract in docs/exit-codes.md. Set by `cli/` alone. */
export const ExitCode = {
  ok: 0,
  changeFailed: 1,
  changesPending: 2,
  invalidConfig: 3,
  unreachable: 4,
  usage: 64,
  internal: 70,
  ioError: 74,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Every error code kpfleet raises, with the exit code it leads to and what it means. An AppError
 * takes its exit code from here; docs/exit-codes.md lists each code (test/unit/error-codes.test.ts
 * checks that the source, this registry and that document agree).
 */
export const ERROR_CODES = {
  E_CONFIG: { exit: ExitCode.invalidConfig, meaning: 'the configuration is invalid' },
  E_SSH_CONFIG: {
    exit: ExitCode.invalidConfig,
    meaning: '`ssh -G` refused the OpenSSH configuration',
  },
  E_SSH_CLIENT_MISSING: {
    exit: ExitCode.invalidConfig,
    meaning: 'no OpenSSH client to read ~/.ssh/config with',
  },
  E_USAGE: { exit: ExitCode.usage, meaning: 'bad command line' },
  E_PLAN_REFUSED: { exit: ExitCode.usage, meaning: 'a saved plan kpfleet will not apply' },
  E_UNREACHABLE: { exit: ExitCode.unreachable, meaning: 'the host could not be reached' },
  E_AUTH: { exit: ExitCode.unreachable, meaning: 'the host refused every way to log in' },
  E_HOST_KEY: { exit: ExitCode.unreachable, meaning: "the host's key was not accepted" },
  E_SUDO_PASSWORD: { exit: ExitCode.unreachable, meaning: 'sudo wants a password on the host' },
  E_CONNECTION_LOST: {
    exit: ExitCode.unreachable,
    meaning: 'the connection died during a command',
  },
  E_TIMEOUT: { exit: ExitCode.changeFailed, meaning: 'a command ran longer than allowed' },
  E_UPLOAD: { exit: ExitCode.changeFailed, meaning: 'an upload failed or arrived damaged' },
  E_OUTPUT_LIMIT: { exit: ExitCode.changeFailed, meaning: 'a command printed more than 8 MiB' },
  E_FACTS: {
    exit: ExitCode.changeFailed,
    meaning: "the host's facts do not have the probe's shape",
  },
  E_FACTS_FIELD: {
    exit: ExitCode.changeFailed,
    meaning: "a name or value in the host's facts is refused",
  },
  E_LOCK: {
    exit: ExitCode.changeFailed,
    meaning: "the host's lock could not be taken, read or ended",
  },
  E_STAGING: { exit: ExitCode.changeFailed, meaning: 'the staging folder could not be made' },
  E_STASH: {
    exit: ExitCode.changeFailed,
    meaning: 'no copy of a module could be kept before its uninstall',
  },
  E_PATCH_CHANGED: {
    exit: ExitCode.changeFailed,
    meaning: 'a patch file changed since it was checked',
  },
  E_PATCH_UNDECLARED: {
    exit: ExitCode.changeFailed,
    meaning: 'a plan uploads a file kpfleet.yml does not declare',
  },
  E_CLEAR_SUSPECT: {
    exit: ExitCode.changeFailed,
    meaning: "a crash guard's record could not be removed",
  },
  E_OUTPUT_FILE: { exit: ExitCode.ioError, meaning: 'a file kpfleet writes could not be written' },
  E_UNSAFE_ARGUMENT: {
    exit: ExitCode.internal,
    meaning: 'a bug: a value no remote command may carry',
  },
  E_INTERNAL: { exit: ExitCode.internal, meaning: 'a bug in kpfleet' },
} as const satisfies Record<string, { exit: ExitCode; meaning: string }>;
export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  hint?: string;
  host?: string;
  step?: string;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly host: string | undefined;
  readonly step: string | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
    this.hint = options.hint;
    this.host = options.host;
    this.step = options.step;
  }
}

/** The configuration (kpfleet.yml, the inventory, a patch file) is invalid. Nothing was contacted. */
export class ConfigError extends AppError {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[], options: AppErrorOptions = {}) {
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    super(
      'E_CONFIG',
      `configuration is invalid: ${errors} error${errors === 1 ? '' : 's'}`,
      options,
    );
    this.diagnostics = diagnostics;
  }
}

/** Bad command-line usage: an unknown option, a malformed --limit, a missing file argument. */
export class UsageError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('E_USAGE', message, options);
  }
}

/**
 * A local file kpfleet writes (`plan --out`, `apply --report`, the audit log) could not be
 * written once the work was done: out of space, an I/O error. A destination that is unusable from
 * the start is a UsageError, found before any host is contacted (docs/exit-codes.md).
 */
export class OutputFileError extends AppError {
  readonly path: string;
  constructor(message: string, path: string, options: AppErrorOptions = {}) {
    super('E_OUTPUT_FILE', message, options);
    this.path = path;
  }
}

/**
 * kpfleet tried to build a remote command from a value no shell word may carry (a NUL byte), or
 * from a name that failed its validator (a module name, a kernel release, a remote path, an RPM
 * name). Reaching the shell with such a value is a bug: config validation should have stopped it.
 */
export class UnsafeArgumentError extends AppError {
  /** What the value was meant to be: `module name`, `remote path`, `shell argument`, … */
  readonly field: string;
  readonly value: string;
  constructor(field: string, value: string, reason: string, options: AppErrorOptions = {}) {
    super(
      'E_UNSAFE_ARGUMENT',
      `refusing to pass ${field} ${showUnsafe(value)} to a shell: ${reason}`,
      options,
    );
    this.field = field;
    this.value = value;
  }
}

/** JSON escapes (control characters, quotes, lone surrogates), long values cut in the middle. */
function showUnsafe(value: string): string {
  const max = 160;
  const shown = value.length > max ? `${value.slice(0, 100)}…${value.slice(-40)}` : value;
  return JSON.stringify(shown);
}

/**
 * OpenSSH's client (`ssh`) could not be run, so `~/.ssh/config` cannot be read as OpenSSH reads
 * it (kpfleet asks `ssh -G`). Nothing was contacted.
 */
export class SshClientMissingError extends AppError {
  readonly binary: string;
  constructor(binary: string, options: AppErrorOptions = {}) {
    super(
      'E_SSH_CLIENT_MISSING',
      `cannot run ${JSON.stringify(binary)}: OpenSSH's client is needed to read ~/.ssh/config (kpfleet asks \`ssh -G\`)`,
      {
        hint: 'install the OpenSSH client (Debian/Ubuntu: openssh-client, RHEL: openssh-clients), or set `connection.ssh_config: false` in kpfleet.yml to use only the inventory settings',
        ...options,
      },
    );
    this.binary = binary;
  }
}

/**
 * `ssh -G` refused the OpenSSH configuration (a bad option, an unreadable `-F` file, a bad host
 * name) or did not answer. `file` and `line` are where ssh says the problem is, when it says.
 */
export class SshConfigError extends AppError {
  readonly stderr: string;
  readonly file: string | undefined;
  readonly line: number | undefined;
  constructor(
    message: string,
    details: { stderr: string; file?: string | undefined; line?: number | undefined },
    options: AppErrorOptions = {},
  ) {
    super('E_SSH_CONFIG', message, options);
    this.stderr = details.stderr;
    this.file = details.file;
    this.line = details.line;
  }
}

/** An error as a host's result carries it (plan, apply report): code, message, step, hint. */
export interface ErrorInfo {
  code: string;
  message: string;
  step?: string;
  hint?: string;
}

export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof AppError) {
    return {
      code: err.code,
      message: err.message,
      ...(err.step !== undefined ? { step: err.step } : {}),
      ...(err.hint !== undefined ? { hint: err.hint } : {}),
    };
  }
  return { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
