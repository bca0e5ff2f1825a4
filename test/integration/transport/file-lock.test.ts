/**
 * The known_hosts lock (src/transport/ssh/file-lock.ts) with real files and processes:
 * - a stale lock kpfleet may not remove (another user's, in a sticky folder) is a clear error
 *   naming the lock, at once: never a loop that skips its own deadline and sleep (which held the
 *   CPU at 100% and the event loop, so Ctrl-C could not run);
 * - breaking a stale lock never moves or removes a lock taken since: a contender that judged
 *   an old lock stale, and acts after another process took the lock, leaves the new holder's
 *   lock in place the whole time (when it was moved aside for a moment, a third process could
 *   take it and two held it).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as realFs from 'node:fs';
import type * as FsModule from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const CHILD = new URL('./file-lock-child.ts', import.meta.url).pathname;
const ROOT = new URL('../../..', import.meta.url).pathname;
const TMP = join(ROOT, 'test/.tmp');
const asRoot = process.getuid?.() === 0;

/** What the mocked node:fs does around the lock module's calls (see the race test). */
const hook: {
  /** Called once, after the first read of the lock's content. */
  afterRead?: (() => void) | undefined;
  /** Called after each call that changes the file system. */
  afterChange?: ((call: string) => void) | undefined;
  lock?: string | undefined;
} = {};

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof FsModule>();
  const call = (name: string, args: unknown[]): unknown =>
    (fs as unknown as Record<string, (...a: unknown[]) => unknown>)[name]?.(...args);
  /** After the first read of the lock's content (by path, or an open for reading), once. */
  const afterRead = (path: unknown): void => {
    const at = hook.afterRead;
    if (at === undefined || hook.lock === undefined || !String(path).startsWith(hook.lock)) return;
    hook.afterRead = undefined;
    at();
  };
  const wrapped: Record<string, unknown> = {};
  for (const name of ['renameSync', 'unlinkSync', 'rmdirSync', 'rmSync', 'linkSync', 'openSync']) {
    wrapped[name] = (...args: unknown[]) => {
      try {
        return call(name, args);
      } finally {
        const flags = args[1];
        const reading =
          name === 'openSync' &&
          (flags === undefined ||
            flags === 'r' ||
            (typeof flags === 'number' && (flags & 3) === fs.constants.O_RDONLY));
        if (reading) afterRead(args[0]);
        else hook.afterChange?.(`${name}(${args.map(String).join(', ')})`);
      }
    };
  }
  wrapped.readFileSync = (...args: unknown[]) => {
    const out = call('readFileSync', args);
    if (typeof args[0] === 'string') afterRead(args[0]);
    return out;
  };
  return { ...fs, ...wrapped, default: { ...fs, ...wrapped } };
});

const { withFileLock } = await import('../../../src/transport/ssh/file-lock.ts');

const started: ChildProcess[] = [];
const dirs: string[] = [];

function tempDir(name: string, mode = 0o755): string {
  const dir = join(TMP, `file-lock-${name}-${String(process.pid)}`);
  realFs.rmSync(dir, { recursive: true, force: true });
  realFs.mkdirSync(dir, { recursive: true });
  realFs.chmodSync(dir, mode);
  dirs.push(dir);
  return dir;
}

function child(args: string[], asUser?: number) {
  const argv = [process.execPath, '--import', 'tsx', CHILD, ...args];
  const [cmd = '', ...rest] =
    asUser === undefined
      ? argv
      : [
          'setpriv',
          `--reuid=${String(asUser)}`,
          `--regid=${String(asUser)}`,
          '--clear-groups',
          ...argv,
        ];
  // the guard against a child that never ends (the bug): the answer is expected in seconds
  return spawnSync(cmd, rest, { cwd: ROOT, encoding: 'utf8', timeout: 45_000 });
}

/** The pid recorded in the lock at `lock`, in whichever form the lock takes (file or folder). */
function holderPid(lock: string): number | undefined {
  try {
    const st = realFs.lstatSync(lock);
    const file = st.isDirectory()
      ? realFs.readdirSync(lock).map((n) => join(lock, n))[0]
      : st.isFile()
        ? lock
        : undefined;
    if (file === undefined) return undefined;
    return (JSON.parse(realFs.readFileSync(file, 'utf8')) as { pid?: number }).pid;
  } catch {
    return undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

afterEach(() => {
  hook.afterRead = undefined;
  hook.afterChange = undefined;
  hook.lock = undefined;
  for (const c of started.splice(0)) if (c.pid !== undefined && c.exitCode === null) c.kill();
  for (const d of dirs.splice(0)) realFs.rmSync(d, { recursive: true, force: true });
});

const OLD = new Date(Date.now() - 2 * 3600_000);

describe.skipIf(!asRoot)('a stale lock this user may not remove (run as nobody)', () => {
  // (skipped unless root: it needs a lock owned by another user, and setpriv to become nobody)

  it('a root-owned lock file, old, in a sticky folder: a clear error at once, no busy loop', () => {
    const dir = tempDir('sticky', 0o1777);
    const known = join(dir, 'known_hosts');
    realFs.writeFileSync(known, '');
    const lock = `${known}.kpfleet-lock`;
    realFs.writeFileSync(
      lock,
      JSON.stringify({ pid: 4_000_000, host: 'elsewhere.example', token: 't' }),
      { mode: 0o600 },
    );
    realFs.utimesSync(lock, OLD, OLD);
    const r = child(['try', known, '2000'], 65534);
    expect(r.signal, 'the child was killed: it never gave up on the lock').toBeNull();
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { ok: boolean; error?: string };
    expect(out.ok).toBe(false);
    expect(out.error).toContain(lock);
    expect(out.error).toMatch(/permission denied \((EPERM|EACCES)\)/);
    // nothing of it was touched
    expect(realFs.statSync(lock).uid).toBe(0);
  });

  it('a lock left by a crashed run as root: the same clear error', () => {
    const dir = tempDir('sticky-crashed', 0o1777);
    const known = join(dir, 'known_hosts');
    realFs.writeFileSync(known, '');
    const lock = `${known}.kpfleet-lock`;
    const crashed = child(['crash', known]);
    expect(crashed.status).toBe(0);
    expect(realFs.existsSync(lock)).toBe(true);
    const r = child(['try', known, '2000'], 65534);
    expect(r.signal, 'the child was killed: it never gave up on the lock').toBeNull();
    const out = JSON.parse(r.stdout) as { ok: boolean; error?: string };
    expect(out.ok).toBe(false);
    expect(out.error).toContain(lock);
    expect(out.error).toMatch(/permission denied \((EPERM|EACCES)\)/);
  });
});

describe('breaking a stale lock', () => {
  it('never moves or removes a lock another process took after it was judged stale', async () => {
    const dir = tempDir('race');
    const known = join(dir, 'known_hosts');
    realFs.writeFileSync(known, '');
    const lock = `${known}.kpfleet-lock`;
    // a run that died holding the lock: its process is gone, so the lock is stale at once
    expect(child(['crash', known]).status).toBe(0);
    expect(holderPid(lock)).toBeDefined();

    let holder: number | undefined;
    const violations: string[] = [];
    hook.lock = lock;
    // Right after this process read the stale lock (and before it acts on what it read), another
    // contender breaks that lock and a third process takes the lock and holds it.
    hook.afterRead = () => {
      realFs.rmSync(lock, { recursive: true, force: true });
      const marker = join(dir, 'held');
      const p = spawn(process.execPath, ['--import', 'tsx', CHILD, 'hold', known, marker], {
        cwd: ROOT,
        stdio: 'ignore',
      });
      started.push(p);
      for (let i = 0; i < 600 && !realFs.existsSync(marker); i++) sleepSync(50);
      holder = p.pid;
      expect(holderPid(lock)).toBe(holder);
    };
    // From then on, the holder's lock must stay where it is, through every change made here.
    hook.afterChange = (call) => {
      if (holder !== undefined && holderPid(lock) !== holder)
        violations.push(`after ${call}: the lock of process ${String(holder)} is not in place`);
    };
    const outcome = await withFileLock(known, () => 'ran', { timeoutMs: 500 }).catch(
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    expect(holder).toBeDefined();
    expect(violations).toEqual([]);
    // the live holder keeps it: this process waited and gave up, naming it
    expect(outcome).toContain(`held by process ${String(holder)} on ${hostname()}`);
  });
});

describe('the lock folder', () => {
  it('a lock left by a crashed run is broken at once; nothing is left behind after use', async () => {
    const dir = tempDir('crashed');
    const known = join(dir, 'known_hosts');
    realFs.writeFileSync(known, '');
    expect(child(['crash', known]).status).toBe(0);
    const lock = `${known}.kpfleet-lock`;
    expect(holderPid(lock)).toBeDefined();
    let inside: number | undefined;
    expect(await withFileLock(known, () => ((inside = holderPid(lock)), 'ran'))).toBe('ran');
    expect(inside).toBe(process.pid);
    expect(realFs.readdirSync(dir)).toEqual(['known_hosts']);
  });

  it('a lock from another machine is broken once older than the stale age, not before', async () => {
    const dir = tempDir('elsewhere');
    const known = join(dir, 'known_hosts');
    realFs.writeFileSync(known, '');
    const lock = `${known}.kpfleet-lock`;
    const made = `${lock}.x`;
    realFs.mkdirSync(made);
    const holder = join(made, 'holder-x');
    realFs.writeFileSync(holder, JSON.stringify({ pid: 1, host: 'elsewhere.example', token: 'x' }));
    realFs.renameSync(made, lock);
    await expect(withFileLock(known, () => 'ran', { timeoutMs: 100 })).rejects.toThrow(
      `${lock} is held by process 1 on elsewhere.example`,
    );
    realFs.utimesSync(join(lock, 'holder-x'), OLD, OLD);
    expect(await withFileLock(known, () => 'ran', { timeoutMs: 100 })).toBe('ran');
    expect(realFs.readdirSync(dir)).toEqual(['known_hosts']);
  });
});
