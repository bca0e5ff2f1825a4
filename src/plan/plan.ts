/**
 * The planner: desired state × facts → each host's ordered changes, with the reason for each and
 * for "no change". Pure and synchronous (no I/O; `now` and the facts fingerprint are inputs).
 *
 * `planHost` builds the host's context once (`host/context.ts`), then runs the phases
 * (`host/phases/*.ts`) in turn; each adds changes and findings to a draft (`host/draft.ts`) or
 * blocks the host. Order on a host: re-installs' removals, uploads, installs (running kernel,
 * then declared newer kernels), package installs, kpatch.service, loads, then every removal:
 * unloads (a replaced predecessor only after its successor's load), uninstalls, package removals.
 * So the host is never without the old or the new patch (docs/kpatch-behaviour.md §5.3) and an
 * installed file never disappears before its replacement is installed (boot-time loading, §4.2).
 */
import { MANAGER_NAMES } from '../config-model.ts';
import type { ErrorInfo } from '../errors.ts';
import { pushAll } from '../util/arrays.ts';
import { plural } from '../util/text.ts';
import { hostContext, isEnabled, type HostContext, type PlanHostInput } from './host/context.ts';
import { changesInOrder, emptyDraft, type Draft } from './host/draft.ts';
import { absent } from './host/phases/absent.ts';
import {
  kpatchMissing,
  packagesNeedKpatch,
  livepatchUnsupported,
  transitionInProgress,
  uncoveredKernel,
} from './host/phases/blockers.ts';
import { boot } from './host/phases/boot.ts';
import { crashGuard } from './host/phases/crash-guard.ts';
import { signatures } from './host/phases/signatures.ts';
import { installs } from './host/phases/installs.ts';
import { migrate } from './host/phases/migrate.ts';
import { replaceMode } from './host/phases/replace-mode.ts';
import { disabledInstalled, loads } from './host/phases/loads.ts';
import { unmanaged } from './host/phases/unmanaged.ts';
import { isUncovered } from './coverage.ts';
import { reopenedCves } from './cves.ts';
import type { ChangeAction, HostPlan, OnHosts, Plan, PlanSummary } from './model.ts';
import { CHANGE_ACTIONS, PLAN_FORMAT, PLAN_VERSION } from './model.ts';
import { rebootDue } from './reboot-due.ts';

export type { PlanHostInput } from './host/context.ts';
export { rebootDue } from './reboot-due.ts';
export { suspectNotes, suspectSentence } from './suspect.ts';
export { isUncovered, uncoveredHosts } from './coverage.ts';
export type { UncoveredHost } from './coverage.ts';

/** One step of planning a host: reads the context, adds to the draft (or blocks the host). */
type Phase = (ctx: HostContext, draft: Draft) => void;

/** The phases, in order. The changes' own order on the host is `changesInOrder`'s. */
const PHASES: readonly Phase[] = [
  rebootDueNotes,
  transitionInProgress,
  uncoveredKernel,
  installs,
  migrate,
  loads,
  disabledInstalled,
  absent,
  unmanaged,
  boot,
  replaceMode,
  crashGuard,
  signatures,
  kpatchMissing,
  packagesNeedKpatch,
  livepatchUnsupported,
];

/** Loaded patches past their support window: warnings, whatever else is planned. */
function rebootDueNotes(ctx: HostContext, draft: Draft): void {
  const { facts, patches, input } = ctx;
  pushAll(draft.findings, rebootDue(facts, patches, input.rollout, input.now));
}

export function planHost(input: PlanHostInput): HostPlan {
  const ctx = hostContext(input);
  const draft = emptyDraft();
  const base = {
    host: input.desired.host,
    groups: input.desired.groups,
    kernel: ctx.kernel,
    manager: ctx.manager.name,
    managerReason: ctx.manager.reason,
    factsFingerprint: input.fingerprint,
  };
  for (const phase of PHASES) {
    phase(ctx, draft);
    if (draft.blocked !== undefined) {
      const { blocked: reason, findings } = draft;
      return { ...base, status: 'blocked', reason, changes: [], findings, cves: [] };
    }
  }
  const changes = changesInOrder(draft);
  const reopens = reopenedCves(ctx.patches, {
    enabledNow: ctx.enabledNow,
    unloaded: draft.unloads.filter((u) => !u.leftover && isEnabled(ctx, u.module)),
    loaded: draft.loads.map((l) => l.module),
  });
  return {
    ...base,
    status: changes.length > 0 ? 'changes' : 'converged',
    reason: hostReason(ctx, changes.length),
    changes,
    findings: draft.findings,
    cves: [...new Set(draft.loads.flatMap((l) => l.cves))].sort(),
    ...(reopens.length > 0 ? { reopens } : {}),
  };
}

/** The host's one line: what the changes achieve, or why nothing changes. */
function hostReason(ctx: HostContext, changes: number): string {
  const { declared, present, fitting, loadedWanted } = ctx;
  if (changes > 0) return `${plural(changes, 'change')} to reach the declared state`;
  if (declared.length === 0) return 'no patch is declared for this host';
  if (present.length > 0 && fitting.length === 0)
    return `nothing declared fits kernel ${ctx.kernel}`;
  const parts = [
    loadedWanted.length > 0 && `${plural(loadedWanted.length, 'patch')} loaded and installed`,
    fitting.length - loadedWanted.length > 0 &&
      `${plural(fitting.length - loadedWanted.length, 'patch')} installed`,
    declared.length - present.length > 0 &&
      `${plural(declared.length - present.length, 'patch')} absent`,
  ].filter((x): x is string => typeof x === 'string');
  return `as declared: ${parts.join(', ')}`;
}

/** A host the planner could not see: its facts failed (error) or it was not reached. */
export function hostFailure(
  host: string,
  groups: readonly string[],
  error: ErrorInfo,
  unreachable: boolean,
): HostPlan {
  return {
    host,
    groups: [...groups],
    status: unreachable ? 'unreachable' : 'error',
    reason: unreachable ? 'not reached' : 'facts could not be read',
    changes: [],
    findings: [],
    error,
    cves: [],
  };
}

export function summarizePlan(hosts: readonly HostPlan[]): PlanSummary {
  const tally = new PlanTally();
  for (const h of hosts) tally.add(h);
  return tally.summary();
}

/**
 * A plan's summary counted host by host, so that a plan written as its hosts are planned
 * (`report/plan-stream.ts`) needs no host kept to write it: `summary()` after the last `add` is
 * `summarizePlan` of the same hosts.
 */
export class PlanTally {
  private hosts = 0;
  private readonly statuses = new Map<HostPlan['status'], number>();
  private uncovered = 0;
  private readonly actions: Partial<Record<ChangeAction, number>> = {};
  private readonly findings: PlanSummary['findings'] = {};
  private readonly cves = new Set<string>();
  private readonly removes = new Map<string, number>();
  private readonly reopens = new Map<string, number>();
  private readonly managers: PlanSummary['managers'] = {};
  /** A finding of severity error on some host (the plan's exit code is then 1). */
  errorFinding = false;

  add(h: HostPlan): void {
    this.hosts++;
    this.statuses.set(h.status, (this.statuses.get(h.status) ?? 0) + 1);
    if (isUncovered(h)) this.uncovered++;
    if (h.manager !== undefined) this.managers[h.manager] = (this.managers[h.manager] ?? 0) + 1;
    for (const c of h.changes) this.actions[c.action] = (this.actions[c.action] ?? 0) + 1;
    for (const kind of new Set(h.findings.filter((x) => x.severity !== 'info').map((x) => x.kind)))
      this.findings[kind] = (this.findings[kind] ?? 0) + 1;
    if (hasErrorFinding(h)) this.errorFinding = true;
    for (const c of h.cves) this.cves.add(c);
    countNames(this.removes, removedModules(h));
    countNames(this.reopens, h.reopens ?? []);
  }

  summary(): PlanSummary {
    const ordered: Partial<Record<ChangeAction, number>> = {};
    for (const a of CHANGE_ACTIONS) if (this.actions[a] !== undefined) ordered[a] = this.actions[a];
    const count = (s: HostPlan['status']) => this.statuses.get(s) ?? 0;
    return {
      hosts: this.hosts,
      converged: count('converged'),
      changes: count('changes'),
      blocked: count('blocked'),
      errors: count('error'),
      unreachable: count('unreachable'),
      uncovered: this.uncovered,
      actions: ordered,
      cves: [...this.cves].sort(),
      ...onHosts('removes', this.removes),
      ...onHosts('reopens', this.reopens),
      findings: this.findings,
      managers: byManager(this.managers),
    };
  }
}

/** Hosts per manager, in `MANAGER_NAMES` order (so that the JSON does not depend on host order). */
function byManager(count: PlanSummary['managers']): PlanSummary['managers'] {
  const out: PlanSummary['managers'] = {};
  for (const m of MANAGER_NAMES) if (count[m] !== undefined) out[m] = count[m];
  return out;
}

/** A finding of severity error on the host: the plan's exit code is then 1. */
export function hasErrorFinding(h: HostPlan): boolean {
  return h.findings.some((f) => f.severity === 'error');
}

function countNames(count: Map<string, number>, names: readonly string[]): void {
  for (const n of new Set(names)) count.set(n, (count.get(n) ?? 0) + 1);
}

/**
 * What a host's changes remove: modules unloaded while enabled, not as the clean-up after a
 * successor's load (`after`) and not an inert leftover.
 */
export function removedModules(h: HostPlan): string[] {
  return h.changes.flatMap((c) =>
    c.action === 'unload' && !c.leftover && c.after === undefined ? [c.module] : [],
  );
}

/** `{ [key]: [{ name, hosts }] }` by name, or nothing when no host has any. */
function onHosts<K extends string>(
  key: K,
  count: ReadonlyMap<string, number>,
): Partial<Record<K, OnHosts[]>> {
  if (count.size === 0) return {};
  const list = [...count]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, n]) => ({ name, hosts: n }));
  return { [key]: list } as Partial<Record<K, OnHosts[]>>;
}

/** What a plan records of how it was made, beside its hosts and summary. */
export type PlanMeta = Omit<Plan, 'format' | 'version' | 'hosts' | 'summary'>;

export function buildPlan(hosts: HostPlan[], meta: PlanMeta): Plan {
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    createdAt: meta.createdAt,
    kpfleetVersion: meta.kpfleetVersion,
    config: meta.config,
    configFingerprint: meta.configFingerprint,
    ...(meta.limit !== undefined ? { limit: meta.limit } : {}),
    ...(meta.shard !== undefined ? { shard: meta.shard } : {}),
    ...(meta.shards !== undefined ? { shards: meta.shards } : {}),
    hosts,
    summary: summarizePlan(hosts),
  };
}
