/**
 * Ctrl-C typed at the confirmation prompt (apply, unlock, clear-suspect) exits 130, as Ctrl-C
 * does in every other phase (docs/exit-codes.md); it is not a "no" (exit 0). On a real terminal:
 * util-linux `script` gives the prompt a pty, and the byte Ctrl-C types (0x03) is written to it.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { hasScript, typeAtPrompt } from '../../pty.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const DRIVER = join(ROOT, 'test/integration/cli/prompt-driver.ts');

/** Runs the prompt on a pty, types `keys` once it asked; its exit status and what it printed. */
const atThePrompt = (keys: string) =>
  typeAtPrompt({ command: `node --import tsx ${DRIVER}`, cwd: ROOT, prompt: 'Go on? ', keys });

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
