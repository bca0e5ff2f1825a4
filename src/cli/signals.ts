/**
 * How kpfleet stops when asked to, or when it has a bug (docs/exit-codes.md, 130 and 70).
 *
 * Ctrl-C (SIGINT), SIGTERM (`kill`, a CI job cancelled) and SIGHUP (the terminal or the SSH
 * session it runs in closed) are handled alike, in every phase of every command, from the moment
 * `main` starts (`guardProcess`):
 * - while `apply` changes hosts (`abortOnStopSignals`): the run is aborted, the steps in flight
 *   finish, a host that fails is rolled back, every host is unlocked and recorded, no new host or
 *   step starts; then exit 130;
 * - in any other phase (loading the configuration, reading facts, planning, the confirmation
 *   prompt, writing the plan or report) nothing on a host has changed: the open connections are
 *   closed and kpfleet exits 130 at once. Files are written whole or not at all (output-files.ts,
 *   synchronous, so a signal is taken before or after a write, never in the middle).
 *
 * The audit log failing during `apply` stops the run the same way (`stopApply`, the one path),
 * then exit 74 (commands/apply.ts).
 *
 * An uncaught exception or unhandled rejection (a bug) is reported as an internal error, exit 70:
 * outside `apply` at once, connections closed; during `apply` the run is aborted as for a signal,
 * so every host ends as above and is recorded and reported, waiting at most for the steps in
 * flight to time out; past that, the hosts still running are recorded as of unknown state and the
 * connections closed (which ends their locks' holders).
 *
 * SIGKILL cannot be caught: the audit log, written as the run goes, is what is left
 * (apply-records.ts).
 */
import { ExitCode } from '../errors.ts';
import { safeLines } from '../report/safe-text.ts';
import type { CliIo } from './io.ts';
import { VERSION } from './version.ts';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const ISSUES_URL = 'https://github.com/kpfleet/kpfleet/issues';
/** How long closing the open connections may take before kpfleet exits anyway. */
const CLOSE_WAIT_MS = 2_000;

/** What the process guard knows of the run (one per process). */
interface Guard {
  io: CliIo;
  /** The first stop signal received, if any: the exit code is then 130. */
  signal?: NodeJS.Signals;
  /** Set after an uncaught exception or rejection: the exit code is then 70 (130 wins). */
  crashed: boolean;
  ending: boolean;
  apply?: ApplyPhase;
}

/** `apply` while it changes hosts: what a signal or a crash aborts. */
export interface ApplyPhase {
  abort: AbortController;
  /** The longest the steps in flight may still take (their timeouts) after an abort. */
  graceMs: number;
  /**
   * Called once the grace has run out after a crash: records the hosts still running (written
   * when it returns); resolves once they are on disk. kpfleet exits when it has, or
   * CLOSE_WAIT_MS after (a hung disk does not hold the exit).
   */
  onAbandon: () => Promise<void> | undefined;
}

let guard: Guard | undefined;
/** A file system request that may never return is pending (`exitDespitePendingIo`). */
let pendingIo = false;
const connections = new Set<{ close(): Promise<void> }>();

/** Keeps `t` in the set of open connections that an interrupt closes; `close` removes it. */
export function trackConnection<T extends { close(): Promise<void> }>(t: T): T {
  connections.add(t);
  const close = t.close.bind(t);
  t.close = async () => {
    connections.delete(t);
    await close();
  };
  return t;
}

function say(io: CliIo, text: string): void {
  try {
    io.stderr.write(text);
  } catch {
    // no terminal to say it on
  }
}

/**
 * Closes every open connection and waits for `also` (the abandoned hosts' audit records reaching
 * the disk), all of it at most CLOSE_WAIT_MS, then exits with `code`.
 */
function endNow(code: number, also?: Promise<void>): void {
  if (guard) guard.ending = true;
  process.exitCode = code;
  const all = [...connections].map((c) => c.close().catch(() => undefined));
  if (also !== undefined) all.push(also.catch(() => undefined));
  const timer = setTimeout(() => process.exit(code), CLOSE_WAIT_MS);
  void Promise.all(all).then(() => {
    clearTimeout(timer);
    process.exit(code);
  });
}

/**
 * Stops `apply`'s changes (the one way they stop early: a stop signal, a crash, or the audit log
 * failing, apply-records.ts): `phase.abort` is aborted, so no new host or step starts, a step
 * still waiting for its audit record is not sent, the steps in flight finish and are verified,
 * every host ends in its known, reported state. Says `why` on stderr; false (and says nothing)
 * when the run was already stopping.
 */
export function stopApply(phase: ApplyPhase, io: CliIo, why: string): boolean {
  if (phase.abort.signal.aborted) return false;
  phase.abort.abort();
  say(io, `\n${why}: finishing the steps in flight; no new host or step starts\n`);
  return true;
}

function onStop(sig: NodeJS.Signals): void {
  const g = guard;
  if (!g) return;
  g.signal ??= sig;
  if (g.apply) {
    stopApply(g.apply, g.io, sig);
    return;
  }
  if (g.ending) return;
  say(g.io, `\n${sig}: interrupted; no host was changed\n`);
  endNow(ExitCode.interrupted);
}

function onCrash(err: unknown): void {
  const g = guard;
  if (!g) return;
  const first = !g.crashed;
  g.crashed = true;
  if (!first || g.ending) return;
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const detail = safeLines(err instanceof Error ? (err.stack ?? err.message) : String(err));
  say(
    g.io,
    `\ninternal error: ${safeLines(text).split('\n')[0] ?? ''} (a bug in kpfleet ${VERSION}; report it at ${ISSUES_URL} with this text)\n` +
      `kpfleet ${VERSION}, node ${process.version}, ${process.platform}/${process.arch}\n${detail}\n`,
  );
  // until the run has ended otherwise: a process that runs out of work still exits 70
  process.exitCode = g.signal ? ExitCode.interrupted : ExitCode.internal;
  const apply = g.apply;
  if (!apply) {
    endNow(ExitCode.internal);
    return;
  }
  stopApply(apply, g.io, 'internal error');
  setTimeout(() => {
    if (g.ending || g.apply !== apply) return;
    say(
      g.io,
      'the steps in flight did not end in time: the hosts still being changed are recorded as of unknown state; read their facts again (kpfleet plan) before the next apply\n',
    );
    let recorded: Promise<void> | undefined;
    try {
      recorded = apply.onAbandon();
    } finally {
      endNow(g.signal ? ExitCode.interrupted : ExitCode.internal, recorded);
    }
  }, apply.graceMs).unref();
}

/**
 * Installs the handlers of the stop signals, uncaught exceptions and unhandled rejections for
 * the whole process (`main` only: never in a process that runs kpfleet in-process).
 */
export function guardProcess(io: CliIo): void {
  if (guard) return;
  guard = { io, crashed: false, ending: false };
  handleOutputErrors();
  for (const sig of STOP_SIGNALS) process.on(sig, onStop);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
}

/**
 * Says that a file system request may never return (the audit log's fsync on a hung disk,
 * apply-records.ts): it would keep the process alive after its command ended, so `main` exits
 * CLOSE_WAIT_MS after it (`exitWhenDone`).
 */
export function exitDespitePendingIo(): void {
  pendingIo = true;
}

/**
 * Once the command has ended with `code`: if a request that may never return is pending, the
 * process exits CLOSE_WAIT_MS later (the output written by then), else it ends by itself.
 * Known limit: Node's exit joins libuv's thread pool, so while the fsync still holds its thread
 * `process.exit` does not return either (test/integration/cli/hung-fsync.test.ts); only an fsync
 * in another process would let kpfleet end then.
 */
export function exitWhenDone(code: number): void {
  if (!pendingIo) return;
  setTimeout(() => process.exit(code), CLOSE_WAIT_MS).unref();
}

/**
 * The exit code once the command returned `code`: 130 after a stop signal, else 70 after a
 * crash (docs/exit-codes.md, precedence).
 */
export function guardedExitCode(code: number): number {
  if (guard?.signal) return ExitCode.interrupted;
  if (guard?.crashed === true) return ExitCode.internal;
  return code;
}

let outputHandled = false;
/** From the start of apply's changes on: every output error is dropped. */
let dropAllOutputErrors = false;

/**
 * A pipe whose reader went away (`kpfleet plan | head`) fails every later write with EPIPE, and
 * a terminal that hung up with EIO: the output has no one to reach, so these are dropped and the
 * command runs to its end with its own exit code (test/integration/cli/closed-stdout.test.ts).
 * Any other failure to write (a full disk under `> plan.json`) is not: it ends kpfleet as an
 * error, exit 70 at once, as an 'error' event nobody handles would. Once `apply` changes hosts
 * (`abortOnStopSignals`), every output error is dropped: ending there would stop in the middle
 * of a host, and what the run does is in the audit log and the report.
 */
function handleOutputErrors(): void {
  if (outputHandled) return;
  outputHandled = true;
  const onError = (err: NodeJS.ErrnoException): void => {
    if (dropAllOutputErrors || err.code === 'EPIPE' || err.code === 'EIO') return;
    throw err;
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
}

function guardOutputStreams(): void {
  handleOutputErrors();
  dropAllOutputErrors = true;
}

/**
 * `apply` changes hosts from here: a stop signal or a crash aborts `phase.abort` (saying so on
 * stderr) instead of ending the process. Returns what ends the phase. Without `guardProcess`
 * (kpfleet run in-process) it installs signal handlers of its own for the phase.
 */
export function abortOnStopSignals(phase: ApplyPhase, io: CliIo): () => void {
  guardOutputStreams();
  const g = guard;
  if (g) {
    g.apply = phase;
    return () => {
      if (g.apply === phase) delete g.apply;
    };
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    stopApply(phase, io, sig);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  return () => {
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
  };
}
