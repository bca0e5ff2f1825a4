/**
 * An in-memory `Transport` (src/transport/transport.ts) over a host of the pure model
 * (lab/model.ts), so that `applyPlan` runs in process, in milliseconds.
 *
 * SPEC. A `MemoryHost` is told the plan's changes for it and the run (operator, run id, lock
 * time: `expect`). It answers only the commands apply sends, each recognised by comparing the
 * whole command with what src builds for it, never by reading shell:
 * - the facts probe (`probeScript()`, alone or after the staging clean-up as its prelude): the
 *   model rendered in the probe's sections (probe-answer.ts);
 * - the lock (`hold` of `holderScript(run)`, as root): `LOCKED` (then the probe's answer, when
 *   the facts probe follows it: `HoldFollow`), held until released; or, when
 *   the `lockedBy` fault is on, the answer of a lock another run holds (`BUSY` or `LEGACY`, with
 *   who), ended;
 * - a batch of the plan's steps (`batch.ts`, answered by memory/batch.ts: the steps one by one,
 *   the host's gate between them);
 * - a step: `stepFor(c, …).script`, under `underStepsLock` when it runs as root (stoppable for
 *   the plan's changes, not for the rollback's), for c among the plan's changes and
 *   `rollbackChanges(plan changes, facts, run id)`, for every facts answer this host gave and its
 *   staging folder. The change runs on the model (`applyChange`); the
 *   answer is the command's output, `VERIFY_MARK <rc>`, and what the verification reads, in
 *   the format `splitStepOutput`/`judgeStep` read;
 * - the staging clean-up, the copy kept before an uninstall and its removal (`scripts.ts`'s
 *   commands), the configured health check, the rollback's stop of an exec that did not come
 *   back (`stopBatchScript`, its wait 1 s: the harness's step time);
 * - uploads of planned destinations (`~/.kpfleet/stage/…`, their folders made: the staging folder
 *   then exists, at STAGING_PATH), checked by sha256; each answers the file's absolute path.
 * Anything else (a command, an option such as `become`, an upload elsewhere) is refused: `exec`
 * throws with the command, and the refusal is kept in `refused` so that the harness fails the
 * test even where apply catches the error (it makes any error the host's failure).
 *
 * Faults, per host (`faults`): a step that fails (exit 1, nothing changed), a load that stays in
 * transition (does not verify), the lock held by another run, the connection dropped during a
 * step (after it ran on the host; its lock goes with it; the next command reconnects), during
 * a facts probe (before it answers) or during the rollback's stop of an exec (once it is over),
 * a step's exec that gets no answer in time (it ran on the
 * host; the connection and the lock stay) or comes back with no exit status (killed), a hook
 * as each step starts (to abort the run there, or end the lock as `kpfleet unlock` does), a
 * health check that fails, a copy before an uninstall that cannot be made, a host that cannot
 * be reached. A change behind the plan's back (stale facts) is a change to `model` between plan
 * and apply.
 */
import { rollbackChanges } from '../../../../src/apply/rollback.ts';
import {
  BATCH_NOT_OURS,
  BATCH_RUNNING,
  BATCH_STOPPED,
  holderScript,
  LOCK_LOST_EXIT,
  stopBatchScript,
  LOCK_LOST_MARK,
  underStepsLock,
} from '../../../../src/apply/lock.ts';
import { stashFolder, stashPath, storedPath } from '../../../../src/apply/scripts.ts';
import type { ManagerName } from '../../../../src/config-model.ts';
import { stepFor, VERIFY_MARK } from '../../../../src/apply/steps.ts';
import { AppError } from '../../../../src/errors.ts';
import type { HostFacts } from '../../../../src/facts/model.ts';
import { parseFacts } from '../../../../src/facts/parse/facts.ts';
import { PROBE_END, probeScript } from '../../../../src/facts/probe.ts';
import { STAGING_DIR } from '../../../../src/host-paths.ts';
import type { Change } from '../../../../src/plan/model.ts';
import {
  CommandTimeoutError,
  ConnectionLostError,
  HostUnreachableError,
  SudoPasswordError,
} from '../../../../src/transport/errors.ts';
import type {
  ExecOptions,
  ExecResult,
  Held,
  HoldOptions,
  UploadOptions,
} from '../../../../src/transport/transport.ts';
import type { ModelHost } from '../../../../lab/model.ts';
import {
  applyChange,
  cloneHost,
  copyInstall,
  kpatchInstall,
  ModelError,
} from '../../../../lab/model.ts';
import type { RunCommands, RunIdentity } from './answers.ts';
import {
  basename,
  cleanupCommands,
  endedHold,
  execResult as ok,
  runCommands,
  SHA,
  STAGING_PATH,
  verifyText,
} from './answers.ts';
import { MemoryTransport } from './connection.ts';
import { probeAnswer } from './probe-answer.ts';
import { answerBatch, recogniseBatch } from './batch.ts';

export type { RunIdentity } from './answers.ts';
export { STAGING_PATH } from './answers.ts';

/** Another run's lock, as the host shows it. */
export interface ForeignLock {
  kind: 'busy' | 'legacy';
  owner: string;
  since: string;
  run: string;
}

export interface StepInfo {
  change: Change;
  /** The change is one of the rollback's. */
  rollback: boolean;
  host: MemoryHost;
}

export interface HostFaults {
  /** A step whose command fails: its message (exit 1), nothing changed on the host. */
  failStep?: (s: StepInfo) => string | undefined;
  /** Loads of these modules are made but their transition never ends (verification: `11`). */
  stallLoad?: readonly string[];
  lockedBy?: ForeignLock;
  /** The connection is cut while this step runs, once the host has made its change. */
  dropDuring?: (s: StepInfo) => boolean;
  /**
   * This step's exec gets no answer in time (`CommandTimeoutError`), the host having made its
   * change (it may still be running there): the connection and the lock stay. In a batch, the
   * whole exec times out at this step.
   */
  timeoutDuring?: (s: StepInfo) => boolean;
  /**
   * This step's exec comes back with no exit status (its session's process killed by a signal,
   * SIGKILL), its output cut before the verification, the host having made its change: what the
   * session ran may still be running there (sudo killed, not the step under it).
   */
  killedDuring?: (s: StepInfo) => boolean;
  /**
   * The connection is cut during the `n`th facts probe run as its own exec since `expect` (1, 2,
   * …; not the one in the lock's session), before it answers.
   */
  dropProbe?: (n: number) => boolean;
  /**
   * The `n`th facts probe run as its own exec since `expect` (counted as `dropProbe` counts) gets
   * no answer in time (`CommandTimeoutError`): a slow host; the connection and the lock stay.
   */
  timeoutProbe?: (n: number) => boolean;
  /**
   * The `n`th facts probe run as its own exec since `expect` (counted as `dropProbe` counts)
   * answers output without the probe's shape (a hostile or broken host): its prelude ran.
   */
  garbleProbe?: (n: number) => boolean;
  /**
   * A step of an exec that did not come back (a batch, or a step alone) is still running when
   * the rollback asks it to stop (its wait ends first): `stopBatchScript` answers RUNNING.
   */
  batchStillRunning?: boolean;
  /** The rollback's stop of such an exec gets no answer in time (`CommandTimeoutError`). */
  stopBatchTimesOut?: boolean;
  /** The rollback's stop of such an exec is refused by sudo (it wants a password now). */
  stopSudoRefused?: boolean;
  /**
   * The connection is cut during the `n`th stop since `expect` (1, 2, …), once the host wrote it
   * and the step was over: its lock goes with it, the next command reconnects.
   */
  dropStop?: (n: number) => boolean;
  /**
   * The `n`th lock taken since `expect` (1, 2, …) answers DRAIN: a step of a run (this one's,
   * cut off with its connection) still holds the steps lock after the holder's wait.
   */
  drainOnHold?: (n: number) => boolean;
  /** Called as each step starts on the host (before it runs): abort the run, end the lock, … */
  onStep?: (s: StepInfo) => void;
  /** The health check fails, saying this on stderr (exit 1). */
  unhealthy?: string;
  /** The copy before an uninstall cannot be made (no space left). */
  stashFails?: boolean;
  unreachable?: boolean;
}

export class MemoryHost {
  readonly name: string;
  model: ModelHost;
  faults: HostFaults = {};
  flavor: 'rhel' | 'upstream' = 'rhel';
  readonly bootId: string;
  /** Patches whose transition never ends (a stalled load). */
  readonly transition = new Set<string>();
  /** This run's lock on the host, while a hold has it. */
  lock: { runId: string } | undefined;
  /** Copies kept before uninstalls: path → sha256. */
  readonly stash = new Map<string, string>();
  /** The staging folder exists. */
  staging = false;
  /** Every command refused, with why. */
  readonly refused: string[] = [];
  /** What was asked of the host since `expect`, in order: `probe`, `hold`, `load livepatch_a`, … */
  readonly log: string[] = [];
  /** Connections opened since `expect` (a reconnect after a drop counts). */
  connections = 0;
  /** Each facts answer given since `expect`, as apply parses it. */
  readonly served: HostFacts[] = [];
  private expected: RunCommands | undefined;
  /** Facts probes run as their own exec since `expect`. */
  private probes = 0;
  /** Stops (`stopBatchScript`) asked since `expect`. */
  private stops = 0;
  /**
   * A stop of this run was written (`locks/batch.stop`): the plan's steps (stoppable) are refused
   * from then on, as the host's guard refuses them; the rollback's are not. A new run's lock drops
   * it (`expect`: the next run).
   */
  stopped = false;
  private readonly helds = new Set<{ ended: boolean; lost: boolean; code: number | null }>();

  constructor(name: string, model: ModelHost, bootIndex = 1) {
    this.name = name;
    this.model = model;
    this.bootId = `00000000-0000-4000-8000-${bootIndex.toString(16).padStart(12, '0')}`;
  }

  /** The run to come: its plan's changes for this host, who runs it, its health check. */
  expect(
    changes: readonly Change[],
    run: RunIdentity,
    healthCheck?: string,
    manager: ManagerName = 'kpatch',
  ): Promise<void> {
    this.expected = runCommands(changes, run, healthCheck, manager);
    this.served.length = 0;
    this.log.length = 0;
    this.connections = 0;
    this.probes = 0;
    this.stops = 0;
    this.stopped = false;
    return Promise.resolve();
  }

  /** The facts probe's answer now (probe-answer.ts). */
  probeOutput(): string {
    return probeAnswer(this.model, {
      flavor: this.flavor,
      bootId: this.bootId,
      transition: this.transition,
    });
  }

  /** Ends this host's hold of the lock, as a lost connection (`lost`) or `kpfleet unlock` does. */
  endLock(lost: boolean): void {
    for (const h of this.helds) {
      h.ended = true;
      h.lost = lost;
      h.code = lost ? null : 143;
    }
    this.helds.clear();
    this.lock = undefined;
  }

  open(): MemoryTransport {
    if (this.faults.unreachable === true)
      throw new HostUnreachableError(`cannot reach ${this.name}: connection refused`, {
        host: this.name,
        step: 'connect',
      });
    this.connections++;
    return new MemoryTransport(this);
  }

  /** Refuses a command: kept for the harness, and thrown. */
  refuse(why: string, command: string): never {
    const text = `${this.name}: ${why}:\n${command}`;
    this.refused.push(text);
    throw new Error(`memory transport refused a command on ${text}`);
  }

  /** The probe's answer, logged and kept in `served`. */
  private answerProbe(): string {
    this.log.push('probe');
    const out = this.probeOutput();
    const parsed = parseFacts(out);
    if (!parsed.ok) this.refuse(`its own probe answer does not parse: ${parsed.error}`, out);
    this.served.push(parsed.facts);
    return out;
  }

  private need(command: string): RunCommands {
    return this.expected ?? this.refuse('no run expected (call expect first)', command);
  }

  exec(command: string, options: ExecOptions): ExecResult {
    const become = options.become === true;
    const probe = probeScript();
    if (command === probe || command.endsWith(`\n} >/dev/null 2>&1\n${probe}`)) {
      const n = ++this.probes;
      if (this.faults.dropProbe?.(n) === true) this.drop('facts');
      if (this.faults.timeoutProbe?.(n) === true) {
        this.log.push('timeout (facts)');
        throw new CommandTimeoutError('facts did not finish within 60 s', {
          host: this.name,
          step: 'facts',
        });
      }
      if (command !== probe) {
        const e = this.need(command);
        if (
          !cleanupCommands(e.folders).some((c) => command === `{ ${c}\n} >/dev/null 2>&1\n${probe}`)
        )
          this.refuse('a facts probe with an unknown prelude', command);
        this.log.push('staging cleanup');
        this.cleanup(e);
      }
      if (become) this.refuse('the probe runs without root', command);
      if (this.faults.garbleProbe?.(n) === true) {
        this.log.push('garbled (facts)');
        return ok('not the probe\n');
      }
      return ok(this.answerProbe());
    }
    const e = this.need(command);
    if (cleanupCommands(e.folders).includes(command) && !become) {
      this.log.push('staging cleanup');
      this.cleanup(e);
      return ok('');
    }
    const keep = e.stash.get(command);
    if (keep !== undefined && become) return this.keepCopy(keep);
    if (command === e.dropStash && become) {
      this.log.push('stash cleanup');
      for (const p of [...this.stash.keys()])
        if (p.startsWith(`${stashFolder(e.run.runId)}/`)) this.stash.delete(p);
      return ok('');
    }
    // the rollback's stop of an exec that did not come back, its wait one step's time (the
    // harness's 1 s)
    if (command === stopBatchScript(e.run.runId, 1) && become) {
      // as the host's script: nothing written unless its lock is this run's (run.info names the
      // run and run.lock is held: `lock` is both; after kpfleet unlock, or another run's lock)
      if (this.lock?.runId !== e.run.runId) {
        this.log.push('stop steps: not ours');
        return ok(`${BATCH_NOT_OURS}\n`);
      }
      this.log.push('stop steps');
      this.stopped = true;
      if (this.faults.dropStop?.(++this.stops) === true) this.drop('stop steps');
      if (this.faults.stopSudoRefused === true)
        throw new SudoPasswordError({ host: this.name, step: 'stop steps' });
      if (this.faults.stopBatchTimesOut === true)
        throw new CommandTimeoutError('stop steps did not finish within 31 s', {
          host: this.name,
          step: 'stop steps',
        });
      return ok(`${this.faults.batchStillRunning === true ? BATCH_RUNNING : BATCH_STOPPED}\n`);
    }
    if (e.healthCheck !== undefined && command === e.healthCheck && !become) {
      this.log.push('health check');
      const sick = this.faults.unhealthy;
      return sick === undefined ? ok('') : ok('', 1, `${sick}\n`);
    }
    const parts = become
      ? recogniseBatch(
          command,
          e.changes.filter((c) => c.action !== 'upload'),
          this.served,
          [STAGING_PATH, ''],
          e.run.runId,
          e.manager,
        )
      : undefined;
    if (parts !== undefined) return answerBatch(parts, (sent) => this.step(e, sent, true));
    return this.step(e, command, become);
  }

  private keepCopy(k: {
    kernel: string;
    file: string;
    path: string;
    store: ManagerName;
  }): ExecResult {
    this.log.push(`stash ${k.file}`);
    if (this.faults.stashFails === true)
      return ok('', 1, `cp: error writing '${k.path}': No space left on device\n`);
    const files = k.store === 'klp' ? this.model.klpStore : this.model.installed;
    const f = files.find((i) => i.kernel === k.kernel && i.file === k.file);
    if (!f)
      return ok(
        '',
        1,
        `cp: cannot stat '${storedPath(k.kernel, k.file, k.store)}': No such file\n`,
      );
    this.stash.set(k.path, f.sha256);
    return ok('');
  }

  private cleanup(e: RunCommands): void {
    for (const d of e.uploads) this.model.staged.delete(d);
    const left = [...this.model.staged.keys()].some((d) => d.startsWith(`${STAGING_DIR}/`));
    if (!left) this.staging = false;
  }

  /**
   * The change this command is the step of: the plan's (stoppable, alone or in a batch), or the
   * rollback's (not stoppable: it runs after the stop).
   */
  private recognise(e: RunCommands, command: string, become: boolean): StepInfo | undefined {
    const facts = this.served.length ? this.served : [];
    const rollback = facts.flatMap((f) => rollbackChanges(e.changes, f, e.run.runId, e.manager));
    const candidates = [
      ...e.changes.filter((c) => c.action !== 'upload').map((c) => ({ c, rollback: false })),
      ...rollback.map((c) => ({ c, rollback: true })),
    ];
    for (const { c, rollback: r } of candidates) {
      for (const f of facts) {
        for (const staging of [STAGING_PATH, '']) {
          const s = stepFor(c, { facts: f, staging, runId: e.run.runId, manager: e.manager });
          const sent = s.become ? underStepsLock(s.script, e.run.runId, !r) : s.script;
          if (sent === command && s.become === become)
            return { change: c, rollback: r, host: this };
        }
      }
    }
    return undefined;
  }

  /** A step alone, or a batch's part. */
  private step(e: RunCommands, command: string, become: boolean): ExecResult {
    const info = this.recognise(e, command, become);
    if (!info) return this.refuse('not a command apply sends for this plan', command);
    const c = info.change;
    // the host runs a root step only while run.info names this run (lock.ts underStepsLock)
    if (become && this.lock?.runId !== e.run.runId) {
      this.log.push(`refused (lock lost) ${c.action}`);
      return ok(`${LOCK_LOST_MARK}\n`, LOCK_LOST_EXIT);
    }
    // ...and a step of the plan (stoppable) only until the rollback's stop names the run
    if (this.stopped && !info.rollback) {
      this.log.push(`refused (stopped) ${c.action}`);
      return ok(`${LOCK_LOST_MARK}\n`, LOCK_LOST_EXIT);
    }
    this.log.push(
      `${info.rollback ? 'rollback ' : ''}${c.action} ${'module' in c ? c.module : ''}`.trim(),
    );
    this.faults.onStep?.(info);
    const failed = this.faults.failStep?.(info);
    let rc = 0;
    let output = '';
    if (failed !== undefined) {
      rc = 1;
      output = failed;
    } else {
      try {
        this.run(c, e.manager, e.run.runId);
      } catch (err) {
        if (!(err instanceof ModelError)) throw err;
        rc = 1;
        output = err.message;
      }
    }
    if (this.faults.dropDuring?.(info) === true) this.drop(c.action);
    if (this.faults.killedDuring?.(info) === true) {
      this.log.push(`killed (${c.action})`);
      // what the command printed, cut before the verification
      return { ...ok(output ? `${output}\n` : ''), code: null, signal: 'KILL' };
    }
    if (this.faults.timeoutDuring?.(info) === true) {
      this.log.push(`timeout (${c.action})`);
      throw new CommandTimeoutError(`${c.action} did not finish within 1 s`, {
        host: this.name,
        step: c.action,
      });
    }
    return ok(
      `${output ? `${output}\n` : ''}\n${VERIFY_MARK} ${String(rc)}\n${verifyText(this.model, this.transition, c, e.manager)}\n`,
    );
  }

  /** The connection is cut during `step`: the lock goes with it. */
  private drop(step: string): never {
    this.log.push(`drop (${step})`);
    this.endLock(true);
    throw new ConnectionLostError(`the connection to ${this.name} was lost during ${step}`, {
      host: this.name,
      step,
    });
  }

  /** The change on the model: an install from this run's copy, else as `applyChange`. */
  private run(c: Change, manager: ManagerName, runId: string): void {
    const m = this.model;
    if (c.action === 'install' && this.stash.has(c.file)) {
      // a copy this run kept goes back under the name it had
      const store = c.store ?? manager;
      const sha = this.stash.get(c.file) ?? '';
      if (store === 'kpatch' && m.kpatchInstalled)
        kpatchInstall(m, c.kernel, sha, basename(c.file));
      else copyInstall(m, store, c.kernel, sha, basename(c.file));
      return;
    }
    if (c.action === 'install' && (c.store ?? manager) === 'klp') {
      // the klp install keeps the copy it replaces first (klp-steps.ts copyInstall)
      const old = m.klpStore.find((i) => i.kernel === c.kernel && i.file === `${c.module}.ko`);
      if (old !== undefined)
        this.stash.set(stashPath(runId, c.kernel, old.file, 'klp'), old.sha256);
    }
    if (c.action === 'unload') this.transition.delete(c.module);
    // the klp loader reverses a stalled transition (docs/klp-behaviour.md §K.3): the kernel
    // is as before the insmod (a retired patch was never dropped), the module removed
    const before = { sysfs: cloneHost(m).sysfs, resident: new Map(m.resident) };
    applyChange(m, c, new Map(), manager);
    if (
      manager === 'klp' &&
      c.action === 'load' &&
      this.faults.stallLoad?.includes(c.module) === true
    ) {
      m.sysfs = before.sysfs;
      m.resident = before.resident;
      throw new ModelError(
        `kpfleet: the transition of ${c.module} has stalled; tasks still unpatched:\nkpfleet: task 4242 (qemu-kvm) has not switched\nkpfleet: transition stalled: ${c.module} was reversed and is not loaded`,
      );
    }
    if (c.action === 'load' && this.faults.stallLoad?.includes(c.module) === true)
      this.transition.add(c.module);
  }

  hold(command: string, options: HoldOptions): Held {
    const e = this.need(command);
    const { run } = e;
    if (command !== holderScript({ owner: run.operator, since: run.since, runId: run.runId }))
      this.refuse('not the lock this run asks for', command);
    if (options.become !== true) this.refuse('the lock is taken as root', command);
    const f = options.follow;
    if (
      f !== undefined &&
      (f.gate !== 'LOCKED' || f.command !== probeScript() || f.until !== PROBE_END)
    )
      this.refuse('a lock followed by something else than the facts probe', command);
    this.log.push('hold');
    if (this.faults.drainOnHold?.(this.log.filter((l) => l === 'hold').length) === true)
      return endedHold('DRAIN\n');
    const other = this.faults.lockedBy;
    const info = (o: { owner: string; since: string; run: string }) =>
      `owner=${o.owner}\nsince=${o.since}\nrun=${o.run}\n`;
    if (other !== undefined) {
      const said =
        other.kind === 'busy'
          ? `BUSY\n${info(other)}pid=4242\nboot=${this.bootId}\n`
          : `LEGACY\n${info(other)}`;
      return endedHold(said);
    }
    if (this.lock !== undefined)
      return endedHold(
        `BUSY\n${info({ owner: run.operator, since: run.since, run: this.lock.runId })}`,
      );
    this.lock = { runId: run.runId };
    const st = { ended: false, lost: false, code: null as number | null };
    this.helds.add(st);
    // the probe, as the login user, in the lock's session once it is held
    const said = f === undefined ? 'LOCKED\n' : `LOCKED\n${this.answerProbe()}`;
    return {
      said,
      stderr: '',
      get code() {
        return st.code;
      },
      get ended() {
        return st.ended;
      },
      get lost() {
        return st.lost;
      },
      release: () => {
        this.log.push('release');
        if (!st.ended) {
          st.ended = true;
          st.code = 0;
          this.helds.delete(st);
          this.lock = undefined;
        }
        return Promise.resolve();
      },
    };
  }

  upload(content: Buffer, remotePath: string, options: UploadOptions): string {
    const e = this.need(remotePath);
    const dest = remotePath;
    if (!e.uploads.includes(dest) || options.makeFolders !== true)
      this.refuse('an upload that is not a planned one into the staging folder', remotePath);
    if (!this.staging) this.log.push('staging');
    this.staging = true;
    const change = e.changes.find((c) => c.action === 'upload' && c.destination === dest);
    if (change) this.faults.onStep?.({ change, rollback: false, host: this });
    if (SHA(content) !== options.sha256)
      throw new AppError('E_UPLOAD', `sha256 mismatch for ${remotePath}`, {
        host: this.name,
        step: 'upload',
      });
    this.log.push(`upload ${dest.slice(dest.lastIndexOf('/') + 1)}`);
    this.model.staged.set(dest, options.sha256);
    return STAGING_PATH + dest.slice(STAGING_DIR.length);
  }
}
