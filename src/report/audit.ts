/**
 * The audit log: one JSON line per host per apply, appended by the CLI to a file nobody rewrites.
 * Pure: records from the report. What goes in is what the report holds (host names, changes,
 * fingerprints, messages) and the facts the caller passes; never the environment, the connection
 * settings or anything secret.
 */
import type { Change, ChangeAction } from '../plan/model.ts';
import type { HostOutcome } from '../apply/events.ts';
import type { ApplyReport } from './apply-report.ts';

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
  /** The git commit of the configuration; null when the project is not in git. */
  configCommit: string | null;
  host: string;
  /** The host before the run: the fingerprint of the facts read under the lock. */
  before: AuditState;
  /** The steps run, in order (rollback steps included); empty when nothing was done. */
  changes: AuditChange[];
  /** The host at the end of its run. */
  after: AuditState;
  result: HostOutcome;
  message: string;
}

export interface AuditExtra {
  /** Facts per host (as read before the run), recorded in `before.facts`. */
  hostFacts?: Map<string, unknown>;
}

/** One record per host of the report, in the report's order. */
export function auditRecords(report: ApplyReport, extra: AuditExtra = {}): AuditRecord[] {
  return report.hosts.map((h) => {
    const facts = extra.hostFacts?.get(h.host);
    return {
      time: report.startedAt,
      operator: report.operator,
      configCommit: report.configCommit ?? null,
      host: h.host,
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
  });
}

/**
 * JSON Lines: one record a line, each line ending with a newline (so that appends never merge two
 * records); the empty string for no records. JSON.stringify escapes line breaks inside strings.
 */
export function auditLines(records: readonly AuditRecord[]): string {
  return records.map((r) => JSON.stringify(r) + '\n').join('');
}
