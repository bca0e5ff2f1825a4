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
import { selectWholeFleet } from './project.ts';
import { UsageError } from '../../errors.ts';
import { shown } from '../../plan/verify.ts';
import { checkSavedPlan, indentedList, PlanRefusedError, readPlanFile } from './saved-plan.ts';

export type PlanMergeOptions = Pick<
  PlanOptions,
  'config' | 'trustSshConfig' | 'format' | 'out' | 'detailed' | 'detailedExitcode'
> & {
  vaultPasswordFile?: string;
  /** `--limit`: must be the plans' own, byte for byte (a plan's pattern is never evaluated). */
  limit?: string;
  /** Options of `plan` written before `merge` (`plan --out F merge …`): refused. */
  optionsBeforeMerge?: readonly string[];
};

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
  const early = opts.optionsBeforeMerge ?? [];
  if (early.length > 0) {
    throw new UsageError(
      `${early.join(', ')} ${early.length === 1 ? 'is' : 'are'} written before \`merge\`: \`plan merge\` takes its options after it`,
      { hint: 'kpfleet plan merge shard-*.json --out plan.json' },
    );
  }
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
  // A plan's --limit is data from outside: an @file or ~regex in it is never evaluated here. The
  // merge is given its own --limit, which must be the plans' exactly.
  const recorded = plans[0]?.plan.limit;
  const limit = opts.limit;
  if (recorded !== limit) {
    const what = (l: string | undefined) =>
      l === undefined ? 'no --limit' : `--limit ${shown(l)}`;
    throw refused([
      `the plans were made with ${what(recorded)}, and this merge is given ${what(limit)}: give plan merge the --limit the shards were planned with`,
    ]);
  }
  // the whole fleet the shards cut
  const selected = selectWholeFleet(
    { ...opts, json: opts.format !== 'text', ...(limit !== undefined ? { limit } : {}) },
    io,
  );
  // the cut first (its messages say which shard is wrong), then every plan as apply checks it
  const merged = mergePlans(plans, {
    hosts: selected.hosts.map((h) => h.host),
    shardOf,
    config: selected.config.file,
  });
  if (!merged.ok) throw refused(merged.problems);
  for (const p of plans) checkSavedPlan(p.plan, selected, p.file);
  return savePlanAndPrint(merged.plan, out, opts, io);
}
