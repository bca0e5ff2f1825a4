/**
 * One host's coverage, from what it runs (facts), what its groups declare, and the plan made from
 * both: which declared patches are live, which declared CVEs they mitigate, why the others are not,
 * and until when the live ones are supported. The one place that classifies a host's coverage
 * (`CoverageState`) and a CVE's (`CveState`, `ExposedReason`). Pure.
 */
import type { Patch, Rollout } from '../config-model.ts';
import type { ErrorInfo } from '../errors.ts';
import { kernelMatches } from '../config/kernel-match.ts';
import type { HostDesired } from '../desired/resolve.ts';
import type { HostFacts } from '../facts/model.ts';
import { isUncovered } from '../plan/coverage.ts';
import { effectiveCves } from '../plan/cves.ts';
import { declaredPatches } from '../plan/host/context.ts';
import type { HostPlan } from '../plan/model.ts';
import { packageMatches } from '../plan/packages.ts';
import { supportEnd } from '../plan/reboot-due.ts';
import { pushAll } from '../util/arrays.ts';
import { stringPool } from '../util/text.ts';
import type {
  CoverageState,
  ExposedReason,
  HostCoverage,
  HostCve,
  PatchCoverage,
} from './model.ts';

const DAY_MS = 86_400_000;

export interface HostCoverageInput {
  desired: HostDesired;
  /** Absent where the facts could not be read (the plan says why). */
  facts: HostFacts | undefined;
  plan: HostPlan;
  patches: ReadonlyMap<string, Patch>;
  /** Each catalogue patch's CVEs with its predecessors' (`effectiveCves`). */
  /** What each catalogue patch fixes and until when, made once per run (`catalogueCoverage`). */
  catalogue: CatalogueCoverage;
  /**
   * What the coverage keeps of the host's own text (its kernel, the plan's reason, an error) goes
   * through this: `stringPool()`, one per run, so that a run holding every host's coverage holds
   * no host's probe output (a kernel release is cut from it) and one string per kernel. Without
   * it, a pool of this host's alone.
   */
  strings?: (text: string) => string;
}

/** The last day YYYY-MM-DD can write: a later support end is reported as it (earlier, never later). */
const LAST_DAY_MS = Date.parse('9999-12-31T00:00:00Z');

/** The last day a patch is supported (YYYY-MM-DD), if its window is known. */
function supportedUntil(p: Patch, rollout: Pick<Rollout, 'rebootDueAfterMs'>): string | undefined {
  const s = supportEnd(p, rollout);
  if (s === undefined) return undefined;
  return new Date(Math.min(s.end - DAY_MS, LAST_DAY_MS)).toISOString().slice(0, 10);
}

/** Per catalogue patch: the CVEs it fixes (`effectiveCves`) and its last supported day. */
export interface CatalogueCoverage {
  cves: ReadonlyMap<string, readonly string[]>;
  until: ReadonlyMap<string, string>;
}

/** The catalogue's side of coverage, the same for every host: computed once per run. */
export function catalogueCoverage(
  patches: ReadonlyMap<string, Patch>,
  rollout: Pick<Rollout, 'rebootDueAfterMs'>,
): CatalogueCoverage {
  const until = new Map<string, string>();
  for (const p of patches.values()) {
    const day = supportedUntil(p, rollout);
    if (day !== undefined) until.set(p.name, day);
  }
  return { cves: effectiveCves(patches), until };
}

/** Enabled in sysfs and not in transition: what the kernel runs now. */
function liveModule(facts: HostFacts, module: string): boolean {
  if (facts.transition?.patch === module) return false;
  const e = facts.patches.find((p) => p.name === module);
  return e !== undefined && e.enabled === true && e.transition !== true;
}

/**
 * In place for the running kernel's next boot: its file, by content (a copy of its name with
 * other content is stale: plan installs it again); or its package, with the module its %post
 * copies into /var/lib/kpatch there (dnf does not say whether it did, §4.3; plan installs it).
 */
function installedNow(facts: HostFacts, p: Patch): boolean {
  const src = p.source;
  const here = facts.installed.filter((i) => i.kernel === facts.kernel);
  if (src.kind === 'rpm')
    return (
      facts.packages.some((x) => packageMatches(x, src.package)) &&
      here.some((i) => i.module === p.module)
    );
  return here.some((i) => i.sha256 === src.sha256);
}

/** The earliest (or the latest) of some dates; YYYY-MM-DD sort as strings. */
export function earliest(
  dates: readonly (string | undefined)[],
  latest = false,
): string | undefined {
  let out: string | undefined;
  for (const d of dates)
    if (d !== undefined && (out === undefined || (latest ? d > out : d < out))) out = d;
  return out;
}

export function hostCoverage(input: HostCoverageInput): HostCoverage {
  const { desired, facts, plan, patches, catalogue } = input;
  const keep = input.strings ?? stringPool();
  const known = facts !== undefined && plan.status !== 'error' && plan.status !== 'unreachable';
  const kernel = facts?.kernel;
  const cvesOf = (name: string): readonly string[] => catalogue.cves.get(name) ?? [];
  const untilOf = (name: string): string | undefined => catalogue.until.get(name);

  const declared = declaredPatches(desired, patches).flatMap(({ p, state }) =>
    state === 'absent' ? [] : [{ p, state }],
  );
  const patchCoverage: PatchCoverage[] = declared.map(({ p, state }) => {
    const until = untilOf(p.name);
    const fits = kernel !== undefined && kernelMatches(p.kernels, kernel);
    return {
      patch: p.name,
      module: p.module,
      declared: state,
      fits,
      live: known && fits && liveModule(facts, p.module),
      installed: known && fits && installedNow(facts, p),
      cves: [...cvesOf(p.name)],
      ...(until !== undefined ? { supportedUntil: until } : {}),
    };
  });

  // every catalogue patch live on the host mitigates its CVEs, declared or not
  const live: Patch[] = [];
  if (known && kernel !== undefined)
    for (const p of patches.values())
      if (kernelMatches(p.kernels, kernel) && liveModule(facts, p.module)) live.push(p);

  const wanted = declared.filter((d) => d.state === 'loaded');
  const cveNames = [...new Set(wanted.flatMap((d) => cvesOf(d.p.name)))].sort();
  const cves: HostCve[] = cveNames.map((cve) => {
    const fixers = wanted.filter((d) => cvesOf(d.p.name).includes(cve));
    const by = live.filter((p) => cvesOf(p.name).includes(cve));
    const base = { cve, by: by.map((p) => p.name), patches: fixers.map((d) => d.p.name) };
    if (!known)
      return {
        ...base,
        state: 'unknown',
        reason: plan.status === 'error' ? 'error' : 'unreachable',
      };
    if (by.length > 0) {
      const until = earliest(
        by.map((p) => untilOf(p.name)),
        true,
      );
      return {
        ...base,
        state: 'mitigated',
        ...(until !== undefined ? { coveredUntil: until } : {}),
      };
    }
    const fits = kernel !== undefined && fixers.some((d) => kernelMatches(d.p.kernels, kernel));
    const reason: ExposedReason = !fits
      ? 'uncovered'
      : plan.status === 'blocked'
        ? 'blocked'
        : 'not-converged';
    return { ...base, state: 'exposed', reason };
  });

  const coveredUntil = earliest(live.map((p) => untilOf(p.name)));
  const { error } = plan;
  return {
    host: desired.host,
    groups: [...desired.groups],
    state: coverageState(known, plan, patchCoverage, cves, retiredBy(live, patches)),
    ...(kernel !== undefined ? { kernel: keep(kernel) } : {}),
    ...(facts?.arch ? { arch: keep(facts.arch) } : {}),
    ...(facts?.os.id !== undefined ? { os: keep(facts.os.id) } : {}),
    ...(plan.manager !== undefined
      ? { manager: plan.manager, managerReason: keep(plan.managerReason ?? '?') }
      : {}),
    plan: plan.status,
    reason: keep(plan.reason),
    patches: patchCoverage,
    cves,
    ...(coveredUntil !== undefined ? { coveredUntil } : {}),
    rebootDue: plan.findings.some((f) => f.kind === 'reboot-due'),
    ...(error !== undefined ? { error: keptError(error, keep) } : {}),
  };
}

/** The plan's error with its text kept by `keep`, its keys in their order. */
function keptError(error: ErrorInfo, keep: (text: string) => string): ErrorInfo {
  const out = { ...error };
  out.code = keep(error.code);
  out.message = keep(error.message);
  if (error.step !== undefined) out.step = keep(error.step);
  if (error.hint !== undefined) out.hint = keep(error.hint);
  return out;
}

/** The patches that live ones replace, transitively: their absence is no gap. */
function retiredBy(live: readonly Patch[], patches: ReadonlyMap<string, Patch>): Set<string> {
  const out = new Set<string>();
  const todo = live.flatMap((p) => p.replaces);
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    if (out.has(name)) continue;
    out.add(name);
    pushAll(todo, patches.get(name)?.replaces ?? []);
  }
  return out;
}

/** The one word for a host (the order of the tests is the order of precedence). */
function coverageState(
  known: boolean,
  plan: HostPlan,
  patches: readonly PatchCoverage[],
  cves: readonly HostCve[],
  retired: ReadonlySet<string>,
): CoverageState {
  if (!known) return plan.status === 'error' ? 'error' : 'unreachable';
  // the planner's word, decided once (plan/coverage.ts): declared patches, none fits the kernel
  if (isUncovered(plan)) return 'uncovered';
  const wanted = patches.filter((p) => p.declared === 'loaded');
  if (wanted.length === 0) return 'none';
  const notLive = wanted.some((p) => p.fits && !p.live && !retired.has(p.patch));
  return notLive || cves.some((c) => c.state !== 'mitigated') ? 'exposed' : 'protected';
}
