/**
 * Typed errors. Every expected failure is an AppError with a stable code, a hint and, where it
 * applies, the host and step. Only `cli/` turns them into an exit code (see docs/exit-codes.md).
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
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface AppErrorOptions {
  hint?: string;
  host?: string;
  step?: string;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly host: string | undefined;
  readonly step: string | undefined;

  constructor(code: string, exitCode: ExitCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
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
      ExitCode.invalidConfig,
      `configuration is invalid: ${errors} error${errors === 1 ? '' : 's'}`,
      options,
    );
    this.diagnostics = diagnostics;
  }
}

/** Bad command-line usage: an unknown option, a malformed --limit, a missing file argument. */
export class UsageError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('E_USAGE', ExitCode.usage, message, options);
  }
}

/** A bug in kpfleet. The CLI prints how to report it. */
export class InternalError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('E_INTERNAL', ExitCode.internal, message, options);
  }
}
