/**
 * Rollback: the changes that undo what a run did on a host (`rollbackChanges`, pure: from the
 * facts before the run), and the flow that runs them after a failure: the lock taken again when
 * the connection took it, each undo step with facts read afresh, then the host's state after it
 * and the outcome it makes, `failed` (rolled back) or `rollback-failed`.
 */
import { gatherFacts } from '../facts/gather.ts';
import type { HostFacts } from '../facts/model.ts';
import type { Change, LoadChange } from '../plan/model.ts';
import type { HostOutcome } from './outcomes.ts';
import { runStep } from './run-step.ts';
import type { StepRunner } from './run-step.ts';
import { stashFolder, stashPath } from './scripts.ts';
import type { HostSession, LockOwner } from './session.ts';
import { relock, uninstalled } from './session.ts';

/**
 * The changes that undo `done` (in reverse), from the facts before the run; a module this run
 * uninstalled comes back from the copy this run kept (`scripts.ts`, the stash).
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
    replacesModules: [],
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
        for (const q of c.replacesModules) out.push(load(q));
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

/** What the rollback flow needs of the run (`ApplyOptions` has each). */
export interface RollbackRunner extends StepRunner, LockOwner {
  fingerprint: (facts: HostFacts) => string;
}

/** The run that failed on a host: why, what it had done, and the facts before it. */
export interface FailedRun {
  host: string;
  /** Why it failed, one sentence: the message starts with it. */
  failure: string;
  /** The changes done (and a load, install or package install that failed: it may be half done). */
  done: readonly Change[];
  /** The facts read under the lock before the run. */
  facts: HostFacts;
  /** The absolute staging folder (`scripts.ts` stagingOf), or '' without uploads. */
  staging: string;
  /** Whether this run's lock on the host ended (read again right before each step is sent). */
  lockLost: () => boolean;
}

/**
 * Rolls the host back to its state before the run, as far as it can: the host's outcome, its
 * message, and the fingerprint of its facts after (none when it was not rolled back).
 */
export async function rollBack(
  o: RollbackRunner,
  s: HostSession,
  f: FailedRun,
): Promise<{ outcome: HostOutcome; message: string; after?: string }> {
  if (s.held?.ended === true) {
    // the connection dropped and took the lock with it: over a new connection, with the lock
    // taken again (unless another run has it now), the host is rolled back all the same
    s.held = (await relock(s.t, o, s.held)) ?? s.held;
  }
  const { undo, notReloaded } = rollbackWithoutSuspects(f.done, f.facts, o.runId);
  let rollbackOk = notReloaded.length === 0;
  for (const [i, c] of undo.entries()) {
    // another run may hold the host now: change nothing more (each change done was verified)
    if (s.held?.ended === true) {
      s.keepStash = true;
      return {
        outcome: 'failed',
        message: `${f.failure}; its lock on the host ended before the rollback (kpfleet unlock, or the host ended it), so it was not rolled back: apply again converges it`,
      };
    }
    const facts = await gatherFacts(s.t);
    const rec = await runStep(
      o,
      s.t,
      f.host,
      c,
      i,
      undo.length,
      { facts, staging: f.staging, lockLost: f.lockLost },
      true,
    );
    s.steps.push(rec);
    if (!rec.ok) rollbackOk = false;
  }
  const after = o.fingerprint(await gatherFacts(s.t, { prelude: s.unstage }));
  s.unstage = undefined;
  s.keepStash = !rollbackOk;
  const kept = uninstalled(s.steps)
    ? ` (the modules it uninstalled are kept in ${stashFolder(o.runId)})`
    : '';
  if (rollbackOk) return { outcome: 'failed', message: `${f.failure}; rolled back`, after };
  return {
    outcome: 'rollback-failed',
    message: `${f.failure}; the rollback failed too: the host needs a look${kept}${notReloaded.length > 0 ? ` (${notReloaded.join(', ')} not loaded again: suspected of crashing this host, see kpfleet facts)` : ''}`,
    after,
  };
}
