/**
 * The audit log: JSON lines appended by the CLI to a file nobody rewrites, written while the run
 * goes (docs/exit-codes.md, "Files kpfleet writes"): a `started` record for a host just before its
 * first change runs, and its end record (the host's outcome) as soon as the host ends; the hosts
 * that were not worked on (nothing to do, blocked, skipped) get their record when the run ends.
 * Pure: records from the apply's results. What goes in is what the report holds (host names,
 * changes, fingerprints, messages) and the facts the caller passes; never the environment, the
 * connection settings or anything secret.
 */
import type { ManagerName } from '../config-model.ts';
import type { Change, ChangeAction } from '../plan/model.ts';
import type { HostResult } from '../apply/events.ts';
import type { HostOutcome } from '../apply/outcomes.ts';
import type { ApplyReport } from './apply-report.ts';
import { jsonWithoutSecrets } from './safe-text.ts';
import { plural } from '../util/text.ts';

export interface AuditChange {
  /** `+ load kpatch_cve` */
  label: string;
  action: ChangeAction;
  ok: boolean;
  /** This step undid an earlier one. */
  rollback: boolean;
  /** The change as planned (or its inverse for a rollback step): module, sha256, package, … */
  change: Change;
  error?: string;
}

export interface AuditState {
  /** sha256 of the host's facts; null when they were not read. */
  fingerprint: string | null;
  /** The facts the caller passed for this host (`extra.hostFacts`), when it did. */
  facts?: unknown;
}

export interface AuditRecord {
  /** When the run started (ISO 8601): the records of one run share it. */
  time: string;
  /** Who ran it (`user@host`). */
  operator: string;
  /**
   * The commit of the git repository holding kpfleet.yml, `-dirty` when a file of the
   * configuration (kpfleet.yml, the inventory and its group_vars/host_vars, the patch files) is
   * not as committed; null when kpfleet.yml is not in git.
   */
  configCommit: string | null;
  /** The configuration's fingerprint (`sha256:…`), in git or not; null where not known. */
  configFingerprint: string | null;
  host: string;
  /** The host's manager and why, as its plan says (end records of hosts whose facts were read). */
  manager?: ManagerName;
  managerReason?: string;
  /** The host before the run: the fingerprint of the facts read under the lock. */
  before: AuditState;
  /** The steps run, in order (rollback steps included); empty when nothing was done. */
  changes: AuditChange[];
  /** The host at the end of its run; null in a `started` record. */
  after: AuditState;
  /**
   * How the host ended; `started` in the record written before the host's first change (its
   * end record follows it; a `started` record without one means kpfleet was killed while it
   * was changing that host, which keeps its lock).
   */
  result: AuditResult;
  message: string;
}

export type AuditResult = HostOutcome | 'started';

/** What every record of one run shares. */
export interface AuditRun {
  /** When the run started (ISO 8601). */
  time: string;
  operator: string;
  configCommit: string | null;
  configFingerprint: string | null;
}

export interface AuditExtra {
  /** Facts per host (as read before the run), recorded in `before.facts`. */
  hostFacts?: Map<string, unknown>;
}

/** The end record of one host: how it ended, and every step run on it. */
export function auditRecord(run: AuditRun, h: HostResult, facts?: unknown): AuditRecord {
  return {
    time: run.time,
    operator: run.operator,
    configCommit: run.configCommit,
    configFingerprint: run.configFingerprint,
    host: h.host,
    ...(h.manager !== undefined
      ? { manager: h.manager, managerReason: h.managerReason ?? '?' }
      : {}),
    before: {
      fingerprint: h.before ?? null,
      ...(facts !== undefined ? { facts } : {}),
    },
    changes: h.steps.map((s) => ({
      label: s.label,
      action: s.change.action,
      ok: s.ok,
      rollback: s.rollback === true,
      change: s.change,
      ...(s.error !== undefined ? { error: s.error } : {}),
    })),
    after: { fingerprint: h.after ?? null },
    result: h.outcome,
    message: h.message,
  };
}

/**
 * The record written just before a host's first change: the facts it was planned from (checked
 * again under its lock), no step yet, and the changes about to run, by label, in the message.
 */
export function auditStartedRecord(
  run: AuditRun,
  host: string,
  fingerprint: string | null,
  planned: readonly string[],
): AuditRecord {
  return {
    time: run.time,
    operator: run.operator,
    configCommit: run.configCommit,
    configFingerprint: run.configFingerprint,
    host,
    before: { fingerprint },
    changes: [],
    after: { fingerprint: null },
    result: 'started',
    message: `about to run ${plural(planned.length, 'change')} under this run's lock: ${planned.join('; ')}`,
  };
}

/** The run fields of a report's records. */
export function auditRunOf(report: ApplyReport): AuditRun {
  return {
    time: report.startedAt,
    operator: report.operator,
    configCommit: report.configCommit ?? null,
    configFingerprint: report.configFingerprint ?? null,
  };
}

/** One end record per host of the report, in the report's order. */
export function auditRecords(report: ApplyReport, extra: AuditExtra = {}): AuditRecord[] {
  const run = auditRunOf(report);
  return report.hosts.map((h) => auditRecord(run, h, extra.hostFacts?.get(h.host)));
}

/**
 * JSON Lines: one record a line, each line ending with a newline (so that appends never merge two
 * records); the empty string for no records. JSON.stringify escapes line breaks inside strings.
 */
export function auditLines(records: readonly AuditRecord[]): string {
  return records.map((r) => jsonWithoutSecrets(r) + '\n').join('');
}
