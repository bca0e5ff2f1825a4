/**
 * Python's `shlex.split(line, comments=True)` (POSIX mode), which Ansible's INI inventory splits
 * each host line with, keeping where each token starts for error positions. Pure.
 */

export interface ShlexToken {
  value: string;
  /** 0-based offset of the token's first character (an opening quote included) in the input. */
  start: number;
}

export class ShlexError extends Error {
  override readonly name = 'ShlexError';
  /** 0-based offset where the problem was detected (the opening quote, or the trailing escape). */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

const WHITESPACE = ' \t\r\n';

/** Python's `shlex.split(s, comments=True, posix=True)`, keeping token start offsets. */
export function shlexSplit(s: string, comments = true): ShlexToken[] {
  const out: ShlexToken[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] ?? '';
    if (WHITESPACE.includes(c)) {
      i++;
      continue;
    }
    if (comments && c === '#') break;
    // A word: runs until unquoted whitespace or an unquoted '#'.
    const start = i;
    let token = '';
    let quoted = false;
    while (i < s.length) {
      const ch = s[i] ?? '';
      if (WHITESPACE.includes(ch)) break;
      if (comments && ch === '#') {
        i = s.length;
        break;
      }
      if (ch === "'" || ch === '"') {
        quoted = true;
        const open = i;
        i++;
        for (;;) {
          if (i >= s.length) throw new ShlexError('No closing quotation', open);
          const q = s[i] ?? '';
          if (q === ch) {
            i++;
            break;
          }
          if (ch === '"' && q === '\\') {
            if (i + 1 >= s.length) throw new ShlexError('No escaped character', i);
            const n = s[i + 1] ?? '';
            token += n === '"' || n === '\\' ? n : '\\' + n;
            i += 2;
            continue;
          }
          token += q;
          i++;
        }
        continue;
      }
      if (ch === '\\') {
        if (i + 1 >= s.length) throw new ShlexError('No escaped character', i);
        token += s[i + 1] ?? '';
        i += 2;
        continue;
      }
      token += ch;
      i++;
    }
    if (token !== '' || quoted) out.push({ value: token, start });
  }
  return out;
}
