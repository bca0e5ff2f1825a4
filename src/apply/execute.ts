/**
 * Apply: executes a plan in waves through the Transport interface. Per host: take the host's
 * lock, read the facts again (refusing a host whose facts changed since the plan), run each
 * change and verify it from the host (sysfs, the installed file, rpm), run the group's health
 * check; on any failure roll the host back to its state before the run. A failure on one host
 * is that host's result. Emits typed events; never prints, never sets an exit code.
 */
import { AppError, errorInfo, ExitCode } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { HostFacts } from '../facts/model.ts';
import type { Change, HostPlan, LoadChange, Plan, UploadChange } from '../plan/model.ts';
import { diffChanges } from '../plan/verify.ts';
import type { Amount } from '../config-model.ts';
import type { Transport } from '../transport/transport.ts';
import { LOCK_LOST_ERROR, underStepsLock } from './lock.ts';
import type { ApplyEvent, HostResult, StepRecord } from './events.ts';
import type { HostOutcome } from './outcomes.ts';
import { FAILURE_OUTCOMES } from './outcomes.ts';
import { cleanupStagingScript, resolveStaged, stashFolder, stashPath } from './scripts.ts';
import type { HostSession } from './session.ts';
import { endSession, keepCopy, lockHost, makeStaging, relock, uninstalled } from './session.ts';
import { lastLines } from './step-frame.ts';
import { judgeStep, splitStepOutput, stepFor } from './steps.ts';
import { tailText } from '../util/text.ts';
import { shouldHalt, splitWaves } from './waves.ts';
import { mapLimit } from '../util/pool.ts';

/** What a step record keeps of the step's output: its end, however much the host printed. */
const RECORD_LINES = 20;
const RECORD_CHARS = 4000;

export interface ApplyOptions<H extends { host: string }> {
  plan: Plan;
  /** How to reach each host of the plan (by inventory name). */
  hosts: ReadonlyMap<string, H>;
  open: (host: H) => Promise<Transport>;
  waves: readonly Amount[];
  maxFailures: Amount;
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
      steps: [],
      ...(h.error ? { error: h.error } : {}),
      durationMs: 0,
    });
  }
  const waves = splitWaves(pending, o.waves);
  o.onEvent({
    type: 'run-start',
    hosts: o.plan.hosts.length,
    waves: waves.map((w) => w.length),
    check: o.check,
    forks: o.forks,
  });

  let halted = false;
  let attempted = 0;
  let failed = 0;
  for (const [i, wave] of waves.entries()) {
    const n = i + 1;
    if (halted || o.signal?.aborted === true) {
      for (const h of wave) {
        results.set(
          h.host,
          skipped(
            h,
            n,
            halted
              ? 'halted: earlier waves failed more than max_failures allows'
              : 'interrupted before it started',
          ),
        );
      }
      continue;
    }
    o.onEvent({ type: 'wave-start', wave: n, hosts: wave.map((h) => h.host) });
    await mapLimit(wave, o.forks, async (hp) => {
      let r: HostResult;
      if (o.signal?.aborted === true) r = skipped(hp, n, 'interrupted before it started');
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
    halted = !o.check && shouldHalt(failed, attempted, o.maxFailures);
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
  });
  return { results: ordered, halted, interrupted };
}

function skipped(h: HostPlan, wave: number, message: string): HostResult {
  return { host: h.host, wave, outcome: 'skipped', message, steps: [], durationMs: 0 };
}

/**
 * The changes that undo `done` (in reverse), from the facts before the run; a module this run
 * uninstalled comes back from the copy this run kept (`stash.ts`).
 */
export function rollbackChanges(
  done: readonly Change[],
  before: HostFacts,
  runId: string,
): Change[] {
  const out: Change[] = [];
  const reason = 'rollback: as before the run';
  const load = (module: string): LoadChange => ({
    action: 'load',
    module,
    patch: module,
    // load it from the file it was installed as, where the facts show one for this kernel
    ...((): { file?: string } => {
      const i = before.installed.find((x) => x.kernel === before.kernel && x.module === module);
      return i ? { file: i.path } : {};
    })(),
    replaces: [],
    reenable: false,
    cves: [],
    reason,
  });
  for (const c of [...done].reverse()) {
    switch (c.action) {
      case 'install':
        out.push({
          action: 'uninstall',
          module: c.module,
          kernel: c.kernel,
          file: c.file.slice(c.file.lastIndexOf('/') + 1),
          reason,
        });
        break;
      case 'package-install':
        out.push(
          c.replacesPackage !== undefined
            ? {
                action: 'package-install',
                patch: c.patch,
                module: c.module,
                package: c.replacesPackage,
                reason,
              }
            : { action: 'package-remove', package: c.package, reason },
        );
        break;
      case 'load':
        if (c.reenable) break;
        // what it replaced comes back first, so the host is never without either (§5.3)
        for (const q of c.replaces) out.push(load(q));
        if (!before.patches.some((p) => p.name === c.module && p.enabled !== false))
          out.push({ action: 'unload', module: c.module, leftover: false, reason });
        break;
      case 'unload':
        if (!c.leftover && before.patches.some((p) => p.name === c.module))
          out.push(load(c.module));
        break;
      case 'uninstall':
        out.push({
          action: 'install',
          patch: c.patch ?? c.module,
          module: c.module,
          kernel: c.kernel,
          file: stashPath(runId, c.kernel, c.file),
          sha256:
            before.installed.find((i) => i.kernel === c.kernel && i.file === c.file)?.sha256 ?? '',
          reason,
        });
        break;
      case 'package-remove':
        out.push({
          action: 'package-install',
          patch: c.package,
          module: '',
          package: c.package,
          reason,
        });
        break;
      case 'upload':
      case 'enable-service':
        break;
    }
  }
  return out;
}

/**
 * The rollback's changes without the loads of a suspect (the crash guard: a patch that may have
 * taken this host down is never loaded again by kpfleet, not even to roll back), and the modules
 * so not loaded again: the host then needs a look.
 */
export function rollbackWithoutSuspects(
  done: readonly Change[],
  before: HostFacts,
  runId: string,
): { undo: Change[]; notReloaded: string[] } {
  const suspect = new Set((before.suspects ?? []).map((s) => s.module));
  const undo: Change[] = [];
  const notReloaded: string[] = [];
  for (const c of rollbackChanges(done, before, runId)) {
    if (c.action === 'load' && suspect.has(c.module)) notReloaded.push(c.module);
    else undo.push(c);
  }
  return { undo, notReloaded };
}

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
    steps,
    durationMs: performance.now() - t0,
    ...extra,
  });
  const conn = o.hosts.get(hp.host);
  if (!conn) return result('unreachable', 'not in the inventory any more');
  const phase = (p: 'connect' | 'lock' | 'facts' | 'health' | 'rollback' | 'unlock') =>
    o.onEvent({ type: 'host-phase', host: hp.host, phase: p });

  let t: Transport;
  try {
    phase('connect');
    t = await o.open(conn);
  } catch (err) {
    const e = errorInfo(err);
    return result(
      err instanceof AppError && err.exitCode === ExitCode.unreachable ? 'unreachable' : 'failed',
      e.message,
      { error: e },
    );
  }
  const s: HostSession = { t, keepStash: true, steps };
  /** Whether this run's lock on the host ended (read again right before each step is sent). */
  const lockLost = (): boolean => s.held?.ended === true;
  try {
    if (!o.check) {
      phase('lock');
      const lock = await lockHost(t, o);
      if (!lock.ok) return result('locked', lock.message);
      s.held = lock.held;
    }
    phase('facts');
    const facts = await gatherFacts(t);
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
        : o.replan && diffChanges(hp.changes, o.replan(hp.host, facts, before).changes);
    if (mismatch) {
      return result(
        'stale',
        `the plan is not what kpfleet.yml asks for on this host now (${mismatch}): nothing was done; plan again`,
        { before },
      );
    }
    if (o.check) {
      return result('would-change', `${String(hp.changes.length)} change(s) would be made`, {
        before,
      });
    }
    const uploads = hp.changes.flatMap((c) => (c.action === 'upload' ? [c.destination] : []));
    const staging = uploads.length ? await makeStaging(t, uploads) : '';
    s.unstage = cleanupStagingScript(staging, uploads);
    const done: Change[] = [];
    let failure: string | undefined;
    for (const [i, c] of hp.changes.entries()) {
      if (s.held?.ended === true) {
        s.keepStash = true;
        return result(
          'failed',
          `its lock on the host ended after ${String(i)} of ${String(hp.changes.length)} changes (kpfleet unlock, or the host ended it): no further change was made, each one done was verified; apply again converges it`,
          { before },
        );
      }
      if (o.signal?.aborted === true) {
        s.keepStash = false;
        return result(
          'interrupted',
          `interrupted after ${String(i)} of ${String(hp.changes.length)} changes; each one done was verified, so the host is in a known state; apply again converges it`,
          { before },
        );
      }
      const rec = await runStep(
        o,
        t,
        hp.host,
        c,
        i,
        hp.changes.length,
        { facts, staging, lockLost },
        false,
      );
      steps.push(rec);
      if (!rec.ok) {
        failure = `${rec.label}: ${rec.error ?? 'failed'}`;
        // a load that failed verification may have left its module behind: undo it too
        if (c.action === 'load' || c.action === 'install' || c.action === 'package-install')
          done.push(c);
        break;
      }
      done.push(c);
    }
    if (failure === undefined && o.healthCheck !== undefined) {
      phase('health');
      failure = await healthCheck(t, o.healthCheck, o.healthCheckTimeoutMs);
    }
    if (failure === undefined) {
      const afterFacts = await gatherFacts(t, { prelude: s.unstage });
      s.unstage = undefined;
      const after = o.fingerprint(afterFacts);
      // each load was verified when it ran; a later load may still have retired it
      const retired = retiredLoads(hp.changes, afterFacts);
      if (retired.length === 0) {
        s.keepStash = false;
        return result('changed', `${String(hp.changes.length)} change(s) done and verified`, {
          before,
          after,
        });
      }
      failure = `${retired.join(', ')} ${retired.length === 1 ? 'was' : 'were'} loaded and verified, then no longer enabled after the later loads of this run: a patch loaded after ${retired.length === 1 ? 'it' : 'them'} is an atomic-replace build (kpatch-build's default), which retires every patch loaded before it. Declare that patch with \`replaces\` in kpfleet.yml (a cumulative patch), or build the patches with --no-replace`;
    }
    // roll back to the state before the run
    phase('rollback');
    if (s.held?.ended === true) {
      // the connection dropped and took the lock with it: over a new connection, with the lock
      // taken again (unless another run has it now), the host is rolled back all the same
      s.held = (await relock(t, o, s.held)) ?? s.held;
    }
    const { undo, notReloaded } = rollbackWithoutSuspects(done, facts, o.runId);
    let rollbackOk = notReloaded.length === 0;
    for (const [i, c] of undo.entries()) {
      // another run may hold the host now: change nothing more (each change done was verified)
      if (s.held?.ended === true) {
        s.keepStash = true;
        return result(
          'failed',
          `${failure}; its lock on the host ended before the rollback (kpfleet unlock, or the host ended it), so it was not rolled back: apply again converges it`,
          { before },
        );
      }
      const rec = await runStep(
        o,
        t,
        hp.host,
        c,
        i,
        undo.length,
        { facts: await gatherFacts(t), staging, lockLost },
        true,
      );
      steps.push(rec);
      if (!rec.ok) rollbackOk = false;
    }
    const after = o.fingerprint(await gatherFacts(t, { prelude: s.unstage }));
    s.unstage = undefined;
    s.keepStash = !rollbackOk;
    const kept = uninstalled(steps)
      ? ` (the modules it uninstalled are kept in ${stashFolder(o.runId)})`
      : '';
    return rollbackOk
      ? result('failed', `${failure}; rolled back`, { before, after })
      : result(
          'rollback-failed',
          `${failure}; the rollback failed too: the host needs a look${kept}${notReloaded.length > 0 ? ` (${notReloaded.join(', ')} not loaded again: suspected of crashing this host, see kpfleet facts)` : ''}`,
          {
            before,
            after,
          },
        );
  } catch (err) {
    const e = errorInfo(err);
    return result(
      err instanceof AppError && err.exitCode === ExitCode.unreachable ? 'unreachable' : 'failed',
      e.message,
      { error: e },
    );
  } finally {
    await endSession(s, o.runId, () => phase('unlock'));
  }
}

async function runStep<H extends { host: string }>(
  o: ApplyOptions<H>,
  t: Transport,
  host: string,
  c: Change,
  index: number,
  total: number,
  ctx: { facts: HostFacts; staging: string; lockLost?: () => boolean },
  rollback: boolean,
): Promise<StepRecord> {
  const label = o.label(c);
  o.onEvent({ type: 'step-start', host, index, total, label, rollback });
  const t0 = performance.now();
  let rec: StepRecord;
  try {
    if (c.action === 'upload') {
      const content = await o.readPatch(c);
      const sum = o.sha256(content);
      if (sum !== c.sha256) {
        throw new AppError(
          'E_PATCH_CHANGED',
          `${c.source} changed since the plan (sha256 ${sum.slice(0, 12)}…, planned ${c.sha256.slice(0, 12)}…)`,
          { host, step: 'upload' },
        );
      }
      // its folder was made with the staging folder (makeStaging)
      const dest = resolveStaged(c.destination, ctx.staging);
      // 0644: `kpatch install` copies it with its mode, and the facts probe (no root) must be
      // able to read that copy's sha256 (found on the real-kernel VM)
      await t.upload(content, dest, {
        sha256: c.sha256,
        mode: 0o644,
        timeoutMs: o.commandTimeoutMs,
      });
      rec = { change: c, label, ok: true, durationMs: 0 };
    } else {
      // built first: its names (the kernel, the file) are checked before the stash uses them
      const s = stepFor(c, { facts: ctx.facts, staging: ctx.staging, runId: o.runId });
      if (c.action === 'uninstall' && !rollback) {
        // keep a copy, so a rollback can install it again; without one, no uninstall
        await keepCopy(t, {
          runId: o.runId,
          host,
          kernel: c.kernel,
          file: c.file,
        });
      }
      // checked again here: the lock may have ended while this step awaited the stash or facts
      if (ctx.lockLost?.() === true) throw new Error(LOCK_LOST_ERROR);
      const r = await t.exec(s.become ? underStepsLock(s.script, o.runId) : s.script, {
        become: s.become,
        step: s.step,
        timeoutMs: o.commandTimeoutMs,
      });
      const judged = judgeStep(c, r.stdout);
      const { output } = splitStepOutput(r.stdout);
      const text = tailText(
        [output.trim(), r.stderr.trim()].filter(Boolean).join('\n'),
        RECORD_LINES,
        RECORD_CHARS,
      );
      rec = {
        change: c,
        label,
        ok: judged.ok,
        durationMs: 0,
        ...(text ? { output: text } : {}),
        ...(judged.error !== undefined ? { error: judged.error } : {}),
      };
    }
  } catch (err) {
    rec = { change: c, label, ok: false, durationMs: 0, error: errorInfo(err).message };
  }
  rec.durationMs = performance.now() - t0;
  if (rollback) rec.rollback = true;
  o.onEvent({ type: 'step-end', host, index, step: rec });
  return rec;
}

/**
 * Runs the health check: undefined when it passed, else why not. A check that exits non-zero,
 * runs out of time or prints more than the output cap failed (the host is rolled back); a lost
 * connection is not the check's failure and is thrown.
 */
async function healthCheck(
  t: Transport,
  command: string,
  timeoutMs: number,
): Promise<string | undefined> {
  try {
    const h = await t.exec(command, { step: 'health check', timeoutMs });
    if (h.code === 0) return undefined;
    return `health check failed (exit ${String(h.code)}): ${lastLines(h.stderr || h.stdout, 2)}`;
  } catch (err) {
    if (err instanceof AppError && err.exitCode === ExitCode.changeFailed)
      return `health check failed: ${err.message}`;
    throw err;
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
