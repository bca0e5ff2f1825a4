/**
 * Steps that share one exec (issue 20: a one-patch converge is four sessions, not five): a run of
 * consecutive root steps whose success is one exact verification (install, enable, load, unload)
 * goes to the host as one script. Each step keeps its own frame (`step-frame.ts`) and its own
 * steps-lock guard (`lock.ts` underStepsLock: the host checks before each step that the run's lock
 * is still its own), and after each one the host stops the script unless the step's output ends
 * with exactly what `judgeStep` passes (its verification, exit status 0, nothing unsynced). The
 * controller then judges each step that ran from its own part of the output, as for one step
 * alone: that judgement decides. A step's output passes through the host's shell (captured for
 * the gate, then printed): NUL bytes are dropped and trailing newlines become one, and a step
 * goes on to its end when the session is gone (it is not stopped by a closed output), so it
 * removes the record of its load itself. A gate stricter than the judge only stops the batch early; the
 * steps not reached run after it (execute.ts). Each step's guard is `stoppable` (as a forward step's
 * alone is): when the exec did not come back, the batch may still run on the host, and its
 * rollback first stops it (`lock.ts` stopBatchScript: no further step starts, the one in flight is
 * waited for), so the rollback never races a step of it. Pure: commands as strings, output split.
 */
import type { Change } from '../plan/model.ts';
import { quote } from '../transport/shell.ts';
import { UNSYNCED_MARK, VERIFY_MARK } from './step-frame.ts';

/** Printed before each step's output in a batch, with the step's place in it (0, 1, …). */
export const STEP_MARK = '@@kpfleet-step@@';

/**
 * The exact verification with which `judgeStep` passes a change of this kind, when there is one
 * (undefined: the kind runs alone). Tested against the judge (test/unit/apply/batch.test.ts).
 */
export function passingVerify(c: Change): string | undefined {
  switch (c.action) {
    case 'install':
      return c.sha256;
    case 'load':
      return '10';
    case 'unload':
      return '';
    case 'enable-service':
      return 'enabled';
    // an upload is SFTP; an uninstall keeps a copy first; a package's check is a list
    case 'upload':
    case 'uninstall':
    case 'package-install':
    case 'package-remove':
      return undefined;
  }
}

/** One step of a batch: what is sent for it alone (under the steps lock), and its verification. */
export interface BatchPart {
  sent: string;
  passing: string;
}

/**
 * How the output of a step that passed ends, once its trailing newlines are dropped (as command
 * substitution drops them): exit status 0, then its passing verification.
 */
export function passingEnding(passing: string): string {
  return `\n${VERIFY_MARK} 0${passing === '' ? '' : `\n${passing}`}`;
}

/**
 * The gate between two steps, as the host's shell applies it (`batchScript`'s `case`): the batch
 * goes on only when the step's output ends as a pass does and says nothing of an unsynced change.
 * For the in-memory host (test/unit/apply/memory/batch.ts), which must gate exactly as hosts do.
 */
export function gatePasses(out: string, passing: string): boolean {
  return !out.includes(UNSYNCED_MARK) && out.endsWith(passingEnding(passing));
}

/**
 * The steps as one script: for each, its marker, its output (captured, then printed), then the
 * gate. The script's exit status is 0 whatever happened: the output says what ran.
 */
export function batchScript(parts: readonly BatchPart[]): string {
  const lines = parts.flatMap((p, k) => {
    const ending = passingEnding(p.passing);
    return [
      `printf '\\n%s %s\\n' ${STEP_MARK} ${String(k)}`,
      `out=$(${p.sent}\n)`,
      `printf '%s\\n' "$out"`,
      `case "$out" in *${quote(UNSYNCED_MARK)}*) exit 0 ;; *${quote(ending)}) ;; *) exit 0 ;; esac`,
    ];
  });
  return lines.join('\n');
}

/** Each step's own output in a batch's stdout, for the steps that started (in order). */
export function splitBatch(stdout: string, steps: number): string[] {
  const out: string[] = [];
  let at = stdout.indexOf(`\n${STEP_MARK} 0\n`);
  for (let k = 0; k < steps && at >= 0; k++) {
    const start = at + `\n${STEP_MARK} ${String(k)}\n`.length;
    const next = k + 1 < steps ? stdout.indexOf(`\n${STEP_MARK} ${String(k + 1)}\n`, start) : -1;
    out.push(next < 0 ? stdout.slice(start) : stdout.slice(start, next));
    at = next;
  }
  return out;
}
