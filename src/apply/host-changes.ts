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
import { runBatch, runStep } from './run-step.ts';
import { pushAll } from '../util/arrays.ts';

export type ChangesEnd =
  /** Every change done and verified; or the first failure, and what may need undoing. */
  | { kind: 'done'; failure?: undefined; done: Change[] }
  | { kind: 'failed'; failure: string; done: Change[] }
  /** Stopped before change `at`: the lock ended, or an interrupt came. */
  | { kind: 'lock-ended'; at: number }
  | { kind: 'interrupted'; at: number };

/** The run of changes from `i` that share one exec: consecutive, each with a passing verification. */
export function batchAt(changes: readonly Change[], i: number): Change[] {
  let j = i;
  while (j < changes.length && passingVerify(changes[j] as Change) !== undefined) j++;
  return changes.slice(i, j);
}

/** The most steps one exec of these changes carries (what bounds the wait for steps in flight). */
export function longestBatch(changes: readonly Change[]): number {
  let most = changes.length > 0 ? 1 : 0;
  for (let i = 0; i < changes.length; i++) most = Math.max(most, batchAt(changes, i).length);
  return most;
}

export async function runChanges(
  o: StepRunner & { signal?: AbortSignal | undefined },
  t: Transport,
  host: string,
  changes: readonly Change[],
  run: { ctx: StepContext; held: () => Held | undefined; steps: StepRecord[] },
): Promise<ChangesEnd> {
  const done: Change[] = [];
  const total = changes.length;
  for (let i = 0; i < total;) {
    if (run.held()?.ended === true) return { kind: 'lock-ended', at: i };
    if (o.signal?.aborted === true) return { kind: 'interrupted', at: i };
    const batch = batchAt(changes, i);
    let records: StepRecord[];
    let unknown = false;
    if (batch.length >= 2) {
      ({ records, unknown } = await runBatch(o, t, host, batch, i, total, run.ctx));
    } else {
      records = [await runStep(o, t, host, changes[i] as Change, i, total, run.ctx, false)];
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
      const reached = unknown ? batch : records.map((r) => r.change);
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
      return { kind: 'failed', failure: `${failed.label}: ${failed.error ?? 'failed'}`, done };
    }
    pushAll(
      done,
      records.map((r) => r.change),
    );
    i += records.length;
  }
  return { kind: 'done', done };
}
