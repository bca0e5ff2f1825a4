/**
 * One change run on a host, and the health check. A change is an upload (its content checked
 * against the plan's sha256 first) or a command (`steps.ts`) run under the steps lock
 * (`lock.ts`) and judged from what the host printed; a module is copied before its uninstall
 * (`session.ts` keepCopy). Each step is announced and recorded as events (`events.ts`).
 */
import { AppError, errorInfo, ExitCode } from '../errors.ts';
import type { HostFacts } from '../facts/model.ts';
import type { Change, UploadChange } from '../plan/model.ts';
import { CommandTimeoutError, ConnectionLostError, OutputLimitError } from '../transport/errors.ts';
import type { ExecResult, Transport } from '../transport/transport.ts';
import { tailText } from '../util/text.ts';
import type { ApplyEvent, StepRecord } from './events.ts';
import { LOCK_LOST_ERROR, underStepsLock } from './lock.ts';
import { stagingOf } from './scripts.ts';
import { keepCopy } from './session.ts';
import { batchScript, passingVerify, splitBatch, STEP_MARK } from './batch.ts';
import type { BatchPart } from './batch.ts';
import { lastLines } from './step-frame.ts';
import { judgeStep, splitStepOutput, stepFor } from './steps.ts';
import type { ManagerName } from '../config-model.ts';

/** What a step record keeps of the step's output: its end, however much the host printed. */
const RECORD_LINES = 20;
const RECORD_CHARS = 4000;

/** What running a step needs of the run (`ApplyOptions` has each). */
export interface StepRunner {
  runId: string;
  commandTimeoutMs: number;
  /** The content of the catalogue's file for an upload. */
  readPatch: (change: UploadChange) => Promise<Buffer>;
  sha256: (content: Buffer) => string;
  /** One line label of a change, for events. */
  label: (c: Change) => string;
  onEvent: (e: ApplyEvent) => void;
  /**
   * Resolves once the records the events so far called for are on disk (the audit log's
   * `started` record, group-committed): a step's commands are sent only after it.
   */
  recorded?: () => Promise<void>;
  /**
   * Aborted on an interrupt: a forward step still waiting for `recorded` then stops waiting and
   * is not sent (the host ends interrupted before it); a rollback step waits and runs.
   */
  signal?: AbortSignal | undefined;
}

/** A forward step that an interrupt stopped while it waited for its record: nothing was sent. */
export interface NotSent {
  interrupted: true;
}

/**
 * Waits for the records the events so far called for (`recorded`): true when the run was
 * interrupted first (a forward step is then not sent; its wait is dropped, not awaited: an fsync
 * that never returns must not hold an interrupted run). A rollback step waits, and runs.
 */
async function interruptedBeforeRecorded(o: StepRunner, rollback: boolean): Promise<boolean> {
  const signal = rollback ? undefined : o.signal;
  if (signal?.aborted === true) return true;
  if (o.recorded === undefined) return false;
  const wait = o.recorded();
  if (signal === undefined) {
    await wait;
    return false;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // a wait left behind that fails later fails nothing: its step was not sent
  wait.catch(() => undefined);
  try {
    await Promise.race([wait, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
  return signal.aborted;
}

/** What a host's steps share: its facts under the lock, the staging folder (an upload sets it). */
export interface StepContext {
  facts: HostFacts;
  /** The absolute staging folder, once an upload of this run put a file there; else ''. */
  staging: string;
  lockLost?: () => boolean;
  /** Who manages the host's live patches (the plan's); kpatch when unsaid. */
  manager?: ManagerName | undefined;
}

/** A change as a batch sends it: its script under the steps lock, its step name, its pass. */
export interface BatchedStep extends BatchPart {
  step: string;
}

/**
 * Builds `c` as a batch sends it (throws when its names do not pass the checks: nothing is sent).
 * Built once per change (`runChanges` sizes the batch with it, `runBatch` sends it).
 */
export function batchedStep(c: Change, ctx: StepContext, runId: string): BatchedStep {
  const s = stepFor(c, { facts: ctx.facts, staging: ctx.staging, runId, manager: ctx.manager });
  return {
    sent: underStepsLock(s.script, runId, true),
    passing: passingVerify(c) ?? '',
    step: s.step,
  };
}

/**
 * Whether an exec's error says the command was sent and no answer came (the connection, the time,
 * the output cap): it may still be running on the host. Else (sudo refused, a name refused before
 * sending) it did not run.
 */
export function sentWithoutAnswer(err: unknown): boolean {
  return (
    err instanceof ConnectionLostError ||
    err instanceof CommandTimeoutError ||
    err instanceof OutputLimitError
  );
}

/**
 * Runs one change on a host (`rollback`: a step of the rollback) and records it. `unknown`: the
 * step's own exec was sent and did not come back (`sentWithoutAnswer`), or came back without an
 * exit status (`endedUnseen`), so it may still be running on the host; a forward step is then
 * stopped before the rollback (`lock.ts` stopBatchScript, which its guard checks: it is
 * `stoppable`). A rollback step is not stoppable: the stop names this run,
 * and the rollback runs after it. Two things sent for a step are not its exec, and a failure there
 * is not `unknown`:
 * - an upload (SFTP, the login user's): written under a temporary name, read back and checked,
 *   then renamed (the rename is asked only once the check passed), so what a session that did
 *   not come back can still do on the host is leave a temporary file or the checked file in the
 *   staging folder: nothing as root, nothing a rollback undoes, and no step that reads it is sent
 *   after a failed upload (the staging clean-up removes it, or the next run's);
 * - the copy kept before an uninstall (`keepCopy`): it only copies into this run's stash folder,
 *   not under the steps lock, and when it does not come back the uninstall is not sent, so nothing
 *   destructive may run (at worst a copy left in the stash folder).
 */
export async function runStep(
  o: StepRunner,
  t: Transport,
  host: string,
  c: Change,
  index: number,
  total: number,
  ctx: StepContext,
  rollback: true,
): Promise<{ record: StepRecord; unknown: boolean }>;
export async function runStep(
  o: StepRunner,
  t: Transport,
  host: string,
  c: Change,
  index: number,
  total: number,
  ctx: StepContext,
  rollback: boolean,
): Promise<{ record: StepRecord; unknown: boolean } | NotSent>;
export async function runStep(
  o: StepRunner,
  t: Transport,
  host: string,
  c: Change,
  index: number,
  total: number,
  ctx: StepContext,
  rollback: boolean,
): Promise<{ record: StepRecord; unknown: boolean } | NotSent> {
  const label = o.label(c);
  o.onEvent({ type: 'step-start', host, index, total, label, rollback });
  const t0 = performance.now();
  let rec: StepRecord;
  /** The step's own exec was sent: a failure from here on may leave it running on the host. */
  let sent = false;
  let unknown = false;
  try {
    // interrupted while it waited for its record: not sent (no step-end: it never ran)
    if (await interruptedBeforeRecorded(o, rollback)) return { interrupted: true };
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
      // one session: its folders made private to the login user, written, checked, renamed (one
      // that did not come back is no stop's business: see above);
      // 0644: `kpatch install` copies it with its mode, and the facts probe (no root) must be
      // able to read that copy's sha256 (found on the real-kernel VM)
      const placed = await t.upload(content, c.destination, {
        sha256: c.sha256,
        mode: 0o644,
        timeoutMs: o.commandTimeoutMs,
        makeFolders: true,
      });
      // where the host keeps it: the install that follows names the file by its absolute path
      ctx.staging = stagingOf(c.destination, placed) ?? ctx.staging;
      rec = { change: c, label, ok: true, durationMs: 0 };
    } else {
      // built first: its names (the kernel, the file) are checked before the stash uses them
      const s = stepFor(c, {
        facts: ctx.facts,
        staging: ctx.staging,
        runId: o.runId,
        manager: ctx.manager,
      });
      if (c.action === 'uninstall' && !rollback) {
        // keep a copy, so a rollback can install it again; without one, no uninstall
        await keepCopy(t, {
          runId: o.runId,
          host,
          kernel: c.kernel,
          file: c.file,
          store: c.store ?? 'kpatch',
        });
      }
      // checked again here: the lock may have ended while this step awaited the stash or facts
      if (ctx.lockLost?.() === true) throw new Error(LOCK_LOST_ERROR);
      const command = s.become ? underStepsLock(s.script, o.runId, !rollback) : s.script;
      sent = true;
      const r = await t.exec(command, {
        become: s.become,
        step: s.step,
        timeoutMs: o.commandTimeoutMs,
      });
      rec = { change: c, label, durationMs: 0, ...judged(c, r.stdout, r.stderr, ctx.manager) };
      unknown = endedUnseen(r);
    }
  } catch (err) {
    unknown = sent && sentWithoutAnswer(err);
    rec = { change: c, label, ok: false, durationMs: 0, error: errorInfo(err).message };
  }
  rec.durationMs = performance.now() - t0;
  if (rollback) rec.rollback = true;
  o.onEvent({ type: 'step-end', host, index, step: rec });
  return { record: rec, unknown };
}

/**
 * Runs consecutive changes in one exec (`batch.ts`), each judged from its own part of the output
 * as `runStep` judges one, and recorded as its own step. The first step's start is announced
 * before the exec (the audit record is on disk before the host is touched); the others' starts
 * and every end once the exec returned, each step timed from when its marker arrived to when
 * the next one did (`stepMarks`; the first from the exec's start, the last to its end). Only the steps
 * that started on the host get records: fewer than given when the host stopped the batch. An exec
 * that did not come back (a lost connection, a timeout) fails the first step, and `unknown` says
 * that any of them may have run; one that came back without an exit status is judged from what
 * it printed, and `unknown` says that it may still run (`endedUnseen`).
 */
export async function runBatch(
  o: StepRunner,
  t: Transport,
  host: string,
  changes: readonly Change[],
  first: number,
  total: number,
  ctx: StepContext,
  /** Each change as `batchedStep` built it, or what refused it. */
  built: readonly (BatchedStep | Error)[],
): Promise<{ records: StepRecord[]; unknown: boolean } | NotSent> {
  const labels = changes.map((c) => o.label(c));
  o.onEvent({
    type: 'step-start',
    host,
    index: first,
    total,
    label: labels[0] ?? '',
    rollback: false,
  });
  const t0 = performance.now();
  const marks = stepMarks(t0);
  /** From when its marker came (the first: from the exec's start) to when the next one did. */
  const record = (k: number, rec: Omit<StepRecord, 'durationMs' | 'label'>): StepRecord => ({
    ...rec,
    label: labels[k] ?? '',
    durationMs: marks.duration(k, performance.now()),
  });
  const end = (k: number, rec: StepRecord): void => {
    if (k > 0)
      o.onEvent({
        type: 'step-start',
        host,
        index: first + k,
        total,
        label: rec.label,
        rollback: false,
      });
    o.onEvent({ type: 'step-end', host, index: first + k, step: rec });
  };
  /** The first step failed before or while the exec ran; `unknown`: any of them may have run. */
  const failFirst = (error: string, unknown: boolean) => {
    const rec = record(0, { change: changes[0] as Change, ok: false, error });
    end(0, rec);
    return { records: [rec], unknown };
  };
  const steps: BatchedStep[] = [];
  for (const b of built) {
    if (b instanceof Error) return failFirst(errorInfo(b).message, false); // nothing was sent
    steps.push(b);
  }
  const script = batchScript(steps);
  const step = steps.map((x) => x.step).join(' + ');
  try {
    // interrupted while it waited for its record: none of them is sent (as in runStep)
    if (await interruptedBeforeRecorded(o, false)) return { interrupted: true };
  } catch (err) {
    // the records are not known on disk: nothing is sent (as in runStep)
    return failFirst(errorInfo(err).message, false);
  }
  if (ctx.lockLost?.() === true) return failFirst(LOCK_LOST_ERROR, false);
  let r: ExecResult;
  try {
    r = await t.exec(script, {
      become: true,
      step,
      timeoutMs: o.commandTimeoutMs * changes.length,
      onStdout: marks.seen,
    });
  } catch (err) {
    // sent, and no answer (the connection, the time, the output cap): any of them may have run;
    // else (sudo refused) none did
    const sent = sentWithoutAnswer(err);
    const message = errorInfo(err).message;
    return failFirst(
      sent
        ? `${message} (sent in one exec with ${labels.slice(1).join(', ')}: any of them may have run)`
        : message,
      sent,
    );
  }
  const { stdout, stderr } = r;
  const outputs = splitBatch(stdout, changes.length);
  if (outputs.length === 0) outputs.push(stdout);
  const records = outputs.map((out, k) => {
    const c = changes[k] as Change;
    const last = k === outputs.length - 1;
    const rec = record(k, { change: c, ...judged(c, out, last ? stderr : '', ctx.manager) });
    end(k, rec);
    return rec;
  });
  return { records, unknown: endedUnseen(r) };
}

/**
 * An exec that came back without an exit status (its session's process killed by a signal, or
 * the channel closed without one): what it ran may outlive it (sudo killed, not the step under
 * it), so it is not known to have ended, as when no answer came (`sentWithoutAnswer`).
 */
function endedUnseen(r: { code: number | null }): boolean {
  return r.code === null;
}

/**
 * When each step of a batch began, as seen here: the time its marker (`STEP_MARK k`, printed by
 * the host as the step starts) arrived. A host can print a marker early (in a step's output):
 * that moves only the reported durations, each kept between the exec's start and its end.
 */
function stepMarks(t0: number): {
  seen: (chunk: Buffer) => void;
  duration: (k: number, end: number) => number;
} {
  const arrived: number[] = [t0];
  let pending = '';
  return {
    seen: (chunk) => {
      pending += chunk.toString('latin1');
      for (;;) {
        const mark = `\n${STEP_MARK} ${String(arrived.length)}\n`;
        const at = pending.indexOf(mark);
        if (at < 0) break;
        arrived.push(performance.now());
        pending = pending.slice(at + mark.length);
      }
      pending = pending.slice(-64); // a marker cut between two pieces is found in the next
    },
    duration: (k, end) => Math.max(0, (arrived[k + 1] ?? end) - (arrived[k] ?? end)),
  };
}

/** A step's verdict and what its record keeps of its output (`runStep`'s, for one step). */
function judged(
  c: Change,
  stdout: string,
  stderr: string,
  manager: ManagerName | undefined,
): Pick<StepRecord, 'ok' | 'output' | 'error'> {
  const verdict = judgeStep(c, stdout, manager);
  const { output } = splitStepOutput(stdout);
  const text = tailText(
    [output.trim(), stderr.trim()].filter(Boolean).join('\n'),
    RECORD_LINES,
    RECORD_CHARS,
  );
  return {
    ok: verdict.ok,
    ...(text ? { output: text } : {}),
    ...(verdict.error !== undefined ? { error: verdict.error } : {}),
  };
}

/**
 * Runs the health check: undefined when it passed, else why not. A check that exits non-zero,
 * runs out of time or prints more than the output cap failed (the host is rolled back); a lost
 * connection is not the check's failure and is thrown.
 */
export async function healthCheck(
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
