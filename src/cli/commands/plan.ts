import { resolve } from 'node:path';
import { resolveDesired } from '../../desired/resolve.ts';
import { errorInfo, ExitCode } from '../../errors.ts';
import { factsFingerprint } from '../../facts/fingerprint.ts';
import type { HostPlan, Plan } from '../../plan/model.ts';
import type { HostDesired } from '../../desired/resolve.ts';
import type { HostFacts } from '../../facts/model.ts';
import { buildPlan, hostFailure, planHost } from '../../plan/plan.ts';
import { planJson, renderPlanMarkdown, renderPlanText } from '../../report/plan.ts';
import { safeText } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';
import { defaultAuditLog } from '../apply-records.ts';
import { preflightReplace, writeFileAtomic } from '../output-files.ts';
import { refuseSameFiles } from '../same-file.ts';
import { VERSION } from '../version.ts';
import { readFleetFacts } from './facts.ts';
import type { SelectedHosts } from './project.ts';
import type { HostConnection } from '../../connection.ts';
import type { Transport } from '../../transport/transport.ts';
import { projectFingerprint, selectHostsForCli } from './project.ts';

export interface PlanOptions {
  /** `--login-user`: every host is logged in to as this user. */
  loginUser?: string;
  config?: string;
  trustSshConfig?: boolean;
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

/** The desired state of each selected host, by name (a host in no group wants nothing). */
function desiredOf(selected: SelectedHosts): (host: string) => HostDesired {
  const { config, inventory, hosts } = selected;
  const desired = new Map(
    resolveDesired(
      config,
      inventory,
      hosts.map((h) => h.host),
    ).hosts.map((d) => [d.host, d]),
  );
  return (host) =>
    desired.get(host) ?? {
      host,
      groups: [],
      patches: [],
      unmanaged: 'keep',
      uncoveredKernel: 'warn',
    };
}

/**
 * Plans one host from its facts, as `plan` does: apply calls it again under the host's lock, so
 * that a saved plan runs only if it is exactly what the current configuration asks for.
 */
export function replanner(
  selected: SelectedHosts,
  now?: number,
): (host: string, facts: HostFacts, fingerprint: string) => HostPlan {
  const desired = desiredOf(selected);
  const { config } = selected;
  return (host, facts, fingerprint) =>
    planHost({
      desired: desired(host),
      facts,
      fingerprint,
      patches: config.patches,
      rollout: config.rollout,
      now: now ?? Date.now(),
    });
}

/** Reads the selected hosts and plans them: what `plan` shows and `apply` executes. */
export async function makePlan(
  selected: SelectedHosts,
  opts: { limit?: string; forks?: string },
  io: CliIo,
  open?: (host: HostConnection) => Promise<Transport>,
): Promise<Plan> {
  const { config } = selected;
  const desired = desiredOf(selected);
  const results = await readFleetFacts(selected, opts.forks, io, open);
  const now = Date.now();
  const plan = replanner(selected, now);
  const hostPlans = results.map((r) => {
    if (!r.ok) {
      return hostFailure(
        r.host,
        desired(r.host).groups,
        errorInfo(r.error),
        r.error.exitCode === ExitCode.unreachable,
      );
    }
    return plan(r.host, r.facts, factsFingerprint(r.facts));
  });
  return buildPlan(hostPlans, {
    createdAt: new Date(now).toISOString(),
    kpfleetVersion: VERSION,
    config: config.file,
    configFingerprint: projectFingerprint(selected),
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
  // a plan renamed over the audit log would erase its history
  if (out !== undefined) {
    const audit = defaultAuditLog(io.env);
    refuseSameFiles([{ label: `the audit log ${audit}`, path: audit }, out]);
  }
  const plan = await makePlan(selected, opts, io);
  if (out !== undefined) writeFileAtomic(out, planJson(plan));
  if (opts.format === 'json') io.stdout.write(planJson(plan));
  else if (opts.format === 'markdown') io.stdout.write(renderPlanMarkdown(plan));
  else {
    io.stdout.write(renderPlanText(plan, styleFor(io.stdout, io.env)) + '\n');
    if (opts.out !== undefined) io.stdout.write(`\nPlan saved to ${safeText(opts.out)}\n`);
  }
  return planExitCode(plan, opts.detailedExitcode === true);
}
