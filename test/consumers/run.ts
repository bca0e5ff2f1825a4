/**
 * Runs a real consumer of kpfleet's output (Python, promtool) with a text on its stdin, for the
 * tests that check a format by having the program that reads it read it. A missing program is a
 * failure that names the Debian package to install; the tests that need one are skipped with a
 * note where it is missing, except under CI, which installs them (machine.ts).
 */
import { spawn } from 'node:child_process';

export interface ConsumerResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` with `stdin` on its standard input; rejects, naming `pkg`, when it is missing. */
export function runConsumer(
  cmd: string,
  args: readonly string[],
  stdin: string,
  pkg: string,
): Promise<ConsumerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error(
              `${cmd} not found: install the Debian package ${pkg} (apt-get install ${pkg})`,
            )
          : err,
      ),
    );
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    // A consumer that stops reading early (a parse error) must not turn into an EPIPE here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin, 'utf8');
  });
}

/**
 * Debian's Python, not whatever `python3` comes first on PATH (a pyenv one lacks the Debian
 * python3-* modules the consumers import).
 */
export const PYTHON = '/usr/bin/python3';

/** Exit status of the consumer scripts when their Python module is missing. */
export const NO_MODULE = 3;

/**
 * Runs a Python script that prints JSON on stdout and exits NO_MODULE when its import fails;
 * returns the parsed JSON, or rejects with what Python said (or the package to install).
 */
export async function pythonJson(script: string, stdin: string, pkg: string): Promise<unknown> {
  const r = await runConsumer(PYTHON, ['-c', script], stdin, pkg);
  if (r.status === NO_MODULE) {
    throw new Error(
      `${PYTHON} cannot import the module of Debian package ${pkg} (apt-get install ${pkg}): ${r.stderr.trim()}`,
    );
  }
  if (r.status !== 0)
    throw new Error(`${PYTHON} refused the text (exit ${String(r.status)}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as unknown;
}
