/**
 * A reader that goes away (`kpfleet apply --help | head -1`, a pager quit early): kpfleet's
 * writes to the closed pipe fail (EPIPE); the output is dropped and the command ends as it would
 * have, with its own exit code, not as a crash (exit 70, "internal error").
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Runs the CLI as a user does, its stdout a pipe whose reader is gone before it writes. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.destroy(); // the reader is gone: every write of kpfleet's fails with EPIPE
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('stdout that cannot be written for another reason (a full disk)', () => {
  it('is an error, not a success with the output lost', async () => {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(ROOT, 'src/cli/main.ts'),
          'validate',
          '-c',
          'examples/kpfleet.yml',
        ],
        { cwd: ROOT, stdio: ['ignore', openSync('/dev/full', 'w'), 'ignore'] },
      );
      child.on('error', reject);
      child.on('close', resolve);
    });
    expect(code).not.toBe(0);
  });
});

describe('stdout closed by its reader', () => {
  it.each([
    [['apply', '--help'], 0],
    [['--help'], 0],
    [['validate', '-c', 'examples/kpfleet.yml'], 0],
    [['validate', '-c', 'examples/no-such-kpfleet.yml'], 64],
  ])('kpfleet %j ends with its own exit code %i, quietly', async (args, want) => {
    const r = await withClosedStdout(args);
    expect(r.stderr).not.toMatch(/internal error|EPIPE/);
    expect(r.code).toBe(want);
  });
});
