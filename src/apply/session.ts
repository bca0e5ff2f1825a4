/**
 * One host's session in a run, and what it takes and gives back through the host's Transport:
 * the host's lock (taken, and taken again over a new connection after a drop), the copy of a module kept before its uninstall; at the end, whatever happened, the
 * staged uploads go, the copies go where the host is in a known state, the lock is released and
 * the connection closed. The commands are `lock.ts`'s and `scripts.ts`'s.
 */
import { AppError, errorInfo, ExitCode } from '../errors.ts';
import { factsFromOutput } from '../facts/gather.ts';
import type { HostFacts } from '../facts/model.ts';
import { PROBE_END, probeScript } from '../facts/probe.ts';
import { KPFLEET_DIR, LEGACY_LOCK_DIR, RUN_LOCK } from '../host-paths.ts';
import type { Held, HoldFollow, Transport } from '../transport/transport.ts';
import { tailText } from '../util/text.ts';
import type { StepRecord } from './events.ts';
import {
  describeHolder,
  HEARTBEAT_MS,
  HOLD_ANSWER_MS,
  holderScript,
  parseLockAnswer,
} from './lock.ts';
import { dropStashScript, stashFolder, stashScript, storedPath } from './scripts.ts';
import type { ManagerName } from '../config-model.ts';

/** What an error message quotes of a host's output. */
const MESSAGE_CHARS = 500;

/** What a host's run holds until its end, and gives back then (`endSession`). */
export interface HostSession {
  t: Transport;
  /** The host's lock, once taken (never under `--check`). */
  held?: Held;
  /** This run's copies (the stash) stay only where the host is not in a known state. */
  keepStash: boolean;
  /** What removes this run's staged uploads, until a facts read has run it. */
  unstage?: string | undefined;
  /** The steps run on the host so far, rollback steps too. */
  steps: StepRecord[];
}

/** Who takes a host's lock: written into it (`lock.ts`, run.info). */
export interface LockOwner {
  operator: string;
  runId: string;
  now: () => Date;
}

/** How long the facts probe may take once the lock is held (as `gatherFacts` gives it alone). */
const FACTS_UNDER_LOCK_MS = 60_000;

/**
 * Takes the host's lock (`lock.ts`), or says who holds it since when. The facts are read in the
 * same session once the lock is held: the probe runs as the login user (never as root, as in its
 * own exec: docs/security.md), after the holder's LOCKED (`HoldFollow`).
 */
export async function lockHost(
  t: Transport,
  o: LockOwner,
): Promise<
  { ok: true; held: Held; facts: HostFacts } | { ok: false; message: string; otherRun: boolean }
> {
  const lock = await takeLock(t, o, 'earlier', {
    gate: 'LOCKED',
    command: probeScript(),
    until: PROBE_END,
    timeoutMs: FACTS_UNDER_LOCK_MS,
    step: 'facts',
  });
  if (!lock.ok) return lock;
  try {
    const said = lock.held.said;
    const facts = factsFromOutput(t.host, said.slice(said.indexOf('\n') + 1), lock.held.stderr);
    return { ok: true, held: lock.held, facts };
  } catch (err) {
    await lock.held.release();
    throw err;
  }
}

/**
 * Whose step a DRAIN answer (a step still running on the host after the holder's wait, `lock.ts`
 * DRAIN_S) is about, as the caller knows it. The host does not say: the step's process is found
 * only by its shared lock on steps.lock, which names no run, so the caller's history decides.
 * - `earlier`: the run's first lock on the host: it has sent the host nothing yet;
 * - `own`: taken again after the run's connection was lost while an exec of its own was sent and
 *   not seen to end (it may still run: `relock`); unless a run that held the host since left a
 *   step running too, which the answer cannot rule out;
 * - `since`: taken again with every exec of the run seen to end: a run that held the host after
 *   the connection was lost left it (the steps of earlier runs were drained before the first lock).
 */
type DrainOf = 'earlier' | 'own' | 'since';

const DRAIN_MESSAGES: Record<DrainOf, string> = {
  earlier:
    'a step of an earlier run was still running on the host after waiting for it; nothing was done. Run again later',
  own: "this run's own step, sent before its connection was lost and not seen to end, was still running on the host after waiting for it (or one of a run that held the host since: the host does not say whose); nothing was done",
  since:
    'a step of a run that held the host after this run lost its connection was still running on the host after waiting for it (every step of this run had ended); nothing was done',
};

/** The lock alone, or with `follow` run in its session once held. */
async function takeLock(
  t: Transport,
  o: LockOwner,
  drain: DrainOf,
  follow?: HoldFollow,
): Promise<{ ok: true; held: Held } | { ok: false; message: string; otherRun: boolean }> {
  const held = await t.hold(
    holderScript({ owner: o.operator, since: o.now().toISOString(), runId: o.runId }),
    {
      become: true,
      step: 'lock',
      timeoutMs: HOLD_ANSWER_MS,
      heartbeatMs: HEARTBEAT_MS,
      ...(follow !== undefined ? { follow } : {}),
    },
  );
  if (parseLockAnswer(held.said).kind === 'locked' && !held.ended) return { ok: true, held };
  await held.release(); // not held: it says who holds the lock, then ends
  const answer = parseLockAnswer(held.said);
  const said = tailText(held.stderr, 3, MESSAGE_CHARS) || `exit ${String(held.code)}`;
  switch (answer.kind) {
    case 'busy':
      return {
        ok: false,
        otherRun: true,
        message: `locked by ${describeHolder(answer.holder)}; nothing was done. Another kpfleet run is working on this host; if it is not, \`kpfleet unlock --limit ${t.host}\` shows and ends it`,
      };
    case 'legacy':
      return {
        ok: false,
        otherRun: true,
        message: `locked by ${describeHolder(answer.holder)} with the lock folder ${LEGACY_LOCK_DIR} of an older kpfleet; nothing was done. If that run is over, \`kpfleet unlock --limit ${t.host}\` removes it`,
      };
    case 'drain':
      return {
        ok: false,
        otherRun: false,
        message: DRAIN_MESSAGES[drain],
      };
    case 'locked':
      // LOCKED, then the session ended: before the follower's last line, or the holder died
      throw new AppError(
        'E_LOCK',
        follow !== undefined
          ? `the lock was taken, then its session ended before the ${follow.step ?? 'follower'} finished: ${said}`
          : `the lock ${RUN_LOCK} was taken, then its holder ended: ${said}`,
        { host: t.host, step: 'lock' },
      );
    case 'missing-tools':
    case 'error':
      throw new AppError(
        'E_LOCK',
        answer.kind === 'missing-tools'
          ? 'cannot take the lock: flock (util-linux) or timeout (coreutils) is missing on the host'
          : `could not take the lock ${RUN_LOCK}: ${answer.text || said}`,
        { host: t.host, step: 'lock' },
      );
  }
}

/**
 * After the lock ended during the run: when the connection ended (and took the lock with it; not
 * when the lock was ended over a live one, as `kpfleet unlock` does), the lock again over a new
 * connection (the transport reconnects), if no other run has taken it since; else why not
 * (`unreachable`: the host could not be reached again).
 */
export async function relock(
  t: Transport,
  o: LockOwner,
  lost: Held,
  /** An exec of this run was sent and not seen to end: it may still run on the host. */
  ownStepMayRun: boolean,
): Promise<
  { ok: true; held: Held } | { ok: false; message: string; unreachable: boolean; otherRun: boolean }
> {
  // ended over a live connection (kpfleet unlock): another run may hold the host now
  if (!lost.lost)
    return {
      ok: false,
      message: 'its lock was ended over a live connection',
      unreachable: false,
      otherRun: true,
    };
  // the lock alone: the rollback reads the facts before each step anyway
  try {
    const lock = await takeLock(t, o, ownStepMayRun ? 'own' : 'since');
    return lock.ok ? lock : { ...lock, unreachable: false };
  } catch (err) {
    // not another run's: the host could not be reached, or the lock taken then lost again
    return {
      ok: false,
      message: errorInfo(err).message,
      unreachable: unreachable(err),
      otherRun: false,
    };
  }
}

/** Whether an error says the host could not be reached or the connection was lost. */
export function unreachable(err: unknown): boolean {
  return err instanceof AppError && err.exitCode === ExitCode.unreachable;
}

/**
 * Keeps the copy of a module before its uninstall (`scripts.ts`, the stash).
 * @throws AppError E_STASH (exit 1) when it could not be made: the module must not be uninstalled
 */
export async function keepCopy(
  t: Transport,
  o: { runId: string; host: string; kernel: string; file: string; store: ManagerName },
): Promise<void> {
  const r = await t.exec(stashScript(o.runId, o.kernel, o.file, o.store), {
    become: true,
    step: 'stash',
    timeoutMs: 30_000,
  });
  if (r.code === 0) return;
  const said =
    tailText(r.stderr.trim(), 3, MESSAGE_CHARS).replaceAll('\n', ' / ') || `exit ${String(r.code)}`;
  throw new AppError(
    'E_STASH',
    `could not keep a copy of ${storedPath(o.kernel, o.file, o.store)} in ${stashFolder(o.runId)}, so it was not uninstalled: ${said}`,
    {
      host: o.host,
      step: 'stash',
      hint: `kpfleet keeps a copy of each module it uninstalls until the host is done, for a rollback; free space in ${KPFLEET_DIR} on the host`,
    },
  );
}

/** Whether this run tried to uninstall a module on the host (and so kept, or tried to keep, a copy). */
export function uninstalled(steps: readonly StepRecord[]): boolean {
  return steps.some((s) => s.change.action === 'uninstall' && s.rollback !== true);
}

/** ` (the modules it uninstalled are kept in FOLDER)` when the run kept copies there, else ''. */
export function keptStash(steps: readonly StepRecord[], runId: string): string {
  return uninstalled(steps)
    ? ` (the modules it uninstalled are kept in ${stashFolder(runId)})`
    : '';
}

/**
 * The end of a host's session, whatever happened (best effort: a failure here is not the host's):
 * the staged uploads go (interrupted, or a step threw), the stash goes unless kept, the lock is
 * released (`onUnlock` first) and the connection closed.
 */
export async function endSession(
  s: HostSession,
  runId: string,
  onUnlock: () => void,
): Promise<void> {
  if (s.unstage !== undefined)
    await s.t
      .exec(s.unstage, { step: 'staging cleanup', timeoutMs: 30_000 })
      .catch(() => undefined);
  if (s.held && !s.keepStash && uninstalled(s.steps))
    await s.t
      .exec(dropStashScript(runId), { become: true, step: 'stash cleanup', timeoutMs: 30_000 })
      .catch(() => undefined);
  if (s.held) {
    onUnlock();
    // end of file on the holder's stdin; a lost connection has ended it already (lock.ts)
    await s.held.release();
  }
  await s.t.close();
}
