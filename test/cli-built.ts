/**
 * The built CLI (`node bin/kpfleet.js`, dist/) as a child process, as the e2e and VM tests run
 * it: this process's environment with no colour and no ssh-agent, stdin closed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(new URL('../', import.meta.url).pathname, 'bin/kpfleet.js');

export interface BuiltOptions {
  cwd: string;
  /** Added to this process's environment with `NO_COLOR=1 SSH_AUTH_SOCK=`, and overriding them. */
  env?: Record<string, string>;
  /** Called on each piece of stdout with all of it so far; `kill` sends the CLI SIGINT (or `sig`). */
  onStdout?: ((stdout: string, kill: (sig?: NodeJS.Signals) => void) => void) | undefined;
}

export interface BuiltRun {
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, in the order they came. */
  output: string;
}

export function runBuilt(
  args: string[],
  { cwd, env = {}, onStdout }: BuiltOptions,
): Promise<BuiltRun> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      output += c;
      onStdout?.(stdout, (sig = 'SIGINT') => child.kill(sig));
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      output += c;
    });
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr, output }));
  });
}
