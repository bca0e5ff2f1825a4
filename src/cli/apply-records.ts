/**
 * What `kpfleet apply` leaves on the operator's machine: the audit log (append-only JSONL) and
 * the `--report` file (docs/exit-codes.md, "Files kpfleet writes"). Both destinations are checked
 * before any host is contacted, and must be two files, neither the saved plan applied. The audit
 * log is written while the run goes (`createAuditLog`): a host's `started` record is appended and
 * fsynced before its first change runs, its end record appended as soon as it ends and fsynced
 * before the host's end is shown (the fsyncs of records written at once shared: a group commit),
 * so that a kpfleet killed (SIGKILL, out of memory) leaves every host it finished, and the one it
 * was changing, in the file; the report is written at the end. A write that fails is an error on stderr and exit 74,
 * never a warning: records the audit log could not take go to stderr instead, and the run stops
 * as on Ctrl-C (`onFail`, commands/apply.ts): no host is changed without a durable record.
 */
import { userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { ApplyEvent, HostResult } from '../apply/events.ts';
import { AppError, ExitCode, OutputFileError } from '../errors.ts';
import type { ApplyReport } from '../report/apply-report.ts';
import { applyReportJson } from '../report/apply-report.ts';
import type { AuditRecord, AuditRun } from '../report/audit.ts';
import { auditLines, auditRecord, auditStartedRecord } from '../report/audit.ts';
import { styleFor } from '../report/style.ts';
import type { CliIo } from './io.ts';
import type { FsyncOps, OutputTarget } from './output-files.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { DurableAppender, preflightAppend, preflightReplace } from './output-files.ts';
import type { RunFile } from './same-file.ts';
import { refuseSameFiles } from './same-file.ts';
import { exitDespitePendingIo } from './signals.ts';

/**
 * How long a wait for the audit log's fsync may take (ms) before the log counts as failed, as a
 * failed fsync does: an fsync that never returns (a dead NFS server, a hung disk) would otherwise
 * hold every host's next step, and the end of the run, forever. A healthy disk answers in
 * milliseconds; a busy one in seconds.
 */
export const AUDIT_FSYNC_WAIT_MS = 60_000;

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

/** A host of the plan as its `started` record names it. */
export interface PlannedHost {
  /** The fingerprint of the facts it was planned from (checked again under its lock). */
  fingerprint: string | null;
  /** The labels of its changes, in order. */
  changes: string[];
}

export interface AuditLog {
  /**
   * Called with each apply event, before the renderers: appends the records it calls for. Each
   * record is written when it returns (a kpfleet killed afterwards leaves it in the file), and on
   * disk once `durable` resolves.
   */
  onEvent(e: ApplyEvent): void;
  /**
   * Resolves once every record appended so far is on disk (apply waits for it before a step's
   * commands are sent, the renderers before they show a host's end). Never rejects: a failed
   * fsync, or one that has not returned after AUDIT_FSYNC_WAIT_MS, is handled as a failed append.
   */
  durable(): Promise<void>;
  /**
   * After the run: the records of the hosts that did not end during it (not worked on), on disk
   * (or the log failed) when it resolves; never rejects.
   */
  finish(results: readonly HostResult[]): Promise<void>;
  /**
   * The end record of each host that started and has not ended, with `message` (kpfleet stops
   * without waiting for them: a crash whose steps did not end in time), written when it returns;
   * resolves once on disk (or the log failed), never rejects. Its fsync runs off the main thread
   * as every other: kpfleet exits at a bound whether it returned or not (signals.ts), where an
   * fsync on the main thread that never returns would hold the process, its exit included.
   */
  abandon(message: string): Promise<void>;
  /** Every record reached the audit log. */
  readonly ok: boolean;
}

/**
 * The audit log of one run, written as it goes: a host's `started` record at its first change
 * (not a rollback step), its end record at `host-end`. Each is written at once and fsynced by
 * `durable` (a group commit): a step awaits it before it sends anything, and the renderers before
 * they show a host's end (`commands/apply.ts`). The records of `finish` and `abandon` are fsynced
 * (the same bounded wait) before they resolve. After a failed append or fsync (or one still not
 * returned after `fsyncWaitMs`, AUDIT_FSYNC_WAIT_MS) every later record of the run goes to
 * stderr, after the error, a line saying so and the records the failed fsync may not have kept;
 * then `onFail` is called, once: `apply` stops its run there as on Ctrl-C (no change is started
 * that no durable record names).
 */
export function createAuditLog(
  target: OutputTarget,
  run: AuditRun,
  planned: ReadonlyMap<string, PlannedHost>,
  io: CliIo,
  /** The fsyncs of the log (a test's, to make them fail). */
  fsyncs?: FsyncOps,
  /** How long a `durable` waits for an fsync before the log counts as failed (a test's: short). */
  fsyncWaitMs: number = AUDIT_FSYNC_WAIT_MS,
  /** Called once, after the first failure was said (its error). */
  onFail?: (err: unknown) => void,
): AuditLog {
  const started = new Set<string>();
  const ended = new Set<string>();
  const file = new DurableAppender(target, fsyncs);
  let failed = false;
  /** Resolves when the log fails: every wait under way ends then (not each at its own bound). */
  let onFailed: () => void = () => undefined;
  const failedNow = new Promise<void>((resolve) => (onFailed = resolve));
  /** The first failure: the error, then from here on everything to stderr (later ones: nothing). */
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    onFailed();
    try {
      printError(io, err);
      io.stderr.write(
        `The audit records of this run from here on, not known to be in ${target.path}, one JSON line each:\n`,
      );
      io.stderr.write(file.unsynced());
    } catch {
      // stderr is gone too (a hung-up terminal): nothing is left to write them to
    }
    onFail?.(err);
  };
  const append = (records: readonly AuditRecord[]): void => {
    const lines = auditLines(records);
    if (lines === '') return;
    if (!failed) {
      try {
        file.append(lines);
        return;
      } catch (err) {
        fail(err);
      }
    }
    try {
      io.stderr.write(lines);
    } catch {
      // stderr is gone too (a hung-up terminal): nothing is left to write them to
    }
  };
  /** Every record so far on disk, or the log failed (an fsync failed or hung): never rejects. */
  const durable = async (): Promise<void> => {
    if (failed) return;
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<void>((_, reject) => {
      timer = setTimeout(() => {
        // an fsync that never returns holds its request open: the process may exit without it
        exitDespitePendingIo();
        reject(
          new OutputFileError(
            `records were not on disk ${String(fsyncWaitMs / 1000)} s after they were written (an fsync hung: a hung disk or network file system) while writing ${target.label}`,
            target.path,
            { hint: 'put the audit log on a local disk (--audit-log FILE)' },
          ),
        );
      }, fsyncWaitMs);
    });
    try {
      await Promise.race([file.durable(), hung, failedNow]);
    } catch (err) {
      // hosts waiting at once all see the one failed fsync: said once
      fail(err);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    onEvent(e) {
      if (e.type === 'step-start' && !e.rollback && !started.has(e.host)) {
        started.add(e.host);
        const p = planned.get(e.host);
        append([auditStartedRecord(run, e.host, p?.fingerprint ?? null, p?.changes ?? [])]);
      } else if (e.type === 'host-end') {
        ended.add(e.result.host);
        append([auditRecord(run, e.result)]);
      }
    },
    durable,
    async finish(results) {
      append(results.filter((r) => !ended.has(r.host)).map((r) => auditRecord(run, r)));
      // these and every record before them on disk before the run ends (off the main thread and
      // bounded: a hung disk must not hold the end of the run)
      await durable();
      file.close();
    },
    abandon(message) {
      const open = [...started].filter((h) => !ended.has(h));
      for (const h of open) ended.add(h);
      append(
        open.map((host) =>
          auditRecord(run, { host, wave: 0, outcome: 'failed', message, steps: [], durationMs: 0 }),
        ),
      );
      return durable();
    },
    get ok() {
      return !failed;
    },
  };
}

/** Writes the report, if asked for. Returns false if it could not be written (error printed). */
export function writeApplyReport(
  report: ApplyReport,
  targets: ApplyRecordTargets,
  io: CliIo,
): boolean {
  if (targets.report === undefined) return true;
  try {
    writeFileAtomic(targets.report, applyReportJson(report));
    return true;
  } catch (err) {
    printError(io, err);
    return false;
  }
}

/** A record that could not be written makes the run exit 74, unless it was interrupted (130). */
export function withRecordsExitCode(code: number, recordsWritten: boolean): number {
  if (recordsWritten || code === ExitCode.interrupted) return code;
  return ExitCode.ioError;
}

/**
 * The events of a run, each seen first by the audit log (if any) and then passed to `show` (the
 * renderers), a host's end only once its end record is on disk: from a `host-end` on, the events
 * for `show` wait, in order, for the audit log's fsync (one for every record written meanwhile:
 * the engine itself does not wait). `settled` resolves once every event was shown.
 */
export function afterRecords(
  audit: AuditLog | undefined,
  show: (e: ApplyEvent) => void,
): { onEvent: (e: ApplyEvent) => void; settled: () => Promise<void> } {
  const waiting: ApplyEvent[] = [];
  let showing: Promise<void> | undefined;
  const showWaiting = async (log: AuditLog): Promise<void> => {
    for (let e = waiting.shift(); e !== undefined; e = waiting.shift()) {
      if (e.type === 'host-end') await log.durable();
      show(e);
    }
    showing = undefined;
  };
  return {
    onEvent(e) {
      audit?.onEvent(e);
      if (audit === undefined || (showing === undefined && e.type !== 'host-end')) {
        show(e);
        return;
      }
      waiting.push(e);
      showing ??= showWaiting(audit);
    },
    settled: async () => {
      await showing;
    },
  };
}
