/**
 * What apply reports while it runs: typed events, consumed by the renderers (`report/apply-*`:
 * listr2 on a terminal, plain lines in CI, the JSON report, the audit log). Apply never prints.
 */
import type { ManagerName } from '../config-model.ts';
import type { ErrorInfo } from '../errors.ts';
import type { UncoveredHost } from '../plan/coverage.ts';
import type { Change } from '../plan/model.ts';
import type { HostOutcome } from './outcomes.ts';

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
  /** How it ended (`outcomes.ts`). */
  outcome: HostOutcome;
  /** One sentence: why this outcome. */
  message: string;
  /** The host's manager and why, as its plan says (absent where its facts were not read). */
  manager?: ManagerName;
  managerReason?: string;
  /** Fingerprint of the facts before (read under the lock) and after the run. */
  before?: string;
  after?: string;
  steps: StepRecord[];
  error?: ErrorInfo;
  durationMs: number;
}

export type ApplyEvent =
  | {
      type: 'run-start';
      hosts: number;
      waves: number[];
      check: boolean;
      forks: number;
      /** `apply --wave K`: this run is wave K (`wave`) of the whole plan's `of` waves. */
      onlyWave?: { wave: number; of: number };
    }
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
      /** Hosts of the plan no declared patch covers (`plan/coverage.ts`): exposed, whatever happened. */
      uncovered?: UncoveredHost[];
    };
