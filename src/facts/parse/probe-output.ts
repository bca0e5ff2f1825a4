/**
 * The probe's output (probe.ts) → named sections → host facts. Pure. Output that does not have
 * the probe's shape is an error that shows the text, never a guess.
 */
import { SECTION_MARK } from '../probe.ts';

export type Sections = Map<string, string>;

export function splitSections(stdout: string): { sections: Sections; error?: string } {
  const sections: Sections = new Map();
  let current: string | undefined;
  let lines: string[] = [];
  const flush = (): void => {
    if (current !== undefined) sections.set(current, lines.join('\n').replace(/^\n+|\n+$/g, ''));
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith(SECTION_MARK + ' ')) {
      flush();
      current = line.slice(SECTION_MARK.length + 1).trim();
      lines = [];
    } else if (current !== undefined) {
      lines.push(line);
    }
  }
  flush();
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
  const lines = (text ?? '').split('\n');
  const last = lines[lines.length - 1] ?? '';
  const m = /^rc=(\d+)$/.exec(last);
  if (!m) return { rc: undefined, text: text ?? '' };
  return { rc: Number(m[1]), text: lines.slice(0, -1).join('\n') };
}

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m?.[1]) continue;
    let v = m[2] ?? '';
    if (/^".*"$|^'.*'$/.test(v)) v = v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

export interface Sha256File {
  path: string;
  sha256: string;
}

/** `sha256sum` lines. */
export function parseSha256Lines(text: string): Sha256File[] {
  const out: Sha256File[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m?.[1] && m[2]) out.push({ sha256: m[1], path: m[2] });
  }
  return out;
}
