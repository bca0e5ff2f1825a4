/**
 * A host's planned changes, in order, under its lock: each upload in its own SFTP session, and each
 * run of consecutive root steps that can share an exec in one (`batch.ts`), the others one exec
 * each (`run-step.ts`). Stops at the first step that fails, when the run's lock on the host ended,
 * or on an interrupt; says which changes were done (or may be half done) for the rollback.
 */
import type { Change } from '../plan/model.ts';
import type { Held, Transport } from '../transport/transport.ts';
import type { StepRecord } from './events.ts';
import { passingVerify } from './batch.ts';
import { LOCK_LOST_ERROR } from './lock.ts';
import type { StepContext, StepRunner } from './run-step.ts';
import { batchedStep, runBatch, runStep } from './run-step.ts';
import type { BatchedStep } from './run-step.ts';
import { pushAll } from '../util/arrays.ts';

export type ChangesEnd =
  /** Every change done and verified; or the first failure, and what may need undoing. */
  | { kind: 'done'; failure?: undefined; done: Change[] }
  /**
   * `unknown`: the failure was an exec that did not come back, or came back without an exit
   * status (a batch's, or a step's alone: it may still run on the host, and `done` counts every
   * change it carried).
   */
  | { kind: 'failed'; failure: string; done: Change[]; unknown: boolean }
  /** Stopped before change `at`: the lock ended, or an interrupt came. */
  | { kind: 'lock-ended'; at: number }
  | { kind: 'interrupted'; at: number };

/**
 * At most this many steps share an exec: each step keeps its own timeout in the exec's
 * (`commandTimeoutMs` × steps), and Ctrl-C waits for the exec in flight; a one-patch converge
 * needs two (install, load), a replacement four (install, enable, load, unload).
 */
export const MAX_BATCH_STEPS = 4;
/** ...and at most this many bytes of script (Linux refuses one argument over 128 KiB). */
export const MAX_BATCH_BYTES = 64 * 1024;

/**
 * The run of changes from `i` that share one exec: consecutive, each with a passing verification,
 * at most MAX_BATCH_STEPS, and (when `size` says what each sends) at most MAX_BATCH_BYTES.
 */
export function batchAt(
  changes: readonly Change[],
  i: number,
  size: (c: Change) => number = () => 0,
): Change[] {
  let j = i;
  let bytes = 0;
  while (j < changes.length && j - i < MAX_BATCH_STEPS) {
    const c = changes[j] as Change;
    if (passingVerify(c) === undefined) break;
    bytes += size(c);
    if (j > i && bytes > MAX_BATCH_BYTES) break;
    j++;
  }
  return changes.slice(i, j);
}

/** The most steps one exec of these changes carries (what bounds the wait for steps in flight). */
export function longestBatch(changes: readonly Change[]): number {
  let most = changes.length > 0 ? 1 : 0;
  let run = 0;
  for (const c of changes) {
    run = passingVerify(c) === undefined ? 0 : run + 1;
    most = Math.max(most, Math.min(run, MAX_BATCH_STEPS));
  }
  return most;
}

/**
 * Each change as a batch sends it, built once (`batchedStep`): what sizes a batch is what it
 * sends. Built again only when the staging folder changed since (an upload in between).
 */
function batchedSteps(ctx: StepContext, runId: string): (c: Change) => BatchedStep | Error {
  const made = new Map<Change, { staging: string; built: BatchedStep | Error }>();
  return (c) => {
    const had = made.get(c);
    if (had?.staging === ctx.staging) return had.built;
    let built: BatchedStep | Error;
    try {
      built = batchedStep(c, ctx, runId);
    } catch (err) {
      built = err instanceof Error ? err : new Error(String(err));
    }
    made.set(c, { staging: ctx.staging, built });
    return built;
  };
}

export async function runChanges(
  o: StepRunner,
  t: Transport,
  host: string,
  changes: readonly Change[],
  run: { ctx: StepContext; held: () => Held | undefined; steps: StepRecord[] },
): Promise<ChangesEnd> {
  const done: Change[] = [];
  const total = changes.length;
  const built = batchedSteps(run.ctx, o.runId);
  // a step that cannot be built counts 0 bytes: it fails before anything is sent
  for (let i = 0; i < total;) {
    if (run.held()?.ended === true) return { kind: 'lock-ended', at: i };
    if (o.signal?.aborted === true) return { kind: 'interrupted', at: i };
    const batch = batchAt(changes, i, (c) => {
      const b = built(c);
      return b instanceof Error ? 0 : b.sent.length;
    });
    let records: StepRecord[];
    let unknown: boolean;
    /** The changes the exec carried (a kind that never shares one: `batch` is empty). */
    const carried = batch.length >= 2 ? batch : [changes[i] as Change];
    if (batch.length >= 2) {
      const ran = await runBatch(o, t, host, batch, i, total, run.ctx, batch.map(built));
      // interrupted while it waited for its record: nothing of it was sent
      if ('interrupted' in ran) return { kind: 'interrupted', at: i };
      ({ records, unknown } = ran);
    } else {
      const one = await runStep(o, t, host, changes[i] as Change, i, total, run.ctx, false);
      if ('interrupted' in one) return { kind: 'interrupted', at: i };
      records = [one.record];
      unknown = one.unknown;
    }
    pushAll(run.steps, records);
    const failed = records.find((r) => !r.ok);
    // a step the host refused because the run's lock ended (kpfleet unlock) between two steps
    // of one exec: as when it ends between two execs, nothing more is done and nothing undone
    if (failed?.error === LOCK_LOST_ERROR && run.held()?.ended === true && failed !== records[0])
      return { kind: 'lock-ended', at: i + records.indexOf(failed) };
    if (failed !== undefined) {
      // the steps done; a load, install or package install that failed may be half done; and
      // after an exec that did not come back, any step of it may have run
      const reached = unknown ? carried : records.map((r) => r.change);
      pushAll(
        done,
        reached.filter(
          (c, k) =>
            unknown ||
            records[k]?.ok === true ||
            c.action === 'load' ||
            c.action === 'install' ||
            c.action === 'package-install',
        ),
      );
      return {
        kind: 'failed',
        failure: `${failed.label}: ${failed.error ?? 'failed'}`,
        done,
        unknown,
      };
    }
    pushAll(
      done,
      records.map((r) => r.change),
    );
    i += records.length;
  }
  return { kind: 'done', done };
}
