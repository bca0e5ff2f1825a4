/**
 * What apply reports while it runs: typed events, consumed by the renderers (`report/apply-*`:
 * listr2 on a terminal, plain lines in CI, the JSON report, the audit log). Apply never prints.
 */
import type { Change } from '../plan/model.ts';

/**
 * How a host ended:
 * - `changed`: every change done and verified, health check passed;
 * - `unchanged`: nothing to do (or `--check`: nothing would be done);
 * - `would-change`: `--check`, changes pending (nothing was done);
 * - `failed`: a step or its verification failed and the rollback succeeded (the host is as it
 *   was before the run);
 * - `rollback-failed`: a step failed and so did its rollback: the host needs a look (its state
 *   is in `after`);
 * - `unreachable`: no connection, authentication, or host key refused;
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
  | 'unchanged'
  | 'would-change'
  | 'failed'
  | 'rollback-failed'
  | 'unreachable'
  | 'locked'
  | 'stale'
  | 'blocked'
  | 'interrupted'
  | 'skipped';

/** Outcomes that count against `rollout.max_failures` (a host that was meant to change and did not). */
export const FAILURE_OUTCOMES: ReadonlySet<HostOutcome> = new Set<HostOutcome>([
  'failed',
  'rollback-failed',
  'unreachable',
  'locked',
  'stale',
]);

export interface StepRecord {
  /** The change, as planned (for a rollback step: the inverse change). */
  change: Change;
  /** `+ load livepatch_x` as the operator reads it. */
  label: string;
  ok: boolean;
  durationMs: number;
  /** What the host said, trimmed (a failed step keeps the tail of stdout/stderr). */
  output?: string;
  /** Why it failed: the command's error, or what verification found. */
  error?: string;
  rollback?: boolean;
}

export interface HostResult {
  host: string;
  wave: number;
  outcome: HostOutcome;
  /** One sentence: why this outcome. */
  message: string;
  /** Fingerprint of the facts before (read under the lock) and after the run. */
  before?: string;
  after?: string;
  steps: StepRecord[];
  error?: { code: string; message: string; step?: string; hint?: string };
  durationMs: number;
}

export type ApplyEvent =
  | { type: 'run-start'; hosts: number; waves: number[]; check: boolean; forks: number }
  | { type: 'wave-start'; wave: number; hosts: string[] }
  | { type: 'host-start'; host: string; wave: number }
  | {
      type: 'host-phase';
      host: string;
      phase: 'connect' | 'lock' | 'facts' | 'health' | 'rollback' | 'unlock';
    }
  | {
      type: 'step-start';
      host: string;
      index: number;
      total: number;
      label: string;
      rollback: boolean;
    }
  | { type: 'step-end'; host: string; index: number; step: StepRecord }
  | { type: 'host-end'; result: HostResult }
  | { type: 'wave-end'; wave: number; failed: number; attempted: number; halted: boolean }
  | {
      type: 'run-end';
      results: HostResult[];
      halted: boolean;
      interrupted: boolean;
      durationMs: number;
    };
