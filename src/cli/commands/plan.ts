import { resolve } from 'node:path';
import { resolveDesired } from '../../desired/resolve.ts';
import { errorInfo, ExitCode } from '../../errors.ts';
import { factsFingerprint } from '../../facts/fingerprint.ts';
import type { Plan } from '../../plan/model.ts';
import { buildPlan, hostFailure, planHost } from '../../plan/plan.ts';
import { planJson, renderPlanMarkdown, renderPlanText } from '../../report/plan.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { preflightReplace, writeFileAtomic } from '../output-files.ts';
import { VERSION } from '../version.ts';
import { readFleetFacts } from './facts.ts';
import type { SelectedHosts } from './project.ts';
import type { HostConnection } from '../../desired/connection.ts';
import type { Transport } from '../../transport/transport.ts';
import { selectHostsForCli } from './project.ts';

export interface PlanOptions {
  config?: string;
  limit?: string;
  forks?: string;
  format: 'text' | 'json' | 'markdown';
  out?: string;
  detailedExitcode?: boolean;
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

/** Reads the selected hosts and plans them: what `plan` shows and `apply` executes. */
export async function makePlan(
  selected: SelectedHosts,
  opts: { limit?: string; forks?: string },
  io: CliIo,
  open?: (host: HostConnection) => Promise<Transport>,
): Promise<Plan> {
  const { config, inventory, hosts } = selected;
  const desired = new Map(
    resolveDesired(
      config,
      inventory,
      hosts.map((h) => h.host),
    ).hosts.map((d) => [d.host, d]),
  );
  const results = await readFleetFacts(selected, opts.forks, io, open);
  const now = Date.now();
  const hostPlans = results.map((r) => {
    const d = desired.get(r.host) ?? {
      host: r.host,
      groups: [],
      patches: [],
      unmanaged: 'keep' as const,
      uncoveredKernel: 'warn' as const,
    };
    if (!r.ok) {
      return hostFailure(
        r.host,
        d.groups,
        errorInfo(r.error),
        r.error.exitCode === ExitCode.unreachable,
      );
    }
    return planHost({
      desired: d,
      facts: r.facts,
      fingerprint: factsFingerprint(r.facts),
      patches: config.patches,
      rollout: config.rollout,
      now,
    });
  });
  return buildPlan(hostPlans, {
    createdAt: new Date(now).toISOString(),
    kpfleetVersion: VERSION,
    config: config.file,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
  });
}

export async function planCommand(opts: PlanOptions, io: CliIo): Promise<number> {
  const selected = selectHostsForCli({ ...opts, json: opts.format !== 'text' }, io);
  // checked before any host is contacted; written atomically (a reader never sees half a plan)
  const out =
    opts.out === undefined
      ? undefined
      : preflightReplace(resolve(io.cwd, opts.out), `--out ${opts.out}`);
  const plan = await makePlan(selected, opts, io);
  if (out !== undefined) writeFileAtomic(out, planJson(plan));
  if (opts.format === 'json') io.stdout.write(planJson(plan));
  else if (opts.format === 'markdown') io.stdout.write(renderPlanMarkdown(plan));
  else {
    io.stdout.write(renderPlanText(plan, styleFor(io.stdout, io.env)) + '\n');
    if (opts.out !== undefined) io.stdout.write(`\nPlan saved to ${opts.out}\n`);
  }
  return planExitCode(plan, opts.detailedExitcode === true);
}
