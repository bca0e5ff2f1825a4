/** Asking the operator: a key passphrase (hidden input), a confirmation; on a terminal, never in CI. */
import { createInterface } from 'node:readline';
import { safeText } from '../report/safe-text.ts';
import type { PassphraseProvider } from '../transport/ssh/keys.ts';
import type { CliIo } from './io.ts';
import { UsageError } from '../errors.ts';

export function terminalPassphrase(): PassphraseProvider | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return (path) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      const question = `Enter passphrase for key '${safeText(path)}': `;
      // Echo nothing of what is typed.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.includes(question)) process.stderr.write(question);
      };
      rl.question(question, (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolve(answer);
      });
    });
}

/** Asks on the terminal; only `yes` goes on (Terraform's rule: a stray Enter never applies). */
export function confirm(question: string, io: CliIo): Promise<boolean> {
  return new Promise((done) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    rl.question(question, (answer) => {
      rl.close();
      done(answer.trim() === 'yes');
    });
    // Ctrl-C at the prompt is Ctrl-C (exit 130, docs/exit-codes.md), not "no": readline took the
    // key from the terminal, so the signal is raised again for the process guard (signals.ts)
    rl.on('SIGINT', () => {
      rl.close();
      io.stderr.write('\n');
      // a signal is handled on a later turn of the event loop: keep the process up until then
      setTimeout(() => undefined, 5_000);
      process.kill(process.pid, 'SIGINT');
    });
  });
}

/**
 * A command that changes hosts goes on only when `--yes` was given, or `yes` typed on a terminal
 * (`question`). Without a terminal and without `--yes` it is a usage error (64): `refusal` says
 * what the command would change. False: the operator said no.
 */
export async function confirmed(
  yes: boolean | undefined,
  question: string,
  refusal: string,
  io: CliIo,
  hint?: string,
): Promise<boolean> {
  if (yes === true) return true;
  if (!process.stdin.isTTY) {
    throw new UsageError(`${refusal}: confirm with --yes when there is no terminal`, {
      ...(hint !== undefined ? { hint } : {}),
    });
  }
  return confirm(question, io);
}
