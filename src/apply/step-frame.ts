/**
 * The frame every step's script runs in, and how its output is read back: the command, then (for
 * a change that persists) the sync that makes it durable, then a marker line with the command's
 * exit status, then what verification printed. `steps.ts` fills the frame for each kind of change
 * and judges what comes back. Pure.
 */
import { sh } from '../transport/shell.ts';
import { tailText } from '../util/text.ts';

export const VERIFY_MARK = '@@kpfleet-verify@@';
/** Printed, with sync's exit status, when the step's change could not be made durable. */
export const UNSYNCED_MARK = '@@kpfleet-unsynced@@';

/**
 * The command, then (for a change that persists) `durable`, which flushes it to disk, then the
 * marker and the verification. `durable` runs whatever the command's exit status was (install's
 * is systemctl's, §2.7): a failed sync prints UNSYNCED_MARK and fails the step.
 */
export function frame(command: string, verify: string, durable?: string): string {
  return (
    `{ ${command}\n} </dev/null 2>&1; rc=$?\n` +
    (durable === undefined
      ? ''
      : `{ ${durable}\n} </dev/null 2>&1 || printf '\\n%s %s\\n' ${UNSYNCED_MARK} "$?"\n`) +
    `printf '\\n%s %s\\n' ${VERIFY_MARK} "$rc"\n${verify}`
  );
}

/** Splits a step's stdout into the command's output, its exit status and the verification. */
export function splitStepOutput(stdout: string): {
  output: string;
  rc: number | undefined;
  verify: string;
} {
  const at = stdout.lastIndexOf(`\n${VERIFY_MARK} `);
  if (at < 0) return { output: stdout, rc: undefined, verify: '' };
  const rest = stdout.slice(at + VERIFY_MARK.length + 2);
  const nl = rest.indexOf('\n');
  const rcText = nl < 0 ? rest : rest.slice(0, nl);
  return {
    output: stdout.slice(0, at),
    rc: /^\d+$/.test(rcText) ? Number(rcText) : undefined,
    verify: nl < 0 ? '' : rest.slice(nl + 1).trim(),
  };
}

/**
 * Why the change may not survive a crash, when the command's output (before the marker) says its
 * sync failed; else undefined.
 */
export function unsyncedError(output: string): string | undefined {
  const at = output.lastIndexOf(`\n${UNSYNCED_MARK} `);
  if (at < 0) return undefined;
  const rc = /^\d{1,3}/.exec(output.slice(at + UNSYNCED_MARK.length + 2))?.[0] ?? '?';
  return `the change is made but sync failed (exit ${rc}: ${lastLines(output.slice(0, at))}): it may not survive a crash`;
}

/** The last lines a host printed, on one line, for an error message. */
export function lastLines(s: string, n = 3): string {
  return tailText(s, n, 500).replaceAll('\n', ' / ') || '(no output)';
}

/** After a load, either manager's: the module's `enabled` and `transition` in sysfs (§5.1), `10` when done. */
export const loadVerify = (m: string): string =>
  sh`cat /sys/kernel/livepatch/${m}/enabled /sys/kernel/livepatch/${m}/transition 2>/dev/null | tr -d '\n'`;
/** After an unload: whether it is still in sysfs, or in memory; nothing when it is gone (§6 #19). */
export const unloadVerify = (m: string): string =>
  sh`test -e /sys/kernel/livepatch/${m} && echo sysfs; test -e /sys/module/${m} && echo module; true`;
