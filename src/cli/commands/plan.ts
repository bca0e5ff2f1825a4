import { resolve } from 'node:path';
import { ExitCode } from '../../errors.ts';
import type { Plan } from '../../plan/model.ts';
import { makePlan } from '../../workflow/plan.ts';
import { planJson } from '../../report/plan.ts';
import { renderPlanMarkdown } from '../../report/plan-markdown.ts';
import { renderPlanText } from '../../report/plan-text.ts';
import { safeText } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { defaultAuditLog } from '../apply-records.ts';
import { preflightReplace, writeFileAtomic, type OutputTarget } from '../output-files.ts';
import { refuseSameFiles, type RunFile } from '../same-file.ts';
import { VERSION } from '../version.ts';
import { parseForks } from '../options.ts';
import { connectorForCli } from './facts.ts';
import { selectHostsForCli } from './project.ts';

export interface PlanOptions {
  /** `--shard I/N`: only that shard's hosts (`inventory/shard.ts`). */
  shard?: string;
  /** `--login-user`: every host is logged in to as this user. */
  loginUser?: string;
  config?: string;
  trustSshConfig?: boolean;
  limit?: string;
  forks?: string;
  format: 'text' | 'json' | 'markdown';
  out?: string;
  detailedExitcode?: boolean;
  /** `--detailed`: the text plan with a block per host. */
  detailed?: boolean;
}

/**
 * The exit code of a plan (docs/exit-codes.md): 4 if a host was not reached; 1 if a host is
 * blocked or its facts failed, or a finding is an error; with --detailed-exitcode 2 when changes
 * are pending; else 0.
 */
export function planExitCode(plan: Plan, detailed: boolean): number {
  const s = plan.summary;
  if (s.unreachable > 0) return ExitCode.unreachable;
  const errorFinding = plan.hosts.some((h) => h.findings.some((f) => f.severity === 'error'));
  if (s.errors > 0 || s.blocked > 0 || errorFinding) return ExitCode.changeFailed;
  if (detailed && s.changes > 0) return ExitCode.changesPending;
  return ExitCode.ok;
}

/**
 * `--out FILE`, checked before any host is contacted (written atomically later: a reader never
 * sees half a plan); never the audit log (renamed over, its history would be lost) nor one of
 * `inputs` (the plans `plan merge` reads).
 */
export function preflightPlanOut(
  file: string | undefined,
  io: CliIo,
  inputs: readonly RunFile[] = [],
): OutputTarget | undefined {
  if (file === undefined) return undefined;
  const out = preflightReplace(resolve(io.cwd, file), `--out ${file}`);
  const audit = defaultAuditLog(io.env);
  refuseSameFiles([{ label: `the audit log ${audit}`, path: audit }, out]);
  for (const input of inputs) refuseSameFiles([input, out]);
  return out;
}

export async function planCommand(opts: PlanOptions, io: CliIo): Promise<number> {
  const selected = selectHostsForCli({ ...opts, json: opts.format !== 'text' }, io);
  const out = preflightPlanOut(opts.out, io);
  const plan = await makePlan(selected, {
    forks: parseForks(opts.forks, selected.config.rollout.forks),
    open: connectorForCli(io),
    kpfleetVersion: VERSION,
    limit: opts.limit,
  });
  return savePlanAndPrint(plan, out, opts, io);
}

/**
 * Writes the plan to `--out` (checked before), prints it in `--format` and returns its exit code:
 * what `plan` and `plan merge` end with.
 */
export function savePlanAndPrint(
  plan: Plan,
  out: OutputTarget | undefined,
  opts: Pick<PlanOptions, 'format' | 'out' | 'detailed' | 'detailedExitcode'>,
  io: CliIo,
): number {
  if (out !== undefined) writeFileAtomic(out, planJson(plan));
  if (opts.format === 'json') io.stdout.write(planJson(plan));
  else if (opts.format === 'markdown') io.stdout.write(renderPlanMarkdown(plan));
  else {
    io.stdout.write(
      renderPlanText(plan, styleFor(io.stdout, io.env), { detailed: opts.detailed === true }) +
        '\n',
    );
    if (opts.out !== undefined) io.stdout.write(`\nPlan saved to ${safeText(opts.out)}\n`);
  }
  return planExitCode(plan, opts.detailedExitcode === true);
}
