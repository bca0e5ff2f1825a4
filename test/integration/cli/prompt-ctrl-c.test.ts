/**
 * Ctrl-C typed at the confirmation prompt (apply, unlock, clear-suspect) exits 130, as Ctrl-C
 * does in every other phase (docs/exit-codes.md); it is not a "no" (exit 0). On a real terminal:
 * util-linux `script` gives the prompt a pty, and the byte Ctrl-C types (0x03) is written to it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const DRIVER = join(ROOT, 'test/integration/cli/prompt-driver.ts');
const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs the prompt on a pty, types `keys` once it asked; its exit status and what it printed. */
function atThePrompt(keys: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // -e: script exits with the child's status; -f: output at once
    const child = spawn('script', ['-qfec', `node --import tsx ${DRIVER}`, '/dev/null'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let typed = false;
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (!typed && out.includes('Go on? ')) {
        typed = true;
        child.stdin.write(keys);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
  });
}

it.runIf(hasScript)(
  'Ctrl-C at the prompt: interrupted, exit 130',
  async () => {
    const r = await atThePrompt('\x03');
    expect(r.out).not.toContain('ANSWER');
    expect(r.out).toContain('SIGINT: interrupted; no host was changed');
    expect(r.code, r.out).toBe(130);
  },
  40_000,
);

it.runIf(hasScript)(
  'yes goes on; anything else is no (exit 0)',
  async () => {
    expect((await atThePrompt('yes\r')).out).toContain('ANSWER yes');
    const no = await atThePrompt('y\r');
    expect(no.out).toContain('ANSWER no');
    expect(no.code).toBe(0);
  },
  60_000,
);
