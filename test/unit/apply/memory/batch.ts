/**
 * The memory host's answer to a batch (src/apply/batch.ts): recognised by building the batch of
 * every run of two or more consecutive plan changes (with each facts answer given, and each
 * staging folder) and comparing the whole command; then each part is run as the step alone would
 * be, and the host's gate is applied as the script applies it (`gatePasses`, checked against the
 * shell's own in test/integration/apply/batch.test.ts).
 */
import type { ManagerName } from '../../../../src/config-model.ts';
import { batchScript, gatePasses, passingVerify, STEP_MARK } from '../../../../src/apply/batch.ts';
import type { BatchPart } from '../../../../src/apply/batch.ts';
import { underStepsLock } from '../../../../src/apply/lock.ts';
import { stepFor } from '../../../../src/apply/steps.ts';
import type { HostFacts } from '../../../../src/facts/model.ts';
import type { Change } from '../../../../src/plan/model.ts';
import type { ExecResult } from '../../../../src/transport/transport.ts';

/** The parts of `command` when it is a batch of runs of `changes`, else undefined. */
export function recogniseBatch(
  command: string,
  changes: readonly Change[],
  facts: readonly HostFacts[],
  stagings: readonly string[],
  runId: string,
  manager: ManagerName = 'kpatch',
): BatchPart[] | undefined {
  if (!command.startsWith(`printf '\\n%s %s\\n' ${STEP_MARK} 0\n`)) return undefined;
  for (let i = 0; i < changes.length; i++) {
    for (let j = i + 2; j <= changes.length; j++) {
      const run = changes.slice(i, j);
      if (run.some((c) => passingVerify(c) === undefined)) break;
      for (const f of facts) {
        for (const staging of stagings) {
          const parts = run.map((c) => ({
            sent: underStepsLock(
              stepFor(c, { facts: f, staging, runId, manager }).script,
              runId,
              true,
            ),
            passing: passingVerify(c) ?? '',
          }));
          if (batchScript(parts) === command) return parts;
        }
      }
    }
  }
  return undefined;
}

/** Runs the parts through `step` (one step's answer each) with the host's gate between them. */
export function answerBatch(
  parts: readonly BatchPart[],
  step: (sent: string) => ExecResult,
): ExecResult {
  let stdout = '';
  for (const [k, p] of parts.entries()) {
    const r = step(p.sent);
    const out = r.stdout.replace(/\n+$/, '');
    stdout += `\n${STEP_MARK} ${String(k)}\n${out}\n`;
    // the exec's session killed during this step: no exit status, nothing more of it seen
    if (r.code === null) return { ...r, stdout };
    if (!gatePasses(out, p.passing)) break;
  }
  return { code: 0, signal: null, stdout, stderr: '', durationMs: 0 };
}
