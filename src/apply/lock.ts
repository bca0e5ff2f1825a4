/**
 * The host's lock: one `kpfleet apply` at a time per host, and a lock that cannot outlive its run.
 *
 * The lock is a kernel lock (flock(2), through util-linux's `flock`) on
 * `/var/lib/kpfleet/locks/run.lock`, held by a holder process that one long-lived exec of the run's SSH
 * connection starts (`Transport.hold`). The kernel drops the lock when the holder ends, and the
 * holder ends when:
 * - the run releases it (end of file on its stdin);
 * - the connection ends, whatever the cause: kpfleet killed (SIGKILL, a cancelled CI job), the
 *   network gone. sshd closes the stdin of a command whose channel or connection ended (without
 *   a terminal it sends no signal: end of file is what tells the command);
 * - no heartbeat byte came for `LEASE_S` seconds: a network cut sshd has not noticed yet.
 * So there is nothing to remove by hand after a crash: the next run takes the lock.
 *
 * `flock -o` keeps the lock on the `flock` process alone (its child, the holder shell, does not
 * inherit it), so no process the holder starts can keep the lock alive after it.
 *
 * A step may still be running on the host after its run died (a `kpatch load` in flight when
 * kpfleet was killed): each step runs under a shared lock on `locks/steps.lock`, and a
 * new holder takes that lock exclusively (waiting up to `DRAIN_S`) before it answers `LOCKED`, so
 * a run never reads facts while an older run's step is still changing the host.
 *
 * Within a run, an exec of steps that did not come back (a batch, or a step alone) may still run
 * on the host when its rollback starts: `stopBatchScript` writes `batch.stop` (naming the run),
 * which each forward step checks under its shared lock, and takes the steps lock exclusively
 * (bounded), so the rollback never runs beside a step of it. A new holder drops a `batch.stop` of
 * another run. (The file keeps the name it had when only batches were stopped.)
 *
 * The holder writes who holds the lock (`run.info`: owner, since, run id, its pid, the boot id);
 * a second run is told who, and `kpfleet unlock` ends a holder proven to be one (its argv says
 * `kpfleet-lock`, `run.info` names its run).
 *
 * The files live in `locks/`, a folder root's alone (0700, made and chmod-ed by the
 * holder): flock(2) needs only read access, so a lock file a local user could open would be a
 * lock that user could hold, and keep every run out. `/var/lib/kpfleet` itself stays 0755: the
 * facts probe, as the login user, reads the load records there. Pure: commands as strings,
 * parsing of answers.
 */
import {
  BATCH_STOP,
  KPFLEET_DIR,
  LEGACY_LOCK_DIR,
  LOCK_DIR,
  RUN_INFO,
  RUN_LOCK,
  STEPS_LOCK,
} from '../host-paths.ts';
import { sh } from '../transport/shell.ts';

/** Heartbeats: one byte this often (ms)... */
export const HEARTBEAT_MS = 10_000;
/** ...and the holder ends after this long without one (s). */
export const LEASE_S = 60;
/** How long a new holder waits for the steps of a dead run to finish (s). */
export const DRAIN_S = 300;
/** The word the holder's shell runs under (`$0`), by which `kpfleet unlock` knows it. */
const HOLDER_NAME = 'kpfleet-lock';

export interface LockRequest {
  owner: string;
  since: string;
  runId: string;
}

/** Who holds a host's lock, as its `run.info` says (the host's words: shown, never trusted). */
export interface LockHolder {
  owner: string;
  since: string;
  run: string;
  pid: string;
  boot: string;
}

export type LockAnswer =
  | { kind: 'locked' }
  | { kind: 'busy'; holder: LockHolder }
  | { kind: 'legacy'; holder: LockHolder }
  | { kind: 'drain' }
  | { kind: 'missing-tools' }
  | { kind: 'error'; text: string };

/** The holder, run as root: takes the lock, says LOCKED, holds it until its stdin says stop. */
export function holderScript(req: LockRequest, leaseS: number = LEASE_S): string {
  const info = `owner=${oneLine(req.owner)}\nsince=${oneLine(req.since)}\nrun=${oneLine(req.runId)}\n`;
  const inner = [
    'info=$1 drain=$2 lease=$3 run=$4',
    `if ! { printf '%spid=%s\\nboot=%s\\n' "$info" "$$" "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" >run.info.new && mv -f run.info.new run.info; }; then`,
    `  echo "ERROR cannot write ${RUN_INFO}"; exit 0`,
    'fi',
    // the steps of a dead run first (their shared locks on steps.lock)
    'if ! flock -w "$drain" steps.lock true; then rm -f run.info; echo DRAIN; exit 0; fi',
    // an earlier run's stop of its batch (stopBatchScript) is no longer needed once it is drained
    'if ! grep -qxF "run=$run" batch.stop 2>/dev/null; then rm -f batch.stop; fi',
    'echo LOCKED',
    // a heartbeat byte at least every $lease seconds; end of file or silence ends the hold. The
    // reader gets no stderr of the channel: if the holder is killed (kpfleet unlock), the reader
    // left waiting must not keep the channel open, so the run sees its hold end at once
    'while [ "$(timeout "$lease" head -c 1 2>/dev/null)" = x ]; do :; done',
    'if grep -qxF "run=$run" run.info 2>/dev/null; then rm -f run.info; fi',
  ].join('\n');
  return [
    // /var/lib/kpfleet as before, 0755 (the probe reads its records); the lock folder root's only
    'umask 022',
    sh`mkdir -p ${KPFLEET_DIR} ${LOCK_DIR} && chmod 0700 ${LOCK_DIR} && cd ${LOCK_DIR} || exit 1`,
    'umask 077',
    'if ! command -v flock >/dev/null 2>&1 || ! command -v timeout >/dev/null 2>&1; then echo MISSING; exit 0; fi',
    sh`if [ -d ${LEGACY_LOCK_DIR} ]; then echo LEGACY; cat ${`${LEGACY_LOCK_DIR}/info`} 2>/dev/null; exit 0; fi`,
    sh`flock -n -o run.lock sh -c ${inner} ${HOLDER_NAME} ${info} ${String(DRAIN_S)} ${String(leaseS)} ${oneLine(req.runId)}`,
    'rc=$?',
    'if [ "$rc" = 1 ]; then echo BUSY; cat run.info 2>/dev/null; elif [ "$rc" != 0 ]; then echo "ERROR flock exit $rc"; fi',
  ].join('\n');
}

/** How long the holder may take to answer: the drain, and some. */
export const HOLD_ANSWER_MS = (DRAIN_S + 60) * 1000;

/** What a step refused by the host (the lock is no longer its run's) prints, and its exit status. */
export const LOCK_LOST_MARK = '@@kpfleet-lock-lost@@';
export const LOCK_LOST_EXIT = 75;
/** Why such a step was not run, on the host or before it was sent. */
export const LOCK_LOST_ERROR =
  "the host lock is no longer this run's (kpfleet unlock, a lost lease, or another run holds it now): the step was not run";

/**
 * A step's script, run under the shared steps lock (so a new holder waits for it), and only if
 * the host's lock is still this run's: `run.info` names run `runId` and `run.lock` is held.
 * Otherwise it prints LOCK_LOST_MARK and exits LOCK_LOST_EXIT, running nothing. A new holder
 * writes its `run.info` before it drains the steps lock, so a step that took its shared lock
 * before that write runs, and the drain waits for it; one that took it after is refused.
 *
 * `stoppable` (every forward step, in a batch or alone; not the rollback's own steps, which run
 * after the stop): it is refused too once `batch.stop` names its run, which `stopBatchScript`
 * writes before the rollback of an exec that did not come back. The check is under the shared
 * lock, so a step either started before the stop's exclusive drain (which waits for it) or sees
 * the stop.
 */
export function underStepsLock(script: string, runId: string, stoppable = false): string {
  const stopped = stoppable ? ' && ! grep -qxF "run=$3" "$5" 2>/dev/null' : '';
  const guard = [
    `if grep -qxF "run=$3" "$1" 2>/dev/null && ! flock -n "$2" true${stopped}; then exec sh -c "$4"; fi`,
    `echo ${LOCK_LOST_MARK}; exit ${String(LOCK_LOST_EXIT)}`,
  ].join('\n');
  const args = sh`kpfleet-step ${RUN_INFO} ${RUN_LOCK} ${oneLine(runId)} ${script}`;
  return (
    sh`flock -s -o ${STEPS_LOCK} sh -c ${guard} ` + args + (stoppable ? sh` ${BATCH_STOP}` : '')
  );
}

/** What `stopBatchScript` prints once no step of the exec runs or can start... */
export const BATCH_STOPPED = 'STOPPED';
/** ...and when a step still ran when its wait ended... */
export const BATCH_RUNNING = 'RUNNING';
/** ...and, writing nothing, when the host's lock is no longer the run's (`run.info`). */
export const BATCH_NOT_OURS = 'NOT_OURS';

/**
 * Before the rollback of an exec that did not come back (a batch, or a step alone; a timeout, a
 * lost connection, the output cap: it may still be running on the host), as root: `batch.stop`
 * names the run, so no further step of it starts (`underStepsLock`, stoppable), then the steps lock is
 * taken exclusively, waiting up to `waitS` seconds for the step in flight to end. Prints
 * BATCH_STOPPED once it is over; else RUNNING (the step still runs: the host is not rolled back
 * under it). Only while the host's lock is the run's, as a step's guard reads it (`run.info`
 * names it and `run.lock` is held; checked again under the shared steps lock right before the
 * write): else it prints BATCH_NOT_OURS and writes nothing, so a stop can never replace the
 * `batch.stop` of a run that holds the host now (a new holder's drain waits for a write begun
 * before its `run.info`, then drops it).
 */
export function stopBatchScript(runId: string, waitS: number): string {
  // the run's as a step's guard has it (underStepsLock): run.info names the run and run.lock is
  // held (a killed holder, as `kpfleet unlock` leaves it, leaves its run.info behind). Checked and
  // written under the shared steps lock: a new holder writes its run.info before it drains that
  // lock, so either this sees it, or that drain waits for the write and then drops the stop
  const write = [
    'if grep -qxF "run=$1" "$2" 2>/dev/null && ! flock -n "$3" true; then',
    `  printf 'run=%s\\n' "$1" >"$4" || exit 1`,
    'else exit 3; fi',
  ].join('\n');
  return [
    sh`grep -qxF ${`run=${oneLine(runId)}`} ${RUN_INFO} 2>/dev/null || { echo ${BATCH_NOT_OURS}; exit 0; }`,
    sh`flock -s -o ${STEPS_LOCK} sh -c ${write} kpfleet-stop ${oneLine(runId)} ${RUN_INFO} ${RUN_LOCK} ${BATCH_STOP}`,
    `rc=$?; if [ "$rc" = 3 ]; then echo ${BATCH_NOT_OURS}; exit 0; elif [ "$rc" != 0 ]; then exit 1; fi`,
    sh`if flock -w ${String(waitS)} ${STEPS_LOCK} true; then echo ${BATCH_STOPPED}; else echo ${BATCH_RUNNING}; fi`,
  ].join('\n');
}

/** Whether a step's output says the host refused it: the lock is no longer its run's. */
export function refusedForLock(stdout: string): boolean {
  return stdout.trim() === LOCK_LOST_MARK;
}

/** Reads the holder's first answer (and, when it is not LOCKED, what followed). */
export function parseLockAnswer(said: string): LockAnswer {
  const nl = said.indexOf('\n');
  const first = (nl < 0 ? said : said.slice(0, nl)).trim();
  const rest = nl < 0 ? '' : said.slice(nl + 1);
  switch (first) {
    case 'LOCKED':
      return { kind: 'locked' };
    case 'BUSY':
      return { kind: 'busy', holder: parseHolder(rest) };
    case 'LEGACY':
      return { kind: 'legacy', holder: parseHolder(rest) };
    case 'DRAIN':
      return { kind: 'drain' };
    case 'MISSING':
      return { kind: 'missing-tools' };
    default:
      return { kind: 'error', text: first.startsWith('ERROR ') ? first.slice(6) : first };
  }
}

/** `key=value` lines, each value bounded: the file is the host's to write. */
export function parseHolder(text: string): LockHolder {
  const field = (k: string): string => {
    for (const line of text.split('\n', 64)) {
      if (line.startsWith(`${k}=`)) return line.slice(k.length + 1).slice(0, 200);
    }
    return '?';
  };
  return {
    owner: field('owner'),
    since: field('since'),
    run: field('run'),
    pid: field('pid'),
    boot: field('boot'),
  };
}

/** `by OWNER since TIME (run ID)` */
export function describeHolder(h: LockHolder): string {
  return `${h.owner} since ${h.since} (run ${h.run})`;
}

/** The host's lock as `kpfleet unlock` reads it (as root): the legacy folder, then the lock. */
export function lockStateScript(): string {
  return [
    sh`if [ -d ${LEGACY_LOCK_DIR} ]; then echo LEGACY; cat ${`${LEGACY_LOCK_DIR}/info`} 2>/dev/null; echo; echo END; fi`,
    sh`cd ${LOCK_DIR} 2>/dev/null || { echo FREE; exit 0; }`,
    'if [ -e run.lock ] && command -v flock >/dev/null 2>&1 && ! flock -n run.lock true; then echo HELD; cat run.info 2>/dev/null; echo; echo END; else echo FREE; fi',
  ].join('\n');
}

export interface LockState {
  legacy?: LockHolder;
  held?: LockHolder;
}

export function parseLockState(out: string): LockState {
  const state: LockState = {};
  const blocks = out.split('\nEND\n');
  for (const b of blocks) {
    const text = b.replace(/^\n+/, '');
    if (text.startsWith('LEGACY\n')) state.legacy = parseHolder(text.slice(7));
    else if (text.startsWith('HELD\n')) state.held = parseHolder(text.slice(5));
  }
  return state;
}

/**
 * Ends the holder of run `runId` (only a process proven to be a kpfleet lock holder of that run)
 * and removes the legacy folder; says FREED once the lock is free, else STILL.
 */
export function unlockScript(runId: string, removeLegacy: boolean): string {
  return [
    removeLegacy ? sh`rm -rf -- ${LEGACY_LOCK_DIR}` : ':',
    sh`cd ${LOCK_DIR} 2>/dev/null || { echo FREED; exit 0; }`,
    "pid=$(sed -n 's/^pid=\\([0-9][0-9]*\\)$/\\1/p' run.info 2>/dev/null | head -n 1)",
    sh`if [ -n "$pid" ] && grep -qxF ${`run=${oneLine(runId)}`} run.info && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF ${HOLDER_NAME}; then kill "$pid"; fi`,
    'i=0',
    'while [ "$i" -lt 50 ]; do',
    '  if [ ! -e run.lock ] || flock -n run.lock true; then echo FREED; exit 0; fi',
    '  sleep 0.1; i=$((i + 1))',
    'done',
    'echo STILL',
  ].join('\n');
}

function oneLine(s: string): string {
  return s.replace(/[\n\r]/g, ' ');
}
