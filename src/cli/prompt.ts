/** Asking the operator: a key passphrase (hidden input), a confirmation; on a terminal, never in CI. */
import { createInterface } from 'node:readline';
import { safeText } from '../report/safe-text.ts';
import type { PassphraseProvider } from '../transport/ssh/keys.ts';
import type { CliIo } from './io.ts';

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
    rl.on('SIGINT', () => {
      rl.close();
      io.stderr.write('\n');
      done(false);
    });
  });
}
