/**
 * From selected hosts to a plan: read each host's facts over the Transport interface, `forks` at
 * a time, and plan each from its facts and its desired state (config → inventory → facts → plan).
 * What `plan` shows and `apply` executes, and what `apply` plans again under each host's lock.
 * No printing, no exit codes: cli/ renders the plan and decides what it means.
 */
import type { HostDesired } from '../desired/resolve.ts';
import { resolveDesired } from '../desired/resolve.ts';
import { errorInfo, ExitCode } from '../errors.ts';
import { factsFingerprint } from '../facts/fingerprint.ts';
import { gatherFleetFacts } from '../facts/gather.ts';
import type { HostFactsResult } from '../facts/gather.ts';
import type { HostFacts } from '../facts/model.ts';
import type { HostPlan, Plan } from '../plan/model.ts';
import { buildPlan, hostFailure, planHost } from '../plan/plan.ts';
import type { OpenTransport } from '../transport/transport.ts';
import type { SelectedHosts } from './hosts.ts';
import { projectFingerprint } from './hosts.ts';

/** Facts of the selected hosts, `forks` at a time; a host's failure is its own result. */
export async function readFleetFacts(
  selected: SelectedHosts,
  forks: number,
  open: OpenTransport,
): Promise<HostFactsResult[]> {
  return gatherFleetFacts(selected.hosts, open, { forks });
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

export interface MakePlanOptions {
  forks: number;
  open: OpenTransport;
  /** Who made the plan, recorded in it. */
  kpfleetVersion: string;
  /** `--limit` as given, recorded in the plan. */
  limit?: string | undefined;
}

/** A host's facts (where they were read), what it should be, and its plan. */
export interface PlannedHost {
  desired: HostDesired;
  facts: HostFacts | undefined;
  plan: HostPlan;
}

/**
 * Plans each host from its facts result, at `now`: a host whose facts failed is its failure. One
 * host at a time, so a caller that keeps less than the plan (`status`) never holds every plan.
 */
export function* planEach(
  selected: SelectedHosts,
  results: readonly HostFactsResult[],
  now: number,
): Generator<PlannedHost> {
  const desired = desiredOf(selected);
  const plan = replanner(selected, now);
  for (const r of results) {
    const d = desired(r.host);
    if (!r.ok) {
      const unreachable = r.error.exitCode === ExitCode.unreachable;
      yield {
        desired: d,
        facts: undefined,
        plan: hostFailure(r.host, d.groups, errorInfo(r.error), unreachable),
      };
    } else {
      yield { desired: d, facts: r.facts, plan: plan(r.host, r.facts, factsFingerprint(r.facts)) };
    }
  }
}

/** Reads the selected hosts and plans them: what `plan` shows and `apply` executes. */
export async function makePlan(selected: SelectedHosts, o: MakePlanOptions): Promise<Plan> {
  const { config } = selected;
  const results = await readFleetFacts(selected, o.forks, o.open);
  const now = Date.now();
  const hostPlans: HostPlan[] = [];
  for (const x of planEach(selected, results, now)) hostPlans.push(x.plan);
  return buildPlan(hostPlans, {
    createdAt: new Date(now).toISOString(),
    kpfleetVersion: o.kpfleetVersion,
    config: config.file,
    configFingerprint: projectFingerprint(selected),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(selected.shard !== undefined ? { shard: selected.shard } : {}),
  });
}
