/**
 * The probe's output (probe.ts) → named sections. Pure, and linear in the output: one pass over
 * its lines, no regular expression on more than a line. Output that does not have the probe's
 * shape is an error that shows the text, never a guess.
 */
import { SECTION_MARK } from '../probe.ts';

export type Sections = Map<string, string>;

/** `text` without the newlines at its start and end (the probe prints a blank line before each mark). */
function trimNewlines(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === 10) start++;
  while (end > start && text.charCodeAt(end - 1) === 10) end--;
  return text.slice(start, end);
}

export function splitSections(stdout: string): { sections: Sections; error?: string } {
  const sections: Sections = new Map();
  const mark = `\n${SECTION_MARK} `;
  // each section runs from the end of its mark's line to the next mark
  let at = stdout.startsWith(`${SECTION_MARK} `) ? 0 : stdout.indexOf(mark);
  if (at > 0) at++;
  while (at >= 0) {
    const eol = stdout.indexOf('\n', at);
    const name = stdout.slice(at + SECTION_MARK.length + 1, eol < 0 ? undefined : eol).trim();
    const next = eol < 0 ? -1 : stdout.indexOf(mark, eol);
    const body = eol < 0 ? '' : stdout.slice(eol + 1, next < 0 ? undefined : next + 1);
    if (sections.has(name))
      return { sections, error: `the probe output has its ${JSON.stringify(name)} section twice` };
    sections.set(name, trimNewlines(body));
    at = next < 0 ? -1 : next + 1;
  }
  if (!sections.has('probe'))
    return {
      sections,
      error: 'the probe printed none of its sections (is the login shell a POSIX shell?)',
    };
  if (!sections.has('end'))
    return { sections, error: 'the probe output stops early: it was cut off or a command hung' };
  return { sections };
}

/** `rc=N` as the last line of a section, and the text before it. */
export function withStatus(text: string | undefined): { rc: number | undefined; text: string } {
  const all = text ?? '';
  const nl = all.lastIndexOf('\n');
  const m = /^rc=(\d{1,3})$/.exec(all.slice(nl + 1));
  if (!m) return { rc: undefined, text: all };
  return { rc: Number(m[1]), text: nl < 0 ? '' : all.slice(0, nl) };
}
