/**
 * Text from a host or a file inside a GitHub comment, kept as text (issue 14 §3): it must not
 * become a link, an image, an @-mention, a #-reference, emphasis, a heading, HTML, a new table
 * cell, or close the `<details>` or code block around it.
 *
 * The one construction used: code. Inside a markdown code span or a `<code>` element nothing is
 * markup (CommonMark §6.1), and GitHub's mention, reference, emoji and autolink filters skip code.
 * Each helper also makes the text safe for a terminal first (`safeText`: no control or invisible
 * character), so the comment reads the same in a terminal.
 */
import { safeText } from './safe-text.ts';

/** The longest run of backticks in `s` (a loop: no spread of an unbounded list). */
function longestBacktickRun(s: string): number {
  let longest = 0;
  let run = 0;
  for (const c of s) {
    run = c === '`' ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

/**
 * An inline code span: delimited by one backtick more than the longest run inside, so that
 * nothing inside closes it; padded with a space when the text starts or ends with a backtick or
 * a space (CommonMark strips exactly one space from each side of such a span).
 */
export function mdCode(s: string): string {
  const text = safeText(s);
  const delimiter = '`'.repeat(longestBacktickRun(text) + 1);
  const allSpaces = /^ *$/.test(text);
  const pad = !allSpaces && /^[` ]|[` ]$/.test(text) ? ' ' : '';
  return `${delimiter}${pad}${text === '' ? ' ' : text}${pad}${delimiter}`;
}

/**
 * A code span in a GFM table cell. GFM splits a row at `|` before anything else, code spans
 * included, and reads `\|` as a pipe of the cell. A backslash just before a pipe is shown as
 * `\x5c`: parsers disagree on `\\|` (GitHub's cmark-gfm keeps the cell, micromark splits it).
 */
export function mdCodeCell(s: string): string {
  return mdCode(safeText(s).replace(/\\(?=\|)/g, '\\x5c')).replace(/\|/g, '\\|');
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * `<code>` with the text escaped for HTML: for raw HTML blocks (the `<summary>` line), where
 * markdown is not parsed at all and a code span would show its backticks.
 */
export function htmlCode(s: string): string {
  return `<code>${safeText(s).replace(/[&<>"']/g, (c) => HTML_ENTITIES[c] ?? c)}</code>`;
}

/** A code fence longer than any run of backticks in the text, so that nothing inside closes it. */
export function fence(text: string): string {
  return '`'.repeat(Math.max(3, longestBacktickRun(text) + 1));
}
