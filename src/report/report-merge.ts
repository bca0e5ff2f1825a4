/**
 * `kpfleet report merge`: the apply reports of the shards of one or more waves (`apply --wave K
 * --shard I/N --report FILE`) joined into one report, and the gate between waves: may the next
 * wave start? Pure: the CLI reads and validates the files, prints the decision and sets the exit
 * code.
 *
 * The gate counts as one apply over the whole fleet counts (`apply/execute.ts`): failures are
 * FAILURE_OUTCOMES, attempts every host of a wave (≥ 1) that was not skipped, cumulated over
 * every report given, judged by `shouldHalt` against max_failures; a --check run is never halted.
 * Passing the reports of every wave so far therefore decides what a single apply would decide.
 *
 * The reports are data from other jobs: the gate is given the plan they applied and the wave just
 * run, and takes only reports of that very plan (its sha256), of waves 1 … K, each host in the
 * wave the plan puts it in and in the report of its own shard; a host of waves 1 … K that no
 * report names keeps the gate shut (a job that did not finish, or a report left out).
 */
import type { Amount } from '../config-model.ts';
import type { HostResult } from '../apply/events.ts';
import { FAILURE_OUTCOMES } from '../apply/outcomes.ts';
import { failureBudget, shouldHalt } from '../apply/waves.ts';
import type { ApplyReport, ReportShard } from './apply-report.ts';
import { summarizeResults } from './apply-report.ts';
import { oneLine } from './safe-text.ts';
import { hostList } from './host-names.ts';
import { maxOf, pushAll } from '../util/arrays.ts';

/** A report as read, with the name of its file (for messages). */
export interface NamedReport {
  file: string;
  report: ApplyReport;
}

/** What the plan applied says the reports must be (the CLI reads it from `--plan` and `--wave`). */
export interface GateExpectation {
  /** `sha256:…` of the plan file's bytes (`planSha256` of each report). */
  planSha256: string;
  /** The plan's configuration fingerprint (`sha256:…`) and kpfleet version. */
  configFingerprint: string;
  kpfleetVersion: string;
  /** The wave just run: reports of waves 1 … wave are taken. */
  wave: number;
  /** Each host the reports must name, with its wave (`apply/waves.ts` expectedWaves). */
  hostWave: ReadonlyMap<string, number>;
  /** The shard (1 … count) of a host: `inventory/shard.ts`'s `shardOf`. */
  shardOf: (host: string, count: number) => number;
}

/** Outcomes a host in no wave can have: it had nothing to run. */
const WAVE0_OUTCOMES: ReadonlySet<string> = new Set(['unchanged', 'blocked', 'unreachable']);

/** Reports that cannot be merged: why, one line each (the CLI exits 64). */
export class ReportMergeRefused extends Error {}

export interface Gate {
  /** Hosts failed and attempted, over every wave's hosts of every report. */
  failed: number;
  attempted: number;
  /** How many failures max_failures allows for `attempted`. */
  allowed: number;
  /** More failed than allowed (never for --check runs). */
  spent: boolean;
  /** Files of reports whose run halted or was interrupted. */
  halted: string[];
  interrupted: string[];
  /** `shard 2/3 of wave 1`: shards with no report (a job that did not finish). */
  missing: string[];
  /** Hosts of waves 0 … K that no report names, by wave. */
  unreported: { wave: number; hosts: string[] }[];
  /** Every report was of a --check run: nothing was applied. */
  check: boolean;
  /** Whether the next wave may start: nothing above stops it. */
  open: boolean;
}

export interface MergedReports {
  report: ApplyReport;
  gate: Gate;
}

const shardOf = (r: ApplyReport): ReportShard => r.shard ?? { index: 1, count: 1 };
const named = (file: string): string => oneLine(file);

/** Refuses (ReportMergeRefused) reports that are not shards of one run of one plan. */
function checkSameRun(reports: readonly NamedReport[], expect: GateExpectation): void {
  const [first] = reports;
  if (first === undefined) throw new ReportMergeRefused('no report to merge');
  for (const { file, report } of reports) {
    if (report.wave === undefined) {
      throw new ReportMergeRefused(
        `${named(file)} is not the report of one wave (kpfleet apply --wave K --report FILE)`,
      );
    }
    if (report.planSha256 !== expect.planSha256) {
      throw new ReportMergeRefused(
        `${named(file)} is not a report of this plan (${report.planSha256 === undefined ? 'it records no plan' : `plan ${oneLine(report.planSha256.slice(0, 19))}…`}, --plan is ${expect.planSha256.slice(0, 19)}…): a report of another run or another plan`,
      );
    }
    if (report.wave > expect.wave) {
      throw new ReportMergeRefused(
        `${named(file)} is a report of wave ${String(report.wave)}, after wave ${String(expect.wave)} that this gate closes`,
      );
    }
    if (Number.isNaN(Date.parse(report.startedAt))) {
      throw new ReportMergeRefused(
        `${named(file)}: startedAt ${oneLine(JSON.stringify(report.startedAt))} is not a time`,
      );
    }
    if (
      report.configFingerprint !== expect.configFingerprint ||
      report.kpfleetVersion !== expect.kpfleetVersion
    ) {
      throw new ReportMergeRefused(
        `${named(file)} was not made by this kpfleet from the plan's configuration`,
      );
    }
    const differs = (what: string, a: unknown, b: unknown) =>
      new ReportMergeRefused(
        `${named(file)} and ${named(first.file)} are of different ${what} (${oneLine(String(a))}, ${oneLine(String(b))})`,
      );
    if (report.configFingerprint !== first.report.configFingerprint)
      throw differs('configurations', report.configFingerprint, first.report.configFingerprint);
    if (report.kpfleetVersion !== first.report.kpfleetVersion)
      throw differs('kpfleet versions', report.kpfleetVersion, first.report.kpfleetVersion);
    if (report.check !== first.report.check)
      throw differs('kinds of run (--check and a real apply)', report.check, first.report.check);
  }
  const seen = new Map<string, string>();
  for (const { file, report } of reports) {
    for (const h of report.hosts) {
      const other = seen.get(h.host);
      if (other !== undefined) {
        throw new ReportMergeRefused(
          `host ${oneLine(h.host)} is in two reports: ${named(other)} and ${named(file)}`,
        );
      }
      seen.set(h.host, file);
    }
  }
  for (const { file, report } of reports) checkHosts(file, report, expect);
}

/**
 * Each host of a report is where the plan puts it: its wave (0 only in a wave 1 report, with an
 * outcome of a host that had nothing to run) and the report's shard.
 */
function checkHosts(file: string, report: ApplyReport, expect: GateExpectation): void {
  const wave = report.wave ?? 0;
  const s = shardOf(report);
  for (const h of report.hosts) {
    const name = oneLine(h.host);
    const planned = expect.hostWave.get(h.host);
    const refuse = (why: string) => new ReportMergeRefused(`${named(file)}: host ${name} ${why}`);
    if (planned === undefined)
      throw refuse(`is in no wave from 1 to ${String(expect.wave)} of the plan, nor in the plan`);
    if (h.wave !== planned)
      throw refuse(
        `is reported in wave ${String(h.wave)}; the plan puts it in wave ${String(planned)}`,
      );
    if (planned === 0 && (wave !== 1 || !WAVE0_OUTCOMES.has(h.outcome)))
      throw refuse(
        `had nothing to run, and is reported ${oneLine(h.outcome)} in wave ${String(wave)}`,
      );
    if (planned > 0 && planned !== wave)
      throw refuse(`of wave ${String(planned)} is in a report of wave ${String(wave)}`);
    if (s.count > 1 && expect.shardOf(h.host, s.count) !== s.index)
      throw refuse(`is not in shard ${String(s.index)}/${String(s.count)}`);
  }
}

/** The hosts of the plan's waves 0 … K that no report names, by wave. */
function unreportedHosts(
  hosts: readonly HostResult[],
  expect: GateExpectation,
): Gate['unreported'] {
  const seen = new Set(hosts.map((h) => h.host));
  const byWave = new Map<number, string[]>();
  for (const [host, wave] of expect.hostWave) {
    if (!seen.has(host)) byWave.set(wave, [...(byWave.get(wave) ?? []), host]);
  }
  return [...byWave].sort(([a], [b]) => a - b).map(([wave, list]) => ({ wave, hosts: list }));
}

/** The reports in wave then shard order, and the shards of each wave that have no report. */
function orderShards(reports: readonly NamedReport[]): {
  ordered: NamedReport[];
  missing: string[];
} {
  const byWave = new Map<number, NamedReport[]>();
  for (const r of reports) {
    const wave = r.report.wave ?? 0;
    byWave.set(wave, [...(byWave.get(wave) ?? []), r]);
  }
  const ordered: NamedReport[] = [];
  const missing: string[] = [];
  for (const wave of [...byWave.keys()].sort((a, b) => a - b)) {
    const group = (byWave.get(wave) ?? []).sort(
      (a, b) => shardOf(a.report).index - shardOf(b.report).index,
    );
    const count = shardOf(group[0]?.report ?? ({} as ApplyReport)).count;
    const byIndex = new Map<number, string>();
    for (const { file, report } of group) {
      const s = shardOf(report);
      if (s.count !== count || s.index > count) {
        throw new ReportMergeRefused(
          `the reports of wave ${String(wave)} are not shards of one count: ${named(file)} is shard ${String(s.index)}/${String(s.count)}, ${named(group[0]?.file ?? '')} of ${String(count)}`,
        );
      }
      const twice = byIndex.get(s.index);
      if (twice !== undefined) {
        throw new ReportMergeRefused(
          `shard ${String(s.index)}/${String(count)} of wave ${String(wave)} is given twice: ${named(twice)} and ${named(file)}`,
        );
      }
      byIndex.set(s.index, file);
    }
    for (let i = 1; i <= count; i++) {
      if (!byIndex.has(i))
        missing.push(`shard ${String(i)}/${String(count)} of wave ${String(wave)}`);
    }
    pushAll(ordered, group);
  }
  return { ordered, missing };
}

/** The gate over the merged hosts (`apply/execute.ts` counts the same way). */
function gateOf(
  hosts: readonly HostResult[],
  check: boolean,
  maxFailures: Amount,
  reports: readonly NamedReport[],
  missing: string[],
  unreported: Gate['unreported'],
): Gate {
  const waved = hosts.filter((h) => h.wave >= 1);
  const attempted = waved.filter((h) => h.outcome !== 'skipped').length;
  const failed = waved.filter((h) => FAILURE_OUTCOMES.has(h.outcome)).length;
  const spent = !check && shouldHalt(failed, attempted, maxFailures);
  const halted = reports.filter((r) => r.report.halted).map((r) => r.file);
  const interrupted = reports.filter((r) => r.report.interrupted).map((r) => r.file);
  const open =
    !spent &&
    halted.length === 0 &&
    interrupted.length === 0 &&
    missing.length === 0 &&
    unreported.length === 0;
  const allowed = failureBudget(maxFailures, attempted);
  return {
    failed,
    attempted,
    allowed,
    spent,
    halted,
    interrupted,
    missing,
    unreported,
    check,
    open,
  };
}

/** One of several values when they agree, else none. */
function agreed<T>(values: readonly (T | undefined)[]): T | undefined {
  return values.every((v) => v === values[0]) ? values[0] : undefined;
}

/**
 * Merges the reports (ReportMergeRefused when they are not shards of one run of one plan: other
 * configurations or kpfleet versions, --check mixed with a real run, a host twice, a shard twice)
 * and decides the gate.
 */
export function mergeReports(
  reports: readonly NamedReport[],
  maxFailures: Amount,
  expect: GateExpectation,
): MergedReports {
  checkSameRun(reports, expect);
  const { ordered, missing } = orderShards(reports);
  const all = ordered.map((r) => r.report);
  const first = all[0] as ApplyReport;
  const hosts = all.flatMap((r) => r.hosts);
  const starts = all.map((r) => Date.parse(r.startedAt));
  const start = -maxOf(starts.map((t) => -t));
  const end = maxOf(all.map((r, i) => (starts[i] ?? start) + r.durationMs));
  const operators = [...new Set(all.map((r) => r.operator))].join(', ');
  const configCommit = agreed(all.map((r) => r.configCommit));
  const planFile = agreed(all.map((r) => r.planFile));
  const wave = agreed(all.map((r) => r.wave));
  const report: ApplyReport = {
    format: first.format,
    version: first.version,
    startedAt: new Date(start).toISOString(),
    durationMs: Math.max(0, end - start),
    check: first.check,
    halted: all.some((r) => r.halted),
    interrupted: all.some((r) => r.interrupted),
    kpfleetVersion: first.kpfleetVersion,
    config: first.config,
    ...(configCommit !== undefined ? { configCommit } : {}),
    ...(first.configFingerprint !== undefined
      ? { configFingerprint: first.configFingerprint }
      : {}),
    operator: operators,
    ...(planFile !== undefined ? { planFile } : {}),
    planSha256: expect.planSha256,
    ...(wave !== undefined ? { wave } : {}),
    summary: summarizeResults(hosts),
    hosts,
  };
  const unreported = unreportedHosts(hosts, expect);
  return {
    report,
    gate: gateOf(hosts, first.check, maxFailures, ordered, missing, unreported),
  };
}

/** The gate's one line: whether the next wave may start, and why. */
export function gateLine(gate: Gate, maxFailures: Amount): string {
  const limit =
    maxFailures.kind === 'count' ? String(maxFailures.value) : `${String(maxFailures.value)}%`;
  const counted = `${String(gate.failed)} of ${String(gate.attempted)} hosts failed, max_failures ${limit} allows ${String(gate.allowed)}`;
  const checkOnly = gate.check ? ' (--check runs: nothing was applied)' : '';
  if (gate.open) return `the next wave may start: ${counted}${checkOnly}`;
  const why = [
    ...(gate.missing.length > 0
      ? [`no report for ${gate.missing.join(', ')} (a job that did not finish)`]
      : []),
    ...gate.unreported.map(
      (u) =>
        `no report names ${hostList(u.hosts.map(oneLine), 4)} of ${u.wave === 0 ? 'the hosts with nothing to run (reported by wave 1)' : `wave ${String(u.wave)}`}`,
    ),
    ...(gate.spent ? [counted] : []),
    ...gate.halted.map((f) => `${named(f)}: its run halted`),
    ...gate.interrupted.map((f) => `${named(f)}: its run was interrupted`),
  ];
  return `the next wave must not start: ${why.join('; ')}${checkOnly}`;
}
