/**
 * `kpfleet report merge REPORT...`: joins the apply reports of a wave's shards (and of the waves
 * before it) and is the gate between waves in a CI matrix or a Kubernetes Job per wave: exit 0 the
 * next wave may start, 1 it must not (max_failures spent, a run halted or interrupted, a shard's
 * report missing), 64 reports that are not shards of one run. The merging and the decision are
 * `report/report-merge.ts`; this reads, validates, prints and sets the code.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Amount } from '../../config-model.ts';
import { parseAmount } from '../../config/normalize.ts';
import { ExitCode, UsageError } from '../../errors.ts';
import type { ApplyReport } from '../../report/apply-report.ts';
import { APPLY_REPORT_FORMAT, applyReportJson } from '../../report/apply-report.ts';
import type { GateExpectation, NamedReport } from '../../report/report-merge.ts';
import { gateLine, mergeReports, ReportMergeRefused } from '../../report/report-merge.ts';
import { oneLine } from '../../report/safe-text.ts';
import { errorsText, schemaValidator } from '../../schema-validators.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { preflightReplace } from '../output-files.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { refuseSameFiles } from '../same-file.ts';
import { selectWholeFleet } from './project.ts';
import { waveNumber } from './apply-wave.ts';
import { checkSavedPlan, readPlanFileDigest } from './saved-plan.ts';
import { expectedWaves } from '../../apply/waves.ts';
import { shardOf } from '../../inventory/shard.ts';

export interface ReportMergeOptions {
  /** The plan the reports' runs applied (the merged plan), and the wave just run. */
  plan: string;
  wave: string;
  maxFailures?: string;
  out?: string;
  json?: boolean;
  config?: string;
  trustSshConfig?: boolean;
  vaultPasswordFile?: string;
}

/** Each file: JSON valid against schemas/report.schema.json (a UsageError naming it otherwise). */
function readReports(files: readonly string[], io: CliIo): NamedReport[] {
  const validate = schemaValidator('report');
  return files.map((file) => {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(resolve(io.cwd, file), 'utf8'));
    } catch (err) {
      throw new UsageError(
        `cannot read the report ${oneLine(file)}: ${oneLine(err instanceof Error ? err.message : String(err))}`,
      );
    }
    if ((data as { format?: unknown } | null)?.format !== APPLY_REPORT_FORMAT || !validate(data)) {
      const why = validate.errors ? `: ${oneLine(errorsText(validate.errors))}` : '';
      throw new UsageError(
        `${oneLine(file)} is not a kpfleet apply report (schemas/report.schema.json)${why}`,
        { hint: 'give the files written by kpfleet apply --wave K --report FILE' },
      );
    }
    return { file, report: data as ApplyReport };
  });
}

/** `--max-failures N|P%`, read as rollout.max_failures is; else the project's. */
function maxFailuresFor(opts: ReportMergeOptions, project: Amount): Amount {
  const v = opts.maxFailures;
  if (v !== undefined) {
    const amount = parseAmount(/^[0-9]+$/.test(v) ? Number(v) : v);
    if (amount === undefined || (amount.kind === 'percent' && amount.value > 100)) {
      throw new UsageError(
        `--max-failures ${JSON.stringify(v)} is not a count (0, 1, …) or a percentage (5%)`,
      );
    }
    return amount;
  }
  return project;
}

/**
 * What the gate expects of the reports: the plan read (its bytes' sha256) and checked as apply
 * checks a saved plan, against the whole project (its own --limit is never evaluated here), and
 * the wave of each host up to `--wave`, split as apply splits them.
 */
function expectationFor(
  opts: ReportMergeOptions,
  io: CliIo,
): { expect: GateExpectation; maxFailures: Amount } {
  const wave = waveNumber(opts.wave);
  const { plan, sha256 } = readPlanFileDigest(resolve(io.cwd, opts.plan));
  const selected = selectWholeFleet({ ...pickProjectOptions(opts), json: opts.json === true }, io);
  checkSavedPlan(plan, selected, opts.plan);
  const { rollout } = selected.config;
  return {
    expect: {
      planSha256: sha256,
      configFingerprint: plan.configFingerprint.sha256,
      kpfleetVersion: plan.kpfleetVersion,
      wave,
      hostWave: expectedWaves(plan.hosts, rollout.waves, wave),
      shardOf,
    },
    maxFailures: maxFailuresFor(opts, rollout.maxFailures),
  };
}

/** The options that name and load the project. */
function pickProjectOptions(opts: ReportMergeOptions) {
  return {
    ...(opts.config !== undefined ? { config: opts.config } : {}),
    ...(opts.trustSshConfig === true ? { trustSshConfig: true } : {}),
    ...(opts.vaultPasswordFile !== undefined ? { vaultPasswordFile: opts.vaultPasswordFile } : {}),
  };
}

export function reportMergeCommand(
  files: readonly string[],
  opts: ReportMergeOptions,
  io: CliIo,
): number {
  const out =
    opts.out === undefined
      ? undefined
      : preflightReplace(resolve(io.cwd, opts.out), `--out ${opts.out}`);
  // the merged report never replaces one of the reports it is made from
  if (out !== undefined) {
    refuseSameFiles([
      ...files.map((f) => ({ label: `the report ${f}`, path: resolve(io.cwd, f) })),
      { label: `the plan ${opts.plan}`, path: resolve(io.cwd, opts.plan) },
      out,
    ]);
  }
  const { expect, maxFailures } = expectationFor(opts, io);
  const reports = readReports(files, io);
  let merged;
  try {
    merged = mergeReports(reports, maxFailures, expect);
  } catch (err) {
    if (err instanceof ReportMergeRefused)
      throw new UsageError(`${err.message}; nothing was merged`);
    throw err;
  }
  if (out !== undefined) writeFileAtomic(out, applyReportJson(merged.report));
  const style = styleFor(opts.json === true ? io.stderr : io.stdout, io.env);
  const line = gateLine(merged.gate, maxFailures);
  const shown = merged.gate.open ? style.green(line) : style.red(line);
  if (opts.json === true) {
    io.stdout.write(applyReportJson(merged.report));
    io.stderr.write(`${shown}\n`);
  } else {
    const s = merged.report.summary;
    io.stdout.write(
      `merged ${String(reports.length)} ${reports.length === 1 ? 'report' : 'reports'}: ${String(s.hosts)} hosts\n${shown}\n`,
    );
  }
  return merged.gate.open ? ExitCode.ok : ExitCode.changeFailed;
}
