/**
 * The CLI in-process, as the integration tests run it: `runCli` (src/cli/main.ts) with its
 * streams captured. No colour and a HOME of its own unless the test says otherwise.
 */
import { runCli } from '../src/cli/main.ts';
import type { CliIo } from '../src/cli/io.ts';

/** The repository's root: the working directory unless the test gives one. */
export const ROOT = new URL('../', import.meta.url).pathname;

export interface InProcessOptions {
  cwd?: string;
  /** Added to `NO_COLOR=1 HOME=/home/tester`, and overriding them. */
  env?: Record<string, string>;
}

export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runInProcess(
  args: string[],
  { cwd = ROOT, env = {} }: InProcessOptions = {},
): Promise<InProcessRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { NO_COLOR: '1', HOME: '/home/tester', ...env },
    cwd,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
