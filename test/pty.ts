/**
 * A command on a real terminal for the tests that need one (a prompt that only asks a terminal):
 * util-linux `script` gives it a pty; once it has printed `prompt`, `keys` are typed. Resolves with
 * its exit status and everything it printed.
 */
import { spawn, spawnSync } from 'node:child_process';

/** Whether util-linux `script` is here to give a command a pty. */
export const hasScript = spawnSync('script', ['--version']).status === 0;

export interface AtPrompt {
  /** A shell command line (already quoted). */
  command: string;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  prompt: string;
  keys: string;
  /** Killed after this long (default 30 s). */
  timeoutMs?: number;
}

export function typeAtPrompt(o: AtPrompt): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // -e: script exits with the child's status; -f: output at once
    const child = spawn('script', ['-qfec', o.command, '/dev/null'], {
      cwd: o.cwd,
      ...(o.env !== undefined ? { env: o.env } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let typed = false;
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (!typed && out.includes(o.prompt)) {
        typed = true;
        child.stdin.write(o.keys);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000).unref();
  });
}
