/**
 * How a host can end an apply, and what each ending means wherever it is counted or shown: one
 * table, read by apply (`rollout.max_failures`), the renderers (word, mark, tone, how a progress
 * display ends the host), the JSON report (the order of its counts; schemas/report.schema.json
 * lists the same outcomes in the same order, which a test checks) and the CLI (the exit code the
 * outcome implies, docs/exit-codes.md; only the CLI sets it).
 */
import { ExitCode } from '../errors.ts';

/**
 * How a host ended:
 * - `changed`: every change done and verified, health check passed;
 * - `would-change`: `--check`, changes pending (nothing was done);
 * - `unchanged`: nothing to do (or `--check`: nothing would be done);
 * - `failed`: a step or its verification failed and the rollback succeeded (the host is as it
 *   was before the run);
 * - `rollback-failed`: a step failed and so did its rollback: the host needs a look (its state
 *   is in `after`);
 * - `unreachable`: no connection, authentication, or host key refused; or the connection was
 *   lost during a rollback and again after one reconnect (its message says how far it went);
 * - `locked`: another run holds the host's lock;
 * - `stale`: the host's facts changed since the plan was made; nothing was done;
 * - `blocked`: the plan says this host cannot be changed (transition in progress, …);
 * - `interrupted`: Ctrl-C, SIGTERM or SIGHUP came while this host was being changed: the step
 *   in flight finished, no other started; every step done was verified, so the host is in a
 *   known state, and running apply again converges it;
 * - `skipped`: not started: an earlier wave failed too much (max_failures) or the run was
 *   interrupted before this host's turn.
 */
export type HostOutcome =
  | 'changed'
  | 'would-change'
  | 'unchanged'
  | 'failed'
  | 'rollback-failed'
  | 'unreachable'
  | 'locked'
  | 'stale'
  | 'blocked'
  | 'interrupted'
  | 'skipped';

/** How a terminal colours an outcome (`report/apply-text.ts` maps each to a colour). */
export type OutcomeTone = 'good' | 'quiet' | 'warning' | 'bad' | 'severe';

export interface OutcomeRow {
  /** How summaries name it: `3 would change`, `rollback-failed: web02`. */
  word: string;
  /** The plain renderer's mark before a host's last line. */
  mark: string;
  tone: OutcomeTone;
  /**
   * How a progress display ends the host: `done` (it did what was asked, or had nothing to do:
   * no error code or hint shown), `failed` (a cross), `skipped` (not attempted, for a reason).
   */
  ends: 'done' | 'failed' | 'skipped';
  /** Counts against `rollout.max_failures`, and in a wave's failed count: a host in a wave that was meant to change and did not. */
  failure: boolean;
  /** The exit code of an apply where a host ended so (the CLI takes the most severe). */
  exitCode: ExitCode;
}

/** Every outcome, in the order summaries and the report list them: done, went wrong, not attempted. */
export const OUTCOMES: Readonly<Record<HostOutcome, OutcomeRow>> = {
  changed: row('changed', '✓', 'good', 'done', false, ExitCode.ok),
  'would-change': row('would change', '~', 'warning', 'done', false, ExitCode.ok),
  unchanged: row('unchanged', '·', 'quiet', 'done', false, ExitCode.ok),
  failed: row('failed', '✖', 'bad', 'failed', true, ExitCode.changeFailed),
  'rollback-failed': row('ROLLBACK FAILED', '✖', 'severe', 'failed', true, ExitCode.changeFailed),
  unreachable: row('unreachable', '✖', 'bad', 'failed', true, ExitCode.unreachable),
  locked: row('locked', '!', 'warning', 'skipped', true, ExitCode.changeFailed),
  stale: row('stale', '!', 'warning', 'skipped', true, ExitCode.changeFailed),
  // never in a wave (the plan blocked it), so never counted against max_failures
  blocked: row('blocked', '!', 'warning', 'skipped', false, ExitCode.changeFailed),
  // only in an interrupted run, which stops anyway (and exits 130)
  interrupted: row('interrupted', '!', 'bad', 'failed', false, ExitCode.changeFailed),
  // only after a halt (exit 1) or an interruption (130)
  skipped: row('skipped', '-', 'quiet', 'skipped', false, ExitCode.ok),
};

function row(
  word: string,
  mark: string,
  tone: OutcomeTone,
  ends: OutcomeRow['ends'],
  failure: boolean,
  exitCode: ExitCode,
): OutcomeRow {
  return { word, mark, tone, ends, failure, exitCode };
}

/** Every outcome, in the table's order. */
export const HOST_OUTCOMES: readonly HostOutcome[] = Object.keys(OUTCOMES) as HostOutcome[];

/** Outcomes that count against `rollout.max_failures`. */
export const FAILURE_OUTCOMES: ReadonlySet<HostOutcome> = new Set(
  HOST_OUTCOMES.filter((o) => OUTCOMES[o].failure),
);

/** Whether the host did what was asked, or had nothing to do. */
export const isSuccess = (o: HostOutcome): boolean => OUTCOMES[o].ends === 'done';

/** Whether the run's summary names the host: its outcome alone makes the apply exit non-zero. */
export const needsALook = (o: HostOutcome): boolean => OUTCOMES[o].exitCode !== ExitCode.ok;

export type OutcomeCounts = Record<HostOutcome, number>;

/** A zero count for every outcome. */
export function emptyOutcomeCounts(): OutcomeCounts {
  return Object.fromEntries(HOST_OUTCOMES.map((o) => [o, 0])) as OutcomeCounts;
}

export function countOutcomes(results: readonly { outcome: HostOutcome }[]): OutcomeCounts {
  const counts = emptyOutcomeCounts();
  for (const r of results) counts[r.outcome] += 1;
  return counts;
}
