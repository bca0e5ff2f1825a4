/**
 * kpfleet from source (`node --import tsx src/cli/main.ts`) as a child process that a test can
 * signal or kill while it runs, and a poll that fails with what it waited for. Shared by the
 * signal and crash tests (test/integration/cli).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const MAIN = join(new URL('../', import.meta.url).pathname, 'src/cli/main.ts');

export interface CliProcess {
  child: ChildProcess;
  /** stdout and stderr together, so far. */
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ended: () => boolean;
}

/** Starts the CLI in `cwd` with `env` (and the modules in `preloads` imported first). */
export function startCliProcess(
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; preloads?: string[] },
): CliProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ...(opts.preloads ?? []).flatMap((p) => ['--import', p]), MAIN, ...args],
    { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let ended = false;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('close', (code, signal) => {
      ended = true;
      done({ code, signal });
    }),
  );
  return { child, out: () => out, exit, ended: () => ended };
}

/** Polls `cond` until it holds; fails after `ms`, or at once when `dead()` says it never will. */
export async function until(
  what: string,
  cond: () => boolean,
  dead: () => boolean,
  ms = 60_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (dead()) throw new Error(`kpfleet ended before: ${what}`);
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
