/**
 * Names a hostile (or broken) host can report, and the checks that a renderer showed them
 * without letting them act on the terminal (issue 14 §3). Each entry: what the host sends, and
 * what must appear instead (its visible escape), wherever the renderer shows the text on one line.
 */

export interface Hostile {
  raw: string;
  visible: string;
}

export const TERMINAL_CORPUS: readonly Hostile[] = [
  // an OSC sequence that retitles the terminal window
  { raw: 'osc\u001b]0;pwned\u0007title', visible: 'osc\\x1b]0;pwned\\x07title' },
  // erase the line, back to its start, cursor up: the line above is overwritten
  { raw: 'erase\u001b[2K\r\u001b[1Aup', visible: 'erase\\x1b[2K\\r\\x1b[1Aup' },
  // the C1 control sequence introducer (U+009B, a CSI on its own) and NEL (U+0085)
  { raw: 'c1\u009b2Jcsi\u0085nel', visible: 'c1\\x9b2Jcsi\\x85nel' },
  // bidi override and isolates: text shown in another order than it is
  { raw: 'bidi\u202etxt.exe\u2066x\u2069', visible: 'bidi\\u202etxt.exe\\u2066x\\u2069' },
  // invisible: zero-width space and joiner, BOM, Hangul filler, line/paragraph separators
  {
    raw: 'zw\u200bsp\u200d\ufeff\u3164\u2028\u2029',
    visible: 'zw\\u200bsp\\u200d\\ufeff\\u3164\\u2028\\u2029',
  },
  // DEL, backspace, a tab
  { raw: 'del\u007fbs\u0008tab\t', visible: 'del\\x7fbs\\x08tab\\t' },
  // a line break, to print a line of its own
  { raw: 'nl\n✓ all hosts converged', visible: 'nl\\n✓ all hosts converged' },
];

/** The fake line that a name with a line break tries to print on its own. */
export const FAKE_LINE = '✓ all hosts converged';

/** Any character a host must not get to the terminal raw (a line feed is ours to print). */
const RAW = /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u3164]/u;

/** Where in `text` the first raw character is, with some context; undefined when none. */
export function firstRaw(text: string): string | undefined {
  const m = RAW.exec(text);
  if (m === null) return undefined;
  return JSON.stringify(text.slice(Math.max(0, m.index - 30), m.index + 10));
}

/** Lines that begin with the fake line: a host printed a line that looks like kpfleet's. */
export function fakeLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim().startsWith(FAKE_LINE));
}
