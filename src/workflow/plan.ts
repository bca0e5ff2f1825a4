/**
 * From selected hosts to a plan: read each host's facts over the Transport interface, `forks` at
 * a time, and plan each from its facts and its desired state (config → inventory → facts → plan).
 * What `plan` shows and `apply` executes, and what `apply` plans again under each host's lock.
 * No printing, no exit codes: cli/ renders the plan and decides what it means.
 */
import type { HostDesired } from '../desired/resolve.ts';
import { defaultDesired, resolveDesired } from '../desired/resolve.ts';
import { errorInfo, ExitCode } from '../errors.ts';
import { factsFingerprint } from '../facts/fingerprint.ts';
import { forEachHostFacts, gatherFleetFacts } from '../facts/gather.ts';
import type { HostFactsResult } from '../facts/gather.ts';
import type { HostFacts } from '../facts/model.ts';
import type { HostPlan, Plan } from '../plan/model.ts';
import { buildPlan, hostFailure, planHost } from '../plan/plan.ts';
import type { PlanMeta } from '../plan/plan.ts';
import type { OpenTransport, Transport } from '../transport/transport.ts';
import type { SelectedHosts } from './hosts.ts';
import { projectFingerprint } from './hosts.ts';
import { heapTrimmer, TRIM_EVERY_HOSTS } from '../util/heap.ts';

/** Facts of the selected hosts, `forks` at a time, all kept; a host's failure is its own result. */
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
  return (host) => desired.get(host) ?? defaultDesired(host);
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

/**
 * Offered each host's connection once its plan is made, with the host's place in the selection
 * (`order`: the plan's order, in which its waves are taken): returns true when it keeps the
 * connection (and closes it later), so that apply changes the host over the connection its plan
 * read the facts on. Otherwise the connection is closed at once.
 */
export type KeepConnection = (t: Transport, plan: HostPlan, order: number) => boolean;

export interface MakePlanOptions {
  forks: number;
  open: OpenTransport;
  keepConnection?: KeepConnection;
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

/** Plans one host from its facts result, at `now`: a host whose facts failed is its failure. */
function planner(selected: SelectedHosts, now: number): (r: HostFactsResult) => PlannedHost {
  const desired = desiredOf(selected);
  const plan = replanner(selected, now);
  return (r) => {
    const d = desired(r.host);
    if (r.ok) {
      return { desired: d, facts: r.facts, plan: plan(r.host, r.facts, factsFingerprint(r.facts)) };
    }
    const unreachable = r.error.exitCode === ExitCode.unreachable;
    return {
      desired: d,
      facts: undefined,
      plan: hostFailure(r.host, d.groups, errorInfo(r.error), unreachable),
    };
  };
}

/** Plans each host of facts already read, at `now`, one at a time (tests plan given facts so). */
export function* planEach(
  selected: SelectedHosts,
  results: readonly HostFactsResult[],
  now: number,
): Generator<PlannedHost> {
  const plan = planner(selected, now);
  for (const r of results) yield plan(r);
}

/**
 * Reads the selected hosts' facts and plans each host as its facts arrive, at `now`. `keep` turns
 * each planned host into what the caller needs of it (its plan, its coverage) as soon as it is
 * planned; then its facts are dropped. `each` gets what was kept in the selection's order (a host
 * answering early waits for those before it), so no caller ever holds every host's facts. The
 * planning loop of `plan`, `status` and `apply`.
 */
export async function planFleet<T>(
  selected: SelectedHosts,
  o: { forks: number; open: OpenTransport; now: number; keepConnection?: KeepConnection },
  keep: (x: PlannedHost) => T,
  each: (kept: T) => void,
): Promise<void> {
  const plan = planner(selected, o.now);
  const waiting = new Map<number, T>();
  let next = 0;
  const trim = heapTrimmer(TRIM_EVERY_HOSTS, selected.hosts.length);
  await forEachHostFacts(selected.hosts, o.open, { forks: o.forks }, (r, index, transport) => {
    trim();
    const planned = plan(r);
    waiting.set(index, keep(planned));
    for (let k = waiting.get(next); waiting.has(next); k = waiting.get(next)) {
      waiting.delete(next++);
      each(k as T);
    }
    return transport !== undefined && o.keepConnection?.(transport, planned.plan, index) === true;
  });
}

/** What the plan records of how it was made (`now`: its time, `createdAt`). */
export function planMeta(selected: SelectedHosts, o: MakePlanOptions, now: number): PlanMeta {
  return {
    createdAt: new Date(now).toISOString(),
    kpfleetVersion: o.kpfleetVersion,
    config: selected.config.file,
    configFingerprint: projectFingerprint(selected),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(selected.shard !== undefined ? { shard: selected.shard } : {}),
  };
}

/**
 * Reads the selected hosts and plans them: what `apply` executes, kept whole. `now` (default: when
 * reading starts) is the plan's time, `createdAt`.
 */
export async function makePlan(
  selected: SelectedHosts,
  o: MakePlanOptions,
  now = Date.now(),
): Promise<Plan> {
  const hostPlans: HostPlan[] = [];
  await planFleet(
    selected,
    { ...o, now },
    (x) => x.plan,
    (p) => hostPlans.push(p),
  );
  return buildPlan(hostPlans, planMeta(selected, o, now));
}
