/** How the CLI prints a failure (issue 14 §3): every line safe, none of its own. */
import { describe, expect, it } from 'vitest';
import { renderError } from '../../../src/report/errors.ts';
import { plainStyle } from '../../../src/report/style.ts';
import { fakeLines, firstRaw } from './hostile-corpus.ts';

describe('renderError', () => {
  it('shows a quoted host message escaped, its later lines indented under the first', () => {
    const text = renderError(
      {
        message: 'ssh -G failed:\n\u001b]0;pwned\u0007bad option\r\n✓ all hosts converged\n',
        hint: 'check\n✓ all hosts converged',
        host: 'web\u001b[2K',
        step: 'connect',
      },
      plainStyle,
    );
    expect(firstRaw(text)).toBeUndefined();
    expect(fakeLines(text).every((l) => l.startsWith('  '))).toBe(true);
    expect(text).toBe(
      [
        'error: host web\\x1b[2K, step connect: ssh -G failed:',
        '  \\x1b]0;pwned\\x07bad option',
        '  ✓ all hosts converged',
        '  hint: check',
        '    ✓ all hosts converged',
        '',
      ].join('\n'),
    );
  });
});
