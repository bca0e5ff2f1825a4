/**
 * The ways an OpenSSH client may split a line of ssh_config into words. The project ssh-config
 * scan (config/ssh-config-scan.ts) judges a line by every reading here, so that a line is refused
 * when any of them finds a directive that runs a command: it does not bet on one version's word
 * splitting. The `ssh -G` grouping (transport/ssh/ssh-config-groups.ts) trusts a line only when
 * every reading agrees.
 *
 * - `strdelim`: OpenSSH's misc.c `strdelim` (split at blanks and one `=`; a `"` anywhere in a
 *   word is removed and the word ends at the next `"`: `Ma"tch"` is `Match`, `"Match"exec` is
 *   `Match` then `exec`). Every version reads the keyword so; 9.2 reads `Match` criteria so, and
 *   versions before 8.7 every argument.
 * - `argv`: misc.c `argv_split` (quotes `"` and `'` anywhere in a word, `\` escapes, `#` at the
 *   start of a word ends the line), which reads the arguments from 8.7 on (`Include`, values) and
 *   `Match` criteria from 10.0 on.
 * - `stripped` and `split`: every `"`, `'` and `\` removed, or taken as a blank; words split at
 *   blanks and `=`. Not any version's rule: a net under the two above.
 *
 * Pure; every reading is linear in the line.
 */
import { trimEndChars } from './text.ts';

export interface Word {
  text: string;
  /** 0-based offset in the line of the word's first character (an opening quote included). */
  at: number;
}

/** One way of reading a line: its keyword, and the words after it. */
export interface Reading {
  keyword: Word;
  args: Word[];
}

const BLANKS = ' \t\r\n';

function skipBlanks(line: string, at: number): number {
  let i = at;
  while (i < line.length && BLANKS.includes(line.charAt(i))) i++;
  return i;
}

interface Delimited {
  word: Word;
  /** Where the next call starts; undefined where strdelim leaves its pointer NULL. */
  next: number | undefined;
}

/** One `strdelim` call (split_equals) from `at`; undefined where it returns NULL (no closing quote). */
function strdelim(line: string, at: number): Delimited | undefined {
  let i = at;
  while (i < line.length && !`${BLANKS}"=`.includes(line.charAt(i))) i++;
  if (i >= line.length) return { word: { text: line.slice(at), at }, next: undefined };
  if (line.charAt(i) === '"') {
    const close = line.indexOf('"', i + 1);
    if (close === -1) return undefined;
    const text = line.slice(at, i) + line.slice(i + 1, close);
    return { word: { text, at }, next: skipBlanks(line, close + 1) };
  }
  const equals = line.charAt(i) === '=';
  let next = skipBlanks(line, i + 1);
  if (!equals && line.charAt(next) === '=') next = skipBlanks(line, next + 1);
  return { word: { text: line.slice(at, i), at }, next };
}

/** readconf.c: the keyword (one empty word skipped), and where its arguments start. */
function strdelimKeyword(line: string): { keyword: Word; rest: number } | undefined {
  let d = strdelim(line, 0);
  if (d?.word.text === '') d = d.next === undefined ? undefined : strdelim(line, d.next);
  if (d === undefined || d.word.text === '' || d.word.text.startsWith('#')) return undefined;
  return { keyword: d.word, rest: d.next === undefined ? line.length : skipBlanks(line, d.next) };
}

/** Every `strdelim` word from `at` to the end of the line (empty words left out). */
function strdelimWords(line: string, from: number): Word[] {
  const out: Word[] = [];
  let at: number | undefined = from;
  while (at !== undefined) {
    const d = strdelim(line, at);
    if (d === undefined) break;
    if (d.word.text !== '') out.push(d.word);
    at = d.next;
  }
  return out;
}

/** misc.c `argv_split` with terminate_on_comment; undefined on an unclosed quote, as ssh refuses. */
export function argvSplit(line: string, from = 0): Word[] | undefined {
  const out: Word[] = [];
  for (let i = from; i < line.length; i++) {
    const start = line.charAt(i);
    if (start === ' ' || start === '\t') continue;
    if (start === '#') break;
    let quote = '';
    let text = '';
    const at = i;
    for (; i < line.length; i++) {
      const c = line.charAt(i);
      const n = line.charAt(i + 1);
      if (c === '\\') {
        if (n === "'" || n === '"' || n === '\\' || (quote === '' && n === ' ')) {
          text += n;
          i++;
        } else text += c;
      } else if (quote === '' && (c === ' ' || c === '\t')) break;
      else if (quote === '' && (c === '"' || c === "'")) quote = c;
      else if (quote !== '' && c === quote) quote = '';
      else text += c;
    }
    out.push({ text, at });
    if (i >= line.length && quote !== '') return undefined;
  }
  return out;
}

/** Words split at blanks and `=`, with quotes and backslashes dropped or taken as blanks. */
function plainWords(line: string, quotes: 'drop' | 'blank'): Word[] {
  const out: Word[] = [];
  let text = '';
  let at = -1;
  const flush = (): void => {
    if (text !== '') out.push({ text, at });
    text = '';
    at = -1;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (`"'\\`.includes(c) && quotes === 'drop') {
      if (at === -1) at = i;
    } else if (`"'\\=`.includes(c) || /\s/.test(c)) flush();
    else {
      if (at === -1) at = i;
      text += c;
    }
  }
  flush();
  return out;
}

/**
 * Every reading of one line (without its newline). A reading whose keyword starts with `#` is a
 * comment and left out; a line every reading finds empty or a comment has none. A line with a NUL
 * is read whole and up to the NUL (ssh's C strings end there).
 */
export function readings(line: string): Reading[] {
  const nul = line.indexOf('\0');
  return nul === -1 ? readLine(line) : [...readLine(line), ...readLine(line.slice(0, nul))];
}

function readLine(line: string): Reading[] {
  const text = trimEndChars(line, ' \t\r\n\f');
  const out: Reading[] = [];
  const kw = strdelimKeyword(text);
  if (kw !== undefined) {
    out.push({ keyword: kw.keyword, args: strdelimWords(text, kw.rest) });
    const argv = argvSplit(text, kw.rest);
    if (argv !== undefined) out.push({ keyword: kw.keyword, args: argv });
  }
  for (const quotes of ['drop', 'blank'] as const) {
    const [first, ...args] = plainWords(text, quotes);
    if (first !== undefined && !first.text.startsWith('#')) out.push({ keyword: first, args });
  }
  return out;
}
