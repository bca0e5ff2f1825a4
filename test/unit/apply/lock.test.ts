/**
 * The pure parts of the host lock (src/apply/lock.ts): the holder's answers and lock files read
 * (the host's words, bounded), and the scripts built for the host (valid sh, inputs quoted).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchScript } from '../../../src/apply/batch.ts';
import { VERIFY_MARK } from '../../../src/apply/step-frame.ts';
import {
  BATCH_NOT_OURS,
  BATCH_RUNNING,
  BATCH_STOPPED,
  describeHolder,
  holderScript,
  LOCK_LOST_ERROR,
  LOCK_LOST_EXIT,
  LOCK_LOST_MARK,
  lockStateScript,
  parseHolder,
  parseLockAnswer,
  parseLockState,
  refusedForLock,
  stopBatchScript,
  underStepsLock,
  unlockScript,
} from '../../../src/apply/lock.ts';
import { judgeStep } from '../../../src/apply/steps.ts';

const INFO = 'owner=alice@ci\nsince=2026-12-04T12:00:00.000Z\nrun=run-1\npid=4242\nboot=b00t\n';
const ALICE = {
  owner: 'alice@ci',
  since: '2026-12-04T12:00:00.000Z',
  run: 'run-1',
  pid: '4242',
  boot: 'b00t',
};

/** `sh -n`: the script parses (nothing runs). */
function parses(script: string): boolean {
  return spawnSync('sh', ['-n', '-c', script]).status === 0;
}

describe("the holder's answer", () => {
  it('LOCKED, BUSY with its holder, LEGACY, DRAIN, MISSING, ERROR', () => {
    expect(parseLockAnswer('LOCKED\n')).toEqual({ kind: 'locked' });
    expect(parseLockAnswer(`BUSY\n${INFO}`)).toEqual({ kind: 'busy', holder: ALICE });
    expect(parseLockAnswer('LEGACY\nowner=carol@old\nsince=x\nrun=old-1\n')).toEqual({
      kind: 'legacy',
      holder: { owner: 'carol@old', since: 'x', run: 'old-1', pid: '?', boot: '?' },
    });
    expect(parseLockAnswer('DRAIN\n')).toEqual({ kind: 'drain' });
    expect(parseLockAnswer('MISSING\n')).toEqual({ kind: 'missing-tools' });
    expect(parseLockAnswer('ERROR flock exit 66\n')).toEqual({
      kind: 'error',
      text: 'flock exit 66',
    });
  });

  it('anything else is an error, never a lock taken', () => {
    for (const said of ['', 'LOCKED?', 'locked\n', ' BUSY x', 'LOCKEDLOCKED\n'])
      expect(parseLockAnswer(said).kind, JSON.stringify(said)).toBe('error');
  });
});

describe('who holds the lock (the host writes it: bounded, never trusted)', () => {
  it('a missing field is ?; a value is cut at 200 characters', () => {
    const h = parseHolder(`owner=${'a'.repeat(5000)}\nrun=r\n`);
    expect(h.owner).toHaveLength(200);
    expect(h).toMatchObject({ run: 'r', since: '?', pid: '?', boot: '?' });
  });

  it('only the first 64 lines are read', () => {
    const h = parseHolder(`${'junk\n'.repeat(100)}owner=late\n`);
    expect(h.owner).toBe('?');
  });

  it('describes the holder as owner, since and run', () => {
    expect(describeHolder(ALICE)).toBe('alice@ci since 2026-12-04T12:00:00.000Z (run run-1)');
  });

  it('the state kpfleet unlock reads: free, held, the legacy folder, or both', () => {
    expect(parseLockState('FREE\n')).toEqual({});
    expect(parseLockState(`HELD\n${INFO}\nEND\n`)).toEqual({ held: ALICE });
    expect(
      parseLockState('LEGACY\nowner=carol@old\nrun=old-1\n\nEND\nHELD\n' + INFO + '\nEND\n'),
    ).toEqual({
      legacy: { owner: 'carol@old', since: '?', run: 'old-1', pid: '?', boot: '?' },
      held: ALICE,
    });
  });
});

describe('the scripts sent to the host', () => {
  const hostile = {
    owner: "eve'; touch /tmp/pwned; echo '\nrun=forged",
    since: '$(reboot)',
    runId: '`id`\nrun=other',
  };

  it('parse as sh, with hostile owner, since and run id', () => {
    expect(parses(holderScript(hostile))).toBe(true);
    expect(parses(lockStateScript())).toBe(true);
    expect(parses(unlockScript(hostile.runId, true))).toBe(true);
    expect(parses(underStepsLock("echo 'a b'; exit 3", hostile.runId))).toBe(true);
    expect(parses(underStepsLock("echo 'a b'; exit 3", hostile.runId, true))).toBe(true);
    expect(parses(stopBatchScript(hostile.runId, 30))).toBe(true);
  });

  it('the info the holder writes is one line per field: a newline in a value cannot add a field', () => {
    const script = holderScript(hostile);
    expect(script).not.toContain('\nrun=forged');
    expect(script).not.toContain('\nrun=other');
  });

  it('the holder is flock -n -o: the lock is not inherited by what the holder runs', () => {
    expect(holderScript({ owner: 'a', since: 'b', runId: 'c' })).toMatch(
      /flock -n -o run\.lock sh -c /,
    );
    expect(underStepsLock('true', 'run-1')).toMatch(
      /^flock -s -o '?\/var\/lib\/kpfleet\/locks\/steps\.lock'? sh -c /,
    );
  });
});

/** A scratch folder standing for the host's /, as /var/lib is (0755). */
function scratchRoot(): { dir: string; kp: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kpfleet-unit-lockdir-'));
  chmodSync(dir, 0o755);
  return { dir, kp: `${dir}/var/lib/kpfleet` };
}

/** The real holder, its paths under `kp`: running once it said LOCKED, until `stop()`. */
async function startHolder(kp: string, runId: string) {
  const script = holderScript({ owner: 'a', since: 'b', runId }).replaceAll('/var/lib/kpfleet', kp);
  const proc = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let said = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      said += d.toString();
      if (said.includes('\n')) resolve();
    });
    proc.on('error', reject);
  });
  const closed = new Promise((r) => proc.on('close', r));
  return {
    said,
    async stop() {
      proc.stdin.end();
      await closed;
    },
  };
}

/** A step of run `runId` under the steps lock, its paths under `kp`, run for real. */
function step(kp: string, runId: string, script: string) {
  const r = spawnSync(
    'sh',
    ['-c', underStepsLock(script, runId).replaceAll('/var/lib/kpfleet', kp)],
    {
      encoding: 'utf8',
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('a step runs only while the lock is its run’s (run for real in a scratch folder)', () => {
  it('a step of the run holding the lock keeps its own exit status and output', async () => {
    const { dir, kp } = scratchRoot();
    try {
      const h = await startHolder(kp, 'run-1');
      expect(h.said).toBe('LOCKED\n');
      expect(step(kp, 'run-1', 'echo out; echo err >&2; exit 3')).toEqual({
        code: 3,
        out: 'out\n',
        err: 'err\n',
      });
      await h.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('another run holds the lock, or none does: the step is refused and nothing runs', async () => {
    const { dir, kp } = scratchRoot();
    const ran = join(dir, 'ran');
    const refused = { code: LOCK_LOST_EXIT, out: `${LOCK_LOST_MARK}\n`, err: '' };
    try {
      const h = await startHolder(kp, 'run-2');
      expect(step(kp, 'run-1', `touch ${ran}`)).toEqual(refused);
      await h.stop();
      // the lock ended (the holder removed its run.info)
      expect(step(kp, 'run-2', `touch ${ran}`)).toEqual(refused);
      // the holder was killed (kpfleet unlock): its run.info is left, naming run-2, the lock free
      writeFileSync(`${kp}/locks/run.info`, 'owner=a\nrun=run-2\npid=1\n');
      expect(step(kp, 'run-2', `touch ${ran}`)).toEqual(refused);
      expect(existsSync(ran)).toBe(false);
      expect(refusedForLock(refused.out)).toBe(true);
      expect(judgeStep({ action: 'enable-service', reason: 'r' }, refused.out)).toEqual({
        ok: false,
        error: LOCK_LOST_ERROR,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Runs `argv` as the unprivileged user nobody: its exit status. */
function asNobody(argv: string[]): number | null {
  return spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv])
    .status;
}

describe('the lock files are root only (run for real, as root, in a scratch folder)', () => {
  const root = process.getuid?.() === 0;

  it.runIf(root)(
    'a local user cannot open run.lock, steps.lock or run.info, so cannot hold the lock; /var/lib/kpfleet stays readable',
    async () => {
      const { dir: scratch, kp } = scratchRoot();
      try {
        const holder = await startHolder(kp, 'run-1');
        expect(holder.said).toBe('LOCKED\n');
        const files = spawnSync(
          'find',
          [kp, '-name', 'run.lock', '-o', '-name', 'steps.lock', '-o', '-name', 'run.info'],
          {
            encoding: 'utf8',
          },
        )
          .stdout.split('\n')
          .filter(Boolean);
        for (const f of files) {
          // open for reading is all flock needs: it must fail
          expect(asNobody(['sh', '-c', 'exec 3<"$1"', 'open', f]), f).not.toBe(0);
          expect(asNobody(['flock', '-n', '-s', f, 'true']), f).not.toBe(0);
        }
        expect(files.map((f) => f.slice(kp.length)).sort()).toEqual([
          '/locks/run.info',
          '/locks/run.lock',
          '/locks/steps.lock',
        ]);
        expect(statSync(`${kp}/locks`).mode & 0o777).toBe(0o700);
        // the facts probe (the login user) still reads /var/lib/kpfleet
        expect(statSync(kp).mode & 0o777).toBe(0o755);
        expect(asNobody(['ls', kp])).toBe(0);
        await holder.stop();
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  );
});

describe('a batch that may still run is stopped before its rollback (run for real in a scratch folder)', () => {
  /** A batch of run-1 (batch.ts) under `kp`: a slow first step, then a second; running. */
  function startBatch(kp: string, dir: string, firstSleepS: number) {
    const passing = (s: string) => `${s}; printf '\\n%s 0\\n' ${VERIFY_MARK}`;
    const script = batchScript([
      {
        sent: underStepsLock(
          passing(`touch ${dir}/started1; sleep ${String(firstSleepS)}; touch ${dir}/done1`),
          'run-1',
          true,
        ),
        passing: '',
      },
      { sent: underStepsLock(passing(`touch ${dir}/ran2`), 'run-1', true), passing: '' },
    ]).replaceAll('/var/lib/kpfleet', kp);
    const proc = spawn('sh', ['-c', script], { stdio: 'ignore' });
    return new Promise((r) => proc.on('close', r));
  }
  const stop = (kp: string, waitS: number) =>
    spawnSync('sh', ['-c', stopBatchScript('run-1', waitS).replaceAll('/var/lib/kpfleet', kp)], {
      encoding: 'utf8',
    });
  const until = async (path: string) => {
    for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 25));
  };

  it('the step in flight is waited for, the next never starts; the rollback’s own step (not stoppable) still runs', async () => {
    const { dir, kp } = scratchRoot();
    try {
      const h = await startHolder(kp, 'run-1');
      const ended = startBatch(kp, dir, 1);
      await until(`${dir}/started1`);
      const r = stop(kp, 10);
      expect(r.stdout).toBe(`${BATCH_STOPPED}\n`);
      // it returned only once the step in flight had ended
      expect(existsSync(`${dir}/done1`)).toBe(true);
      await ended;
      expect(existsSync(`${dir}/ran2`)).toBe(false);
      // the rollback's own steps (one exec each, not stoppable) run
      expect(step(kp, 'run-1', 'echo undo')).toEqual({ code: 0, out: 'undo\n', err: '' });
      await h.stop();
      // the next run's holder drops the stop of an earlier run
      expect(existsSync(`${kp}/locks/batch.stop`)).toBe(true);
      const next = await startHolder(kp, 'run-2');
      expect(existsSync(`${kp}/locks/batch.stop`)).toBe(false);
      await next.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a forward step alone is stoppable too: the one in flight is waited for, one sent after never runs', async () => {
    const { dir, kp } = scratchRoot();
    /** A forward step of run-1 alone (run-step.ts: stoppable), as the host runs it. */
    const forward = (script: string) =>
      spawn(
        'sh',
        ['-c', underStepsLock(script, 'run-1', true).replaceAll('/var/lib/kpfleet', kp)],
        {
          stdio: 'ignore',
        },
      );
    try {
      const h = await startHolder(kp, 'run-1');
      const slow = forward(`touch ${dir}/started; sleep 1; touch ${dir}/done`);
      const ended = new Promise((r) => slow.on('close', r));
      await until(`${dir}/started`);
      expect(stop(kp, 10).stdout).toBe(`${BATCH_STOPPED}\n`);
      expect(existsSync(`${dir}/done`)).toBe(true);
      await ended;
      // sent before the stop, started after it (a step whose exec did not come back): refused
      const late = forward(`touch ${dir}/late`);
      const code = await new Promise((r) => late.on('close', r));
      expect(code).toBe(LOCK_LOST_EXIT);
      expect(existsSync(`${dir}/late`)).toBe(false);
      // the rollback's own step (not stoppable) runs
      expect(step(kp, 'run-1', 'echo undo')).toEqual({ code: 0, out: 'undo\n', err: '' });
      await h.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("another run's lock: NOT_OURS, and its own stop is left as it was (nothing written)", async () => {
    const { dir, kp } = scratchRoot();
    try {
      // no run holds the host: nothing is written
      expect(stop(kp, 1).stdout).toBe(`${BATCH_NOT_OURS}\n`);
      expect(existsSync(`${kp}/locks/batch.stop`)).toBe(false);
      // run-2 holds it now and has its own stop written: run-1's stop does not replace it
      const h = await startHolder(kp, 'run-2');
      writeFileSync(`${kp}/locks/batch.stop`, 'run=run-2\n');
      expect(stop(kp, 1).stdout).toBe(`${BATCH_NOT_OURS}\n`);
      expect(readFileSync(`${kp}/locks/batch.stop`, 'utf8')).toBe('run=run-2\n');
      await h.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the holder was killed (kpfleet unlock): its run.info still names the run, the lock is free: NOT_OURS, nothing written', async () => {
    const { dir, kp } = scratchRoot();
    try {
      const h = await startHolder(kp, 'run-1');
      await h.stop();
      // what a killed holder leaves (it never reaches its own rm): run.info naming run-1, no lock
      writeFileSync(`${kp}/locks/run.info`, 'owner=a\nsince=b\nrun=run-1\npid=1\n');
      expect(stop(kp, 1).stdout).toBe(`${BATCH_NOT_OURS}\n`);
      expect(existsSync(`${kp}/locks/batch.stop`)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a new holder between the stop's checks and its write: the new run's stop is never replaced", async () => {
    // the stop's grep of run.info waits for `go` at its nth call (1: the first check; 2: the one
    // under the shared steps lock, right before the write); meanwhile run-1's holder is killed
    // (kpfleet unlock: its run.info stays) and run-2 takes the lock and writes its own stop
    for (const pauseAt of [1, 2]) {
      const { dir, kp } = scratchRoot();
      const shim = join(dir, 'bin');
      mkdirSync(shim);
      writeFileSync(
        join(shim, 'grep'),
        [
          '#!/bin/sh',
          '/usr/bin/grep "$@"; rc=$?',
          `n=$(cat ${dir}/calls 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >${dir}/calls`,
          `if [ "$n" = ${String(pauseAt)} ]; then touch ${dir}/paused; while [ ! -e ${dir}/go ]; do sleep 0.02; done; fi`,
          'exit "$rc"',
        ].join('\n'),
        { mode: 0o755 },
      );
      try {
        const a = await startHolder(kp, 'run-1');
        const script = stopBatchScript('run-1', 1).replaceAll('/var/lib/kpfleet', kp);
        const p = spawn('sh', ['-c', script], {
          stdio: 'ignore',
          env: { ...process.env, PATH: `${shim}:${process.env.PATH ?? ''}` },
        });
        const stopped = new Promise((r) => p.on('close', r));
        await until(`${dir}/paused`);
        expect(existsSync(`${dir}/paused`)).toBe(true);
        const info = readFileSync(`${kp}/locks/run.info`);
        await a.stop();
        writeFileSync(`${kp}/locks/run.info`, info);
        const b = startHolder(kp, 'run-2');
        // run-2 locked while the stop waited: its own stop written (an exec that did not come back)
        const lockedFirst = await Promise.race([
          b.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 500)),
        ]);
        if (lockedFirst) writeFileSync(`${kp}/locks/batch.stop`, 'run=run-2\n');
        writeFileSync(`${dir}/go`, '');
        await stopped;
        const held = await b;
        expect(held.said).toBe('LOCKED\n');
        // what run-2 finds is its own stop, or none (its holder dropped run-1's): never run-1's
        const found = existsSync(`${kp}/locks/batch.stop`)
          ? readFileSync(`${kp}/locks/batch.stop`, 'utf8')
          : '';
        expect({ pauseAt, found }).not.toEqual({ pauseAt, found: 'run=run-1\n' });
        await held.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('a step still running when the wait ends: RUNNING (the rollback does not go on under it)', async () => {
    const { dir, kp } = scratchRoot();
    try {
      const h = await startHolder(kp, 'run-1');
      const ended = startBatch(kp, dir, 3);
      await until(`${dir}/started1`);
      expect(stop(kp, 1).stdout).toBe(`${BATCH_RUNNING}\n`);
      await ended;
      expect(existsSync(`${dir}/done1`)).toBe(true);
      expect(existsSync(`${dir}/ran2`)).toBe(false);
      await h.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kpfleet unlock reads and ends the lock in its folder (run for real in a scratch folder)', () => {
  it('the state says who holds it; unlock ends that holder and the lock is free', async () => {
    const { dir, kp } = scratchRoot();
    const run = (script: string) =>
      spawnSync('sh', ['-c', script.replaceAll('/var/lib/kpfleet', kp)], { encoding: 'utf8' })
        .stdout;
    try {
      const h = await startHolder(kp, 'run-1');
      const state = parseLockState(run(lockStateScript()));
      expect(state.held).toMatchObject({ owner: 'a', since: 'b', run: 'run-1' });
      expect(run(unlockScript('run-1', false))).toBe('FREED\n');
      expect(parseLockState(run(lockStateScript()))).toEqual({});
      await h.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
