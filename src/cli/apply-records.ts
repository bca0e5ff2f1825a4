/**
 * What `kpfleet apply` leaves on the operator's machine: the audit log (append-only JSONL) and
 * the `--report` file (docs/exit-codes.md, "Files kpfleet writes"). Both destinations are checked
 * before any host is contacted, and must be two files, neither the saved plan applied; after the run the audit records are appended first and fsynced,
 * then the report is written. A write that fails is an error on stderr and exit 74, never a
 * warning: an audit log that could not be written gets the records on stderr instead.
 */
import { userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { AppError, ExitCode } from '../errors.ts';
import type { ApplyReport } from '../report/apply-report.ts';
import { applyReportJson } from '../report/apply-report.ts';
import { auditLines, auditRecords } from '../report/audit.ts';
import { styleFor } from '../report/style.ts';
import type { CliIo } from './io.ts';
import type { OutputTarget } from './output-files.ts';
import {
  appendDurably,
  preflightAppend,
  preflightReplace,
  writeFileAtomic,
} from './output-files.ts';
import type { RunFile } from './same-file.ts';
import { refuseSameFiles } from './same-file.ts';

export interface ApplyRecordTargets {
  report?: OutputTarget;
  /** Absent for `--check`, which changes nothing and records nothing. */
  audit?: OutputTarget;
}

/** `$XDG_STATE_HOME/kpfleet/audit.jsonl`, `~/.local/state` when it is unset or not absolute. */
export function defaultAuditLog(env: CliIo['env']): string {
  const xdg = env.XDG_STATE_HOME;
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : userInfo().homedir;
  const state = xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.local', 'state');
  return join(state, 'kpfleet', 'audit.jsonl');
}

/**
 * Checks `--report` and the audit log before anything else happens (exit 64 if unusable), and
 * that no two of them and the saved plan are one file. Under `--check` the audit log is not
 * checked (nothing is recorded there) but the report may still not replace it.
 */
export function preflightApplyRecords(
  opts: { report?: string; auditLog?: string; check?: boolean },
  io: CliIo,
  planFile?: string,
): ApplyRecordTargets {
  const targets: ApplyRecordTargets = {};
  const explicit = opts.auditLog !== undefined;
  const auditPath = explicit ? resolve(io.cwd, opts.auditLog ?? '') : defaultAuditLog(io.env);
  const files: RunFile[] = [];
  if (planFile !== undefined)
    files.push({ label: `the plan file ${planFile}`, path: resolve(io.cwd, planFile) });
  if (opts.check !== true) {
    const label = `the audit log ${auditPath}`;
    targets.audit = preflightAppend(auditPath, label, { createFolder: !explicit });
    files.push(targets.audit);
  } else {
    files.push({ label: `the audit log ${auditPath}`, path: auditPath });
  }
  if (opts.report !== undefined) {
    targets.report = preflightReplace(resolve(io.cwd, opts.report), `--report ${opts.report}`);
    files.push(targets.report);
  }
  refuseSameFiles(files);
  return targets;
}

function printError(io: CliIo, err: unknown): void {
  const style = styleFor(io.stderr, io.env);
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`${style.red('error')}: ${message}\n`);
  if (err instanceof AppError && err.hint !== undefined)
    io.stderr.write(`  ${style.cyan('hint')}: ${err.hint}\n`);
}

/**
 * Appends the run's audit records (when `audit`), then writes the report. Returns false if
 * either could not be written (each failure already printed).
 */
export function writeApplyRecords(
  report: ApplyReport,
  targets: ApplyRecordTargets,
  io: CliIo,
  audit: boolean,
): boolean {
  let ok = true;
  if (audit && targets.audit !== undefined) {
    const lines = auditLines(auditRecords(report, {}));
    try {
      if (lines !== '') appendDurably(targets.audit, lines);
    } catch (err) {
      ok = false;
      printError(io, err);
      io.stderr.write(
        `The audit records of this run, which are NOT in ${targets.audit.path}, one JSON line per host:\n${lines}`,
      );
    }
  }
  if (targets.report !== undefined) {
    try {
      writeFileAtomic(targets.report, applyReportJson(report));
    } catch (err) {
      ok = false;
      printError(io, err);
    }
  }
  return ok;
}

/** A record that could not be written makes the run exit 74, unless it was interrupted (130). */
export function withRecordsExitCode(code: number, recordsWritten: boolean): number {
  if (recordsWritten || code === ExitCode.interrupted) return code;
  return ExitCode.ioError;
}
