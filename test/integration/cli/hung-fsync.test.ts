/**
 * A hung fsync of the audit log (a dead NFS server, a hung disk) in a real process
 * (hung-fsync-driver.ts, the fsync an open of a FIFO that no writer comes to): the run's end is
 * not held past the bound (the log fails, the run ends), and after a crash the abandoned host is
 * recorded and the connections closed, the main thread not held by an fsync (`abandon`).
 *
 * Known limit (the last test, `it.fails`): the process itself does not exit. Node's exit joins
 * libuv's thread pool, whose thread is held by the fsync that never returns, so `process.exit`
 * (`exitWhenDone`, `endNow`) does not return either; only a fsync in another process would let
 * kpfleet end. The test passes once that holds.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { until } from '../../cli-process.ts';

const DRIVER = new URL('./hung-fsync-driver.ts', import.meta.url).pathname;
const DIR = join(TMP_BASE, `hung-fsync-${String(process.pid)}`);
const FIFO = join(DIR, 'never');
const children: ChildProcess[] = [];

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  execFileSync('mkfifo', [FIFO]);
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(DIR, { recursive: true, force: true });
});

interface Driven {
  stderr: () => string;
  exit: Promise<number | null>;
  ended: () => boolean;
}

function drive(mode: string, log: string): Driven {
  const child = spawn(process.execPath, ['--import', 'tsx', DRIVER, mode, log, FIFO], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  let ended = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((done) =>
    child.on('exit', (code) => {
      ended = true;
      done(code);
    }),
  );
  return { stderr: () => stderr, exit, ended: () => ended };
}

const records = (path: string): string[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { result: string }).result);

describe('a hung fsync of the audit log', () => {
  it('at the end of a run: the log fails at its bound (0.2 s) and the run ends', async () => {
    const d = drive('run-ends', join(DIR, 'a.jsonl'));
    // tsx's start-up included
    await until('the run ended', () => d.stderr().includes('run ended'), d.ended, 10_000);
    expect(d.stderr()).toMatch(/records were not on disk 0\.2 s after they were written/);
    expect(d.stderr()).toContain('run ended: failed');
  }, 20_000);

  it('after a crash: the abandoned host is recorded and the connection closed, the main thread not held by the fsync', async () => {
    const log = join(DIR, 'crash.jsonl');
    const d = drive('crash', log);
    await until(
      'the connection closed',
      () => d.stderr().includes('connection closed'),
      d.ended,
      10_000,
    );
    expect(d.stderr()).toContain('internal error: Error: test bug');
    // written (not known on disk: its fsync hangs)
    expect(records(log)).toEqual(['started', 'failed']);
  }, 20_000);

  it.fails(
    'known limit: the process exits 74 at CLOSE_WAIT_MS after the run (exitWhenDone) although the fsync hangs',
    async () => {
      const d = drive('run-ends', join(DIR, 'b.jsonl'));
      const code = await Promise.race([
        d.exit,
        new Promise<string>((r) => setTimeout(() => r('still running after 8 s'), 8_000)),
      ]);
      expect(code).toBe(74);
    },
    20_000,
  );
});
