/**
 * Apply: runs a plan in waves through the Transport interface and reports typed events
 * (`events.ts`); never prints, never sets an exit code. This file is the orchestration: the
 * waves and the failure budget (`waves.ts`), then each host's flow: connect, take its lock
 * (`session.ts`), read the facts again (refusing a host whose facts or plan changed), run each
 * change and verify it from the host (`run-step.ts`, `steps.ts`), run the group's health check;
 * on any failure roll the host back to its state before the run (`rollback.ts`). A failure on
 * one host is that host's result.
 */
import { AppError, errorInfo, ExitCode } from '../errors.ts';
import { FactsError, gatherFacts } from '../facts/gather.ts';
import type { HostFacts } from '../facts/model.ts';
import type { Change, HostPlan, Plan, UploadChange } from '../plan/model.ts';
import { uncoveredHosts } from '../plan/coverage.ts';
import { diffHostPlan } from '../plan/verify.ts';
import type { Amount } from '../config-model.ts';
import type { Transport } from '../transport/transport.ts';
import type { ApplyEvent, HostResult, StepRecord } from './events.ts';
import type { HostOutcome } from './outcomes.ts';
import { FAILURE_OUTCOMES } from './outcomes.ts';
import { rollBack } from './rollback.ts';
import { healthCheck } from './run-step.ts';
import { runChanges } from './host-changes.ts';
import type { StepContext } from './run-step.ts';
import { cleanupStagingScript } from './scripts.ts';
import type { HostSession } from './session.ts';
import { endSession, keptStash, lockHost } from './session.ts';
import { shouldHalt, splitWaves } from './waves.ts';
import { mapLimit } from '../util/pool.ts';
import { plural } from '../util/text.ts';

export interface ApplyOptions<H extends { host: string }> {
  plan: Plan;
  /** How to reach each host of the plan (by inventory name). */
  hosts: ReadonlyMap<string, H>;
  open: (host: H) => Promise<Transport>;
  waves: readonly Amount[];
  maxFailures: Amount;
  /**
   * `apply --wave K`: the plan's hosts with changes are wave K of a whole plan's `number` of waves
   * (`selectWave`), run as one wave numbered K. The failure budget is not judged here: it is over
   * every shard's results, `kpfleet report merge`'s gate.
   */
  onlyWave?: { wave: number; of: number };
  forks: number;
  healthCheck?: string;
  healthCheckTimeoutMs: number;
  commandTimeoutMs: number;
  /** `--check`: read and compare everything, change nothing. */
  check: boolean;
  /** The content of the catalogue's file for an upload (never a path the plan names). */
  readPatch: (change: UploadChange) => Promise<Buffer>;
  /**
   * The host planned again from the facts read under its lock: the saved changes run only if
   * they are exactly these (a saved plan is data from outside, docs/security.md).
   */
  replan?: (host: string, facts: HostFacts, fingerprint: string) => HostPlan;
  sha256: (content: Buffer) => string;
  fingerprint: (facts: HostFacts) => string;
  /** Written into the host's lock: who runs this, and an id for this run. */
  operator: string;
  runId: string;
  now: () => Date;
  /** Aborted on Ctrl-C / SIGTERM / SIGHUP: no new host or step starts. */
  signal?: AbortSignal;
  /** One line label of a change, for events (`report/plan` describeChange). */
  label: (c: Change) => string;
  onEvent: (e: ApplyEvent) => void;
  /** Resolves once the records the events so far called for are on disk (run-step.ts). */
  recorded?: () => Promise<void>;
}

/** A host's message when an interrupt came before it started (outcome `skipped`). */
export const NOT_STARTED_INTERRUPTED = 'interrupted before it started';

/** Whether an interrupt cut a host short: stopped between its changes, or not started. */
export function cutShort(results: readonly HostResult[]): boolean {
  return results.some(
    (r) =>
      r.outcome === 'interrupted' ||
      (r.outcome === 'skipped' && r.message === NOT_STARTED_INTERRUPTED),
  );
}

export interface ApplyResult {
  results: HostResult[];
  halted: boolean;
  interrupted: boolean;
}

export async function applyPlan<H extends { host: string }>(
  o: ApplyOptions<H>,
): Promise<ApplyResult> {
  const started = performance.now();
  const results = new Map<string, HostResult>();
  const pending = o.plan.hosts.filter((h) => h.status === 'changes');
  for (const h of o.plan.hosts) {
    if (h.status === 'changes') continue;
    const outcome: HostOutcome =
      h.status === 'converged'
        ? 'unchanged'
        : h.status === 'unreachable'
          ? 'unreachable'
          : 'blocked';
    results.set(h.host, {
      host: h.host,
      wave: 0,
      outcome,
      message: h.status === 'converged' ? `nothing to do: ${h.reason}` : `not changed: ${h.reason}`,
      ...managerOf(h),
      steps: [],
      ...(h.error ? { error: h.error } : {}),
      durationMs: 0,
    });
  }
  const only = o.onlyWave;
  const waves = only ? (pending.length > 0 ? [pending] : []) : splitWaves(pending, o.waves);
  o.onEvent({
    type: 'run-start',
    hosts: o.plan.hosts.length,
    waves: waves.map((w) => w.length),
    check: o.check,
    forks: o.forks,
    ...(only ? { onlyWave: only } : {}),
  });

  let halted = false;
  let attempted = 0;
  let failed = 0;
  for (const [i, wave] of waves.entries()) {
    const n = only?.wave ?? i + 1;
    if (halted || o.signal?.aborted === true) {
      for (const h of wave) {
        results.set(
          h.host,
          skipped(
            h,
            n,
            halted
              ? 'halted: earlier waves failed more than max_failures allows'
              : NOT_STARTED_INTERRUPTED,
          ),
        );
      }
      continue;
    }
    o.onEvent({ type: 'wave-start', wave: n, hosts: wave.map((h) => h.host) });
    await mapLimit(wave, o.forks, async (hp) => {
      let r: HostResult;
      if (o.signal?.aborted === true) r = skipped(hp, n, NOT_STARTED_INTERRUPTED);
      else {
        o.onEvent({ type: 'host-start', host: hp.host, wave: n });
        r = await runHost(o, hp, n);
      }
      results.set(hp.host, r);
      o.onEvent({ type: 'host-end', result: r });
    });
    const waveResults = wave.map((h) => results.get(h.host));
    attempted += waveResults.filter((r) => r && r.outcome !== 'skipped').length;
    failed += waveResults.filter((r) => r && FAILURE_OUTCOMES.has(r.outcome)).length;
    halted = !o.check && !only && shouldHalt(failed, attempted, o.maxFailures);
    o.onEvent({
      type: 'wave-end',
      wave: n,
      failed: waveResults.filter((r) => r && FAILURE_OUTCOMES.has(r.outcome)).length,
      attempted: wave.length,
      halted: halted && n < waves.length,
    });
  }
  const ordered = o.plan.hosts.flatMap((h) => {
    const r = results.get(h.host);
    return r ? [r] : [];
  });
  const interrupted = o.signal?.aborted === true;
  o.onEvent({
    type: 'run-end',
    results: ordered,
    halted,
    interrupted,
    durationMs: performance.now() - started,
    uncovered: uncoveredHosts(o.plan.hosts),
  });
  return { results: ordered, halted, interrupted };
}

function skipped(h: HostPlan, wave: number, message: string): HostResult {
  return {
    host: h.host,
    wave,
    outcome: 'skipped',
    message,
    ...managerOf(h),
    steps: [],
    durationMs: 0,
  };
}

/** The host's manager and why, from its plan, for its result (nothing where it was not read). */
function managerOf(h: HostPlan): Pick<HostResult, 'manager' | 'managerReason'> {
  return h.manager === undefined
    ? {}
    : { manager: h.manager, managerReason: h.managerReason ?? '?' };
}

/** One host's flow, from its connection to its result (`events.ts` HostResult). */
async function runHost<H extends { host: string }>(
  o: ApplyOptions<H>,
  hp: HostPlan,
  wave: number,
): Promise<HostResult> {
  const t0 = performance.now();
  const steps: StepRecord[] = [];
  const result = (
    outcome: HostOutcome,
    message: string,
    extra: Partial<HostResult> = {},
  ): HostResult => ({
    host: hp.host,
    wave,
    outcome,
    message,
    ...managerOf(hp),
    steps,
    durationMs: performance.now() - t0,
    ...extra,
  });
  /** An error thrown on the way: the host is unreachable (no connection) or failed. */
  /** `kept`: where the modules it uninstalled are kept (`keptStash`), once the session began. */
  const thrown = (err: unknown, kept = ''): HostResult => {
    const e = errorInfo(err);
    const lost = err instanceof AppError && err.exitCode === ExitCode.unreachable;
    return result(lost ? 'unreachable' : 'failed', `${e.message}${kept}`, { error: e });
  };
  const conn = o.hosts.get(hp.host);
  if (!conn) return result('unreachable', 'not in the inventory any more');
  const phase = (p: 'connect' | 'lock' | 'facts' | 'health' | 'rollback' | 'unlock') =>
    o.onEvent({ type: 'host-phase', host: hp.host, phase: p });

  let t: Transport;
  try {
    phase('connect');
    t = await o.open(conn);
  } catch (err) {
    return thrown(err);
  }
  const s: HostSession = { t, keepStash: true, steps };
  /** Whether this run's lock on the host ended (read again right before each step is sent). */
  const lockLost = (): boolean => s.held?.ended === true;
  try {
    let facts: HostFacts;
    if (!o.check) {
      // the facts are read in the lock's session, once it is held
      phase('lock');
      const lock = await lockHost(t, o);
      if (!lock.ok) return result('locked', lock.message);
      s.held = lock.held;
      facts = lock.facts;
    } else {
      phase('facts');
      facts = await gatherFacts(t);
    }
    const before = o.fingerprint(facts);
    if (before !== hp.factsFingerprint) {
      return result(
        'stale',
        'its facts changed since the plan was made (fingerprint differs): nothing was done; plan again',
        { before },
      );
    }
    const mismatch =
      facts.kernel !== hp.kernel
        ? `it runs kernel ${facts.kernel}, the plan is for ${String(hp.kernel)}`
        : o.replan && diffHostPlan(hp, o.replan(hp.host, facts, before));
    if (mismatch) {
      return result(
        'stale',
        `the plan is not what kpfleet.yml asks for on this host now (${mismatch}): nothing was done; plan again`,
        { before },
      );
    }
    if (o.check) {
      return result('would-change', `${plural(hp.changes.length, 'change')} would be made`, {
        before,
      });
    }
    const uploads = hp.changes.flatMap((c) => (c.action === 'upload' ? [c.destination] : []));
    // each upload makes its staging folders (run-step.ts); whatever happens, they go at the end
    s.unstage = cleanupStagingScript(uploads);
    const ctx: StepContext = { facts, staging: '', lockLost, manager: hp.manager };
    const ran = await runChanges(o, t, hp.host, hp.changes, { ctx, held: () => s.held, steps });
    // once an upload said where the staging folder is, the clean-up names it so
    if (ctx.staging !== '') s.unstage = cleanupStagingScript(uploads, ctx.staging);
    if (ran.kind === 'lock-ended') {
      s.keepStash = true;
      return result(
        'failed',
        `its lock on the host ended after ${String(ran.at)} of ${String(hp.changes.length)} changes (kpfleet unlock, or the host ended it): no further change was made, each one done was verified; apply again converges it${keptStash(steps, o.runId)}`,
        { before },
      );
    }
    if (ran.kind === 'interrupted') {
      s.keepStash = false;
      return result(
        'interrupted',
        `interrupted after ${String(ran.at)} of ${String(hp.changes.length)} changes; each one done was verified, so the host is in a known state; apply again converges it`,
        { before },
      );
    }
    const { done } = ran;
    let failure = ran.failure;
    if (failure === undefined && o.healthCheck !== undefined) {
      phase('health');
      failure = await healthCheck(t, o.healthCheck, o.healthCheckTimeoutMs);
    }
    if (failure === undefined) {
      let afterFacts: HostFacts;
      try {
        afterFacts = await gatherFacts(t, { prelude: s.unstage });
      } catch (err) {
        // every change done and verified, the state after not read: said so, not just the read's error
        const e = errorInfo(err);
        // (a facts error's hint says nothing was planned for the host: not so after its changes)
        if (err instanceof FactsError) delete e.hint;
        const lost = err instanceof AppError && err.exitCode === ExitCode.unreachable;
        return result(
          lost ? 'unreachable' : 'failed',
          `${plural(hp.changes.length, 'change')} done and verified, but the host could not be read after them (${e.message}): whether a later load retired an earlier one is not known; kpfleet plan shows its state${keptStash(steps, o.runId)}`,
          { before, error: e },
        );
      }
      s.unstage = undefined;
      const after = o.fingerprint(afterFacts);
      // each load was verified when it ran; a later load may still have retired it
      const retired = retiredLoads(hp.changes, afterFacts);
      if (retired.length === 0) {
        s.keepStash = false;
        return result('changed', `${plural(hp.changes.length, 'change')} done and verified`, {
          before,
          after,
        });
      }
      failure = `${retired.join(', ')} ${retired.length === 1 ? 'was' : 'were'} loaded and verified, then no longer enabled after the later loads of this run: a patch loaded after ${retired.length === 1 ? 'it' : 'them'} is an atomic-replace build (kpatch-build's default), which retires every patch loaded before it. Declare that patch with \`replaces\` in kpfleet.yml (a cumulative patch), or build the patches with --no-replace`;
    }
    // roll back to the state before the run
    phase('rollback');
    const r = await rollBack(o, s, {
      host: hp.host,
      failure,
      done,
      facts,
      staging: ctx.staging,
      lockLost,
      manager: ctx.manager,
      sentUnknown: ran.kind === 'failed' && ran.unknown,
    });
    return result(
      r.outcome,
      r.message,
      r.after === undefined ? { before } : { before, after: r.after },
    );
  } catch (err) {
    // the stash is kept (s.keepStash is cleared only on the ways out that return)
    return thrown(err, s.keepStash ? keptStash(steps, o.runId) : '');
  } finally {
    await endSession(s, o.runId, () => phase('unlock'));
  }
}

/** Modules this host's plan loaded that the facts read after the run no longer show enabled. */
function retiredLoads(changes: readonly Change[], after: HostFacts): string[] {
  const enabled = new Set(after.patches.filter((p) => p.enabled).map((p) => p.name));
  return [
    ...new Set(
      changes.flatMap((c) => (c.action === 'load' && !enabled.has(c.module) ? [c.module] : [])),
    ),
  ];
}
