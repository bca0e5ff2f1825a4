/**
 * How `kpfleet apply` stops when asked to (docs/exit-codes.md, 130): Ctrl-C (SIGINT), SIGTERM
 * (`kill`, a CI job cancelled) and SIGHUP (the terminal or the SSH session it runs in closed) all
 * abort the run the same way: the steps in flight finish, a host that fails is rolled back, every
 * host is unlocked and recorded, no new host or step starts. SIGKILL cannot be caught: the audit
 * log, written as the run goes, is what is left (apply-records.ts).
 */
import type { CliIo } from './io.ts';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let streamsGuarded = false;

/**
 * A terminal that hung up fails every later write to it (EIO), and an 'error' event nobody
 * listens to would end kpfleet on the spot, in the middle of a host. Once a run has started to
 * change hosts, such errors are dropped: what the run does is in the audit log and the report.
 */
function guardOutputStreams(): void {
  if (streamsGuarded) return;
  streamsGuarded = true;
  const drop = (): void => undefined;
  process.stdout.on('error', drop);
  process.stderr.on('error', drop);
}

/**
 * Aborts `abort` on the first stop signal, saying so on stderr; returns what undoes the handlers.
 * While they are installed none of these signals ends the process.
 */
export function abortOnStopSignals(abort: AbortController, io: CliIo): () => void {
  guardOutputStreams();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (abort.signal.aborted) return;
    abort.abort();
    try {
      io.stderr.write(`\n${sig}: finishing the steps in flight; no new host or step starts\n`);
    } catch {
      // no terminal to say it on
    }
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  return () => {
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
  };
}
