/**
 * `kpfleet apply --report FILE`: what an apply did, host by host, as versioned JSON
 * (schemas/report.schema.json). Pure: the CLI gathers the inputs (time, operator, git commit) and
 * writes the file.
 */
import type { HostResult, StepRecord } from '../apply/events.ts';
import { countOutcomes } from '../apply/outcomes.ts';
import type { OutcomeCounts } from '../apply/outcomes.ts';
import { jsonWithoutSecrets } from './safe-text.ts';

export const APPLY_REPORT_FORMAT = 'kpfleet-apply-report';
export const APPLY_REPORT_VERSION = 1;

export interface ApplyReportSummary {
  /** Hosts in the report (every host of the plan, changed or not). */
  hosts: number;
  /** Hosts per outcome; every outcome is present, 0 when none. */
  outcomes: OutcomeCounts;
  /** Steps run, over every host (rollback steps included), and how many of them failed. */
  steps: number;
  failedSteps: number;
  rollbackSteps: number;
}

/** A shard as a report records it (`inventory/shard.ts`'s Shard): shard `index` of `count`, 1-based. */
export interface ReportShard {
  index: number;
  count: number;
}

export interface ApplyReport {
  format: typeof APPLY_REPORT_FORMAT;
  version: typeof APPLY_REPORT_VERSION;
  /** ISO time the run started. */
  startedAt: string;
  durationMs: number;
  /** `--check`: nothing was changed. */
  check: boolean;
  /** A wave failed more than `max_failures` allows: no further wave started. */
  halted: boolean;
  /** Ctrl-C, SIGTERM or SIGHUP came during the run. */
  interrupted: boolean;
  kpfleetVersion: string;
  /** The project file, as named on the command line. */
  config: string;
  /**
   * The commit of the git repository holding kpfleet.yml, `-dirty` when a file of the
   * configuration is not as committed (`cli/config-identity.ts`); absent outside git.
   */
  configCommit?: string;
  /** The configuration's fingerprint (`sha256:…`, the plan's `configFingerprint`). */
  configFingerprint?: string;
  /** Who ran it (`user@host`). */
  operator: string;
  /** The saved plan applied, when apply was given one. */
  planFile?: string;
  /** The sha256 of the saved plan's bytes (`sha256:…`): the gate takes only reports of its plan. */
  planSha256?: string;
  /** `apply --wave K`: the one wave of the plan this run executed; never `halted` (the gate is `report merge`). */
  wave?: number;
  /** `--shard I/N`: the shard of the hosts this run worked on. */
  shard?: ReportShard;
  summary: ApplyReportSummary;
  hosts: HostResult[];
}

export interface ApplyReportInput {
  results: readonly HostResult[];
  halted: boolean;
  interrupted: boolean;
  check: boolean;
  startedAt: string;
  durationMs: number;
  config: string;
  configCommit?: string;
  configFingerprint?: string;
  operator: string;
  kpfleetVersion: string;
  planFile?: string;
  planSha256?: string;
  wave?: number;
  shard?: ReportShard;
}

/** Only the fields the schema knows, so that an extra property at run time never invalidates it. */
function stepOf(s: StepRecord): StepRecord {
  return {
    change: s.change,
    label: s.label,
    ok: s.ok,
    durationMs: roundMs(s.durationMs),
    ...(s.output !== undefined ? { output: s.output } : {}),
    ...(s.error !== undefined ? { error: s.error } : {}),
    ...(s.rollback !== undefined ? { rollback: s.rollback } : {}),
  };
}

function hostOf(r: HostResult): HostResult {
  return {
    host: r.host,
    wave: r.wave,
    outcome: r.outcome,
    message: r.message,
    ...(r.manager !== undefined
      ? { manager: r.manager, managerReason: r.managerReason ?? '?' }
      : {}),
    ...(r.before !== undefined ? { before: r.before } : {}),
    ...(r.after !== undefined ? { after: r.after } : {}),
    steps: r.steps.map(stepOf),
    ...(r.error !== undefined
      ? {
          error: {
            code: r.error.code,
            message: r.error.message,
            ...(r.error.step !== undefined ? { step: r.error.step } : {}),
            ...(r.error.hint !== undefined ? { hint: r.error.hint } : {}),
          },
        }
      : {}),
    durationMs: roundMs(r.durationMs),
  };
}

/** Whole milliseconds (performance.now() differences carry fractions nobody reads). */
function roundMs(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : 0;
}

export function buildApplyReport(input: ApplyReportInput): ApplyReport {
  const hosts = input.results.map(hostOf);
  return {
    format: APPLY_REPORT_FORMAT,
    version: APPLY_REPORT_VERSION,
    startedAt: input.startedAt,
    durationMs: roundMs(input.durationMs),
    check: input.check,
    halted: input.halted,
    interrupted: input.interrupted,
    kpfleetVersion: input.kpfleetVersion,
    config: input.config,
    ...(input.configCommit !== undefined ? { configCommit: input.configCommit } : {}),
    ...(input.configFingerprint !== undefined
      ? { configFingerprint: input.configFingerprint }
      : {}),
    operator: input.operator,
    ...(input.planFile !== undefined ? { planFile: input.planFile } : {}),
    ...(input.planSha256 !== undefined ? { planSha256: input.planSha256 } : {}),
    ...(input.wave !== undefined ? { wave: input.wave } : {}),
    ...(input.shard !== undefined
      ? { shard: { index: input.shard.index, count: input.shard.count } }
      : {}),
    summary: summarizeResults(hosts),
    hosts,
  };
}

/** The summary of a report's hosts (a merged report's too: `report-merge.ts`). */
export function summarizeResults(hosts: readonly HostResult[]): ApplyReportSummary {
  const steps = hosts.flatMap((h) => h.steps);
  return {
    hosts: hosts.length,
    outcomes: countOutcomes(hosts),
    steps: steps.length,
    failedSteps: steps.filter((s) => !s.ok).length,
    rollbackSteps: steps.filter((s) => s.rollback === true).length,
  };
}

/** The report as written to `--report FILE`: 2-space JSON and a final newline. */
export function applyReportJson(report: ApplyReport): string {
  return jsonWithoutSecrets(report, 2) + '\n';
}
