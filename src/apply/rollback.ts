/**
 * Rollback: the changes that undo what a run did on a host (`rollbackChanges`, pure: from the
 * facts before the run), and the flow that runs them after a failure: the lock taken again when
 * the connection took it, each undo step with facts read afresh, then the host's state after it
 * and the outcome it makes, `failed` (rolled back) or `rollback-failed`.
 */
import { errorInfo } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { HostFacts } from '../facts/model.ts';
import type { Change, LoadChange } from '../plan/model.ts';
import { SudoPasswordError } from '../transport/errors.ts';
import type { HostOutcome } from './outcomes.ts';
import { BATCH_NOT_OURS, BATCH_RUNNING, BATCH_STOPPED, stopBatchScript } from './lock.ts';
import { runStep } from './run-step.ts';
import { lastLines } from './step-frame.ts';
import type { StepRunner } from './run-step.ts';
import { stashPath } from './scripts.ts';
import { STASH_ROOT } from '../host-paths.ts';
import type { ManagerName } from '../config-model.ts';
import type { HostSession, LockOwner } from './session.ts';
import { keptStash, relock, unreachable } from './session.ts';

/**
 * The changes that undo `done` (in reverse), from the facts before the run; a module this run
 * uninstalled comes back from the copy this run kept (`scripts.ts`, the stash).
 */
export function rollbackChanges(
  done: readonly Change[],
  before: HostFacts,
  runId: string,
  manager: ManagerName = 'kpatch',
): Change[] {
  // the manager's own store first: a klp load names its file (§K.3)
  const stores =
    manager === 'klp'
      ? [...(before.klp?.store ?? []), ...before.installed]
      : [...before.installed, ...(before.klp?.store ?? [])];
  const out: Change[] = [];
  const reason = 'rollback: as before the run';
  const load = (module: string): LoadChange => ({
    action: 'load',
    module,
    patch: module,
    // load it from the file it was installed as, where the facts show one for this kernel
    ...((): { file?: string } => {
      const i = stores.find((x) => x.kernel === before.kernel && x.module === module);
      return i ? { file: i.path } : {};
    })(),
    replacesModules: [],
    reenable: false,
    cves: [],
    reason,
  });
  for (const c of [...done].reverse()) {
    switch (c.action) {
      case 'install': {
        // an install into the klp store replaced a copy of the same name, which it kept first
        // (`klp-steps.ts` copyInstall): that copy goes back
        const store = c.store ?? manager;
        const replaced =
          store === 'klp' && !c.file.startsWith(`${STASH_ROOT}/`)
            ? before.klp?.store.find((i) => i.kernel === c.kernel && i.file === `${c.module}.ko`)
            : undefined;
        if (replaced !== undefined) {
          out.push({
            action: 'install',
            patch: c.patch,
            module: c.module,
            kernel: c.kernel,
            file: stashPath(runId, c.kernel, replaced.file, 'klp'),
            sha256: replaced.sha256,
            ...(manager !== 'klp' ? { store: 'klp' as const } : {}),
            reason,
          });
          break;
        }
        out.push({
          action: 'uninstall',
          module: c.module,
          kernel: c.kernel,
          // where the install put it: the klp store names it `<module>.ko` (§K.1)
          file:
            (c.store ?? manager) === 'klp'
              ? `${c.module}.ko`
              : c.file.slice(c.file.lastIndexOf('/') + 1),
          ...((c.store ?? manager) === 'klp' ? { store: 'klp' as const } : {}),
          reason,
        });
        break;
      }
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
          file: stashPath(runId, c.kernel, c.file, c.store ?? 'kpatch'),
          sha256:
            (c.store === 'klp' ? (before.klp?.store ?? []) : before.installed).find(
              (i) => i.kernel === c.kernel && i.file === c.file,
            )?.sha256 ?? '',
          // back into the store it came from, which is not the manager's on a host being moved
          ...((c.store ?? 'kpatch') !== manager ? { store: c.store ?? 'kpatch' } : {}),
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
  manager: ManagerName = 'kpatch',
): { undo: Change[]; notReloaded: string[] } {
  const suspect = new Set((before.suspects ?? []).map((s) => s.module));
  const undo: Change[] = [];
  const notReloaded: string[] = [];
  for (const c of rollbackChanges(done, before, runId, manager)) {
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
  /** The host's manager (the plan's): its steps, and the store it loads from. */
  manager?: ManagerName | undefined;
  /**
   * The failure was an exec that did not come back (a batch's, or a step's alone; a timeout, a
   * lost connection, the output cap): it may still be running on the host, and is stopped before
   * anything is undone.
   */
  sentUnknown?: boolean;
}

/**
 * Rolls the host back to its state before the run, as far as it can: the host's outcome, its
 * message, and the fingerprint of its facts after (none when it was not rolled back).
 *
 * A lost connection does not end it: when the run's connection was lost before the rollback, the
 * lock is taken again over a new one first (`relock`); when the rollback's own commands lose it
 * (a facts read, a step, the facts after), once more: the lock taken again, the facts read again,
 * and the rollback goes on from the step it was at (the step in flight runs again: each step is
 * judged by what its verification reads, so one that had run passes). Lost a second time, or
 * when the host cannot be reached or locked again, the host is `unreachable`, and the message
 * says how far the rollback went; when another run holds the lock by then, the host is `failed`
 * (as when the lock ended before the rollback), its message saying how far it went.
 */
export async function rollBack(
  o: RollbackRunner,
  s: HostSession,
  f: FailedRun,
): Promise<{ outcome: HostOutcome; message: string; after?: string }> {
  const kept = (): string => keptStash(s.steps, o.runId);
  const { undo, notReloaded } = rollbackWithoutSuspects(f.done, f.facts, o.runId, f.manager);
  /** The host could not be locked again over a new connection: not (all) rolled back. */
  const unreachableAfter = (at: number, why: string) => {
    s.keepStash = true;
    return {
      outcome: 'unreachable' as const,
      message: `${f.failure}; ${why}, so ${at === 0 ? 'it was not rolled back' : `its rollback is not known to be complete (${String(at)} of ${String(undo.length)} rollback steps run)`}: the host needs a look, then apply again${kept()}`,
    };
  };
  /**
   * Another run may hold the host now: change nothing more (each change done was verified), after
   * `at` of the rollback's steps.
   */
  const lockEnded = (at = 0) => {
    s.keepStash = true;
    return {
      outcome: 'failed' as const,
      message:
        at === 0
          ? `${f.failure}; its lock on the host ended before the rollback (kpfleet unlock, or the host ended it), so it was not rolled back: apply again converges it${kept()}`
          : `${f.failure}; its lock on the host ended during the rollback (kpfleet unlock, or the host ended it), so the rollback stopped after ${String(at)} of ${String(undo.length)} steps: apply again converges it${kept()}`,
    };
  };
  /** The lock could not be taken again, and not because another run has it: not rolled back. */
  const notRelocked = (at: number, message: string) => {
    s.keepStash = true;
    return {
      outcome: 'rollback-failed' as const,
      message: `${f.failure}; its lock could not be taken again for the rollback (${message.split(';')[0] ?? ''}), so ${at === 0 ? 'it was not rolled back' : `the rollback stopped after ${String(at)} of ${String(undo.length)} steps`}: the host needs a look${kept()}`,
    };
  };
  /** An exec that may still run is stopped even with nothing to undo: the facts after wait for it. */
  const mustStop = f.sentUnknown === true;
  if (s.held?.ended === true && (undo.length > 0 || mustStop)) {
    // the connection dropped and took the lock with it: over a new connection, with the lock
    // taken again (unless another run has it now), the host is rolled back all the same
    // a step of this run may still hold the host only when an exec of it did not come back
    const again = await relock(s.t, o, s.held, mustStop);
    if (again.ok) s.held = again.held;
    else if (again.unreachable)
      return unreachableAfter(0, `the host could not be reached again (${again.message})`);
    else if (again.otherRun) return lockEnded();
    else return notRelocked(0, again.message);
  }
  /** Whether the lock ended because the connection did (read afresh: a step may end it). */
  const lostWithConnection = (): boolean => s.held?.ended === true && s.held.lost;
  let rollbackOk = notReloaded.length === 0;
  /** The rollback's own connection was lost once, and the lock taken again over a new one. */
  let retried = false;
  let i = 0;
  /** The exec that may still run is stopped (`stopSent`): not asked again after a reconnect. */
  let stopped = !mustStop;
  /** A rollback step was sent and has not been seen to end (it may outlive a lost connection). */
  let stepInFlight = false;
  let after: string;
  for (;;) {
    try {
      if (!stopped) {
        if (lostWithConnection()) throw new RollbackConnectionLost();
        const notStopped = await stopSent(o, s.t, 'exec');
        if (notStopped === LOCK_NOT_OURS) return lockEnded();
        if (notStopped !== undefined) {
          s.keepStash = true;
          return {
            outcome: 'rollback-failed',
            message: `${f.failure}; ${notStopped}, so the host was not rolled back: the host needs a look${kept()}`,
          };
        }
        stopped = true;
      }
      for (; i < undo.length; i++) {
        const c = undo[i] as Change;
        if (s.held?.ended === true) {
          // lost with the connection: taken again below (once)
          if (s.held.lost) throw new RollbackConnectionLost();
          return lockEnded(i);
        }
        const facts = await gatherFacts(s.t);
        const { record: rec, unknown } = await runStep(
          o,
          s.t,
          f.host,
          c,
          i,
          undo.length,
          { facts, staging: f.staging, lockLost: f.lockLost, manager: f.manager },
          true,
        );
        // sent and not seen to end (`unknown`): not a step refused before it was sent (the lock
        // lost while it waited for its audit record), nor one whose exec came back
        stepInFlight = unknown;
        s.steps.push(rec);
        // the connection went during the step (and its lock with it): the step is run again
        if (!rec.ok && lostWithConnection()) throw new RollbackConnectionLost();
        if (unknown) {
          // no answer in time (or an output flood): it may still run; the next step waits for
          // it to end (bounded), else nothing more is done beside it
          const notEnded = await stopSent(o, s.t, 'rollback step');
          if (notEnded !== undefined) {
            const why =
              notEnded === LOCK_NOT_OURS
                ? "the host's lock is no longer this run's (kpfleet unlock, or the host ended it)"
                : notEnded;
            s.keepStash = true;
            return {
              outcome: 'rollback-failed',
              message: `${f.failure}; the rollback's ${rec.label} did not come back and ${why}, so the rollback stopped there (its step ${String(i + 1)} of ${String(undo.length)}): the host needs a look${kept()}`,
            };
          }
        }
        stepInFlight = false;
        // counted once the rollback goes past the step: when the stop above lost the connection,
        // the step runs again over a new one and that run's verification decides
        if (!rec.ok) rollbackOk = false;
      }
      after = o.fingerprint(await gatherFacts(s.t, { prelude: s.unstage }));
      break;
    } catch (err) {
      if (!(err instanceof RollbackConnectionLost) && !unreachable(err)) {
        // a facts read that did not come back in time, flooded or did not parse (a slow or
        // hostile host): the rollback cannot go on judged, and the host is not known to be as
        // before (thrown, it would end `failed`, "rolled back", with only the probe's error)
        s.keepStash = true;
        return {
          outcome: 'rollback-failed',
          message: `${f.failure}; ${i < undo.length ? `the rollback stopped after ${String(i)} of ${String(undo.length)} steps` : 'the host could not be read after the rollback'} (${errorInfo(err).message}): the host needs a look${kept()}`,
        };
      }
      if (retried || s.held === undefined)
        return unreachableAfter(i, 'the connection was lost again during the rollback');
      retried = true;
      // lost while a step of this run was sent and not seen to end (a rollback step, or the exec
      // not yet stopped): it may be what still holds the host
      const again = await relock(s.t, o, s.held, stepInFlight || !stopped);
      if (!again.ok && again.unreachable)
        return unreachableAfter(
          i,
          `the connection was lost during the rollback, and the host could not be reached again (${again.message})`,
        );
      if (!again.ok && !again.otherRun) return notRelocked(i, again.message);
      if (!again.ok) {
        // another run holds the host now: as when the lock ended before the rollback
        s.keepStash = true;
        return {
          outcome: 'failed',
          message: `${f.failure}; the connection was lost during the rollback, and its lock could not be taken again (${again.message.split(';')[0] ?? ''}), so the rollback stopped after ${String(i)} of ${String(undo.length)} steps, each one done verified: apply again converges it${kept()}`,
        };
      }
      s.held = again.held;
    }
  }
  s.unstage = undefined;
  s.keepStash = !rollbackOk;
  const how = retried
    ? ' (over a new connection, with the lock taken again: the first was lost during the rollback)'
    : '';
  if (rollbackOk) return { outcome: 'failed', message: `${f.failure}; rolled back${how}`, after };
  return {
    outcome: 'rollback-failed',
    message: `${f.failure}; the rollback failed too${how}: the host needs a look${kept()}${notReloaded.length > 0 ? ` (${notReloaded.join(', ')} not loaded again: suspected of crashing this host, see kpfleet facts)` : ''}`,
    after,
  };
}

/** How long the rollback waits for a step in flight to end: one step's time. */
function stopWaitS(o: RollbackRunner): number {
  return Math.max(1, Math.ceil(o.commandTimeoutMs / 1000));
}

/**
 * Stops an exec that may still run on the host before its rollback (`lock.ts` stopBatchScript),
 * a batch or a step alone: no further step of it starts, and the one in flight has ended.
 * Undoing while a step of it runs could race it: the rollback loading the replaced patch again
 * while the batch unloads it, unloading a patch a `kpatch load` past its timeout is still
 * loading, or uninstalling what it is about to load, leaves a host with neither the old patch nor
 * the new. So the rollback waits (bounded) under the steps lock taken exclusively, and a step
 * sent that had not started by then never does (each forward step checks the stop under the
 * shared lock). Whether it did not, why (a step still runs after the wait, or the stop failed):
 * nothing is undone then.
 */
async function stopSent(
  o: RollbackRunner,
  t: HostSession['t'],
  /** What did not come back: an exec of forward steps, or one of the rollback's own steps. */
  what: 'exec' | 'rollback step',
): Promise<string | typeof LOCK_NOT_OURS | undefined> {
  const waitS = stopWaitS(o);
  const notStopped = (why: string): string =>
    what === 'exec'
      ? `that exec could not be stopped on the host before the rollback (${why})`
      : `it could not be waited for on the host (${why})`;
  let r: Awaited<ReturnType<HostSession['t']['exec']>>;
  try {
    r = await t.exec(stopBatchScript(o.runId, waitS), {
      become: true,
      step: 'stop steps',
      timeoutMs: (waitS + 30) * 1000,
    });
  } catch (err) {
    // a lost connection: taken again by the caller; else (no answer in time, an output flood,
    // sudo refused: an 'unreachable' error too, but the connection and the lock are still there)
    // the exec is not known to be stopped: nothing is undone
    if (unreachable(err) && !(err instanceof SudoPasswordError)) throw err;
    return notStopped(errorInfo(err).message);
  }
  const said = r.stdout.trim();
  if (r.code === 0 && said === BATCH_STOPPED) return undefined;
  if (r.code === 0 && said === BATCH_NOT_OURS) return LOCK_NOT_OURS;
  if (r.code === 0 && said === BATCH_RUNNING)
    return `${what === 'exec' ? 'a step of that exec' : 'it'} was still running on the host ${String(waitS)} s later`;
  return notStopped(`exit ${String(r.code)}: ${lastLines(r.stderr || r.stdout, 2)}`);
}

/** `stopSent`: the host's lock is no longer this run's (it wrote no stop): change nothing more. */
const LOCK_NOT_OURS = Symbol('the lock is no longer this run’s');

/** A rollback step's connection was lost (the step's record says so): the rollback goes on over a new one. */
class RollbackConnectionLost extends Error {}
