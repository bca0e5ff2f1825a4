/**
 * `kpfleet plan merge PLAN...`: joins the plans of the shards of one fleet (`plan --shard I/N`,
 * one per CI job or pod) into one plan, printed and saved as `kpfleet plan` does, for `apply`.
 *
 * Contacts no host. The project is loaded as `apply PLANFILE` loads it, with the plans' own
 * `--limit`; each plan is read and checked as apply checks a saved plan (this kpfleet, the current
 * configuration, every change one kpfleet.yml declares), then the cut is checked whole
 * (`plan/merge.ts`). Any problem refuses the merge, exit 64, and nothing is written.
 */
import { resolve } from 'node:path';
import { shardOf } from '../../inventory/shard.ts';
import type { PlanInput } from '../../plan/merge.ts';
import { mergePlans, planHeadProblems } from '../../plan/merge.ts';
import type { CliIo } from '../io.ts';
import type { RunFile } from '../same-file.ts';
import type { PlanOptions } from './plan.ts';
import { preflightPlanOut, savePlanAndPrint } from './plan.ts';
import { selectHostsForCli } from './project.ts';
import { checkSavedPlan, indentedList, PlanRefusedError, readPlanFile } from './saved-plan.ts';

export type PlanMergeOptions = Pick<
  PlanOptions,
  'config' | 'trustSshConfig' | 'format' | 'out' | 'detailed' | 'detailedExitcode'
> & { vaultPasswordFile?: string };

function refused(problems: readonly string[]): PlanRefusedError {
  return new PlanRefusedError(
    `cannot merge these plans; nothing was written:\n${indentedList(problems)}`,
    [],
    'merge the N plans of one `kpfleet plan --shard I/N` run (I from 1 to N), made by this kpfleet from the current configuration with the same --limit',
  );
}

export function planMergeCommand(
  files: readonly string[],
  opts: PlanMergeOptions,
  io: CliIo,
): number {
  const inputs: RunFile[] = files.map((f) => ({
    label: `the plan ${f}`,
    path: resolve(io.cwd, f),
  }));
  const out = preflightPlanOut(opts.out, io, inputs);
  const plans: PlanInput[] = inputs.map((f, i) => ({
    file: files[i] ?? f.path,
    plan: readPlanFile(f.path),
  }));
  // the selection depends on the plans' --limit: they must agree before the project is read
  const head = planHeadProblems(plans);
  if (head.length > 0) throw refused(head);
  const limit = plans[0]?.plan.limit;
  // the whole fleet the shards cut: a KPFLEET_SHARD of this job's environment is not applied
  const env = { ...io.env };
  delete env.KPFLEET_SHARD;
  const selected = selectHostsForCli(
    { ...opts, json: opts.format !== 'text', ...(limit !== undefined ? { limit } : {}) },
    { ...io, env },
  );
  for (const p of plans) checkSavedPlan(p.plan, selected, p.file);
  const merged = mergePlans(plans, { hosts: selected.hosts.map((h) => h.host), shardOf });
  if (!merged.ok) throw refused(merged.problems);
  return savePlanAndPrint(merged.plan, out, opts, io);
}
