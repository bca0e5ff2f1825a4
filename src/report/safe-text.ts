/**
 * Text that came from a host or a file, made safe to print on a terminal: whatever a host puts in
 * a module name, a task's comm, a package name or its stderr cannot move the cursor, set the
 * window title, clear a line, reorder the text around it (bidi overrides) or hide itself. Every
 * character that could is shown as a visible escape instead: `\x1b`, `\x85`, `\u202e`, `\u200b`.
 *
 * Escaped: C0 controls and DEL (`\p{Cc}`, which holds the C1 controls U+0080–U+009F too), format
 * characters (`\p{Cf}`: bidi embeddings, overrides and isolates, zero-width characters, U+FEFF,
 * tag characters), the line and paragraph separators U+2028/U+2029, lone surrogates and the other
 * default-ignorable code points (drawn as nothing: U+3164, U+115F, variation selectors).
 *
 * Our own styling (report/style.ts) is applied after, to text already made safe. JSON output
 * needs none of this: JSON.stringify escapes every control character.
 *
 * A value decrypted from Ansible Vault never shows: each becomes `<vaulted>` (util/secrets.ts).
 */
import { isPrintableAscii, onFirstUse } from '../util/ascii.ts';
import { redactSecrets } from '../util/secrets.ts';

// made at first use (util/ascii.ts): printable ASCII holds none of these, and needs none of them
const UNSAFE_SOURCE = String.raw`[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]`;
export const unsafePattern = onFirstUse(() => new RegExp(UNSAFE_SOURCE, 'u'));
const unsafeAll = onFirstUse(() => new RegExp(UNSAFE_SOURCE, 'gu'));
/** The same set, line feed allowed: for host output shown line by line. */
const unsafeInLines = onFirstUse(() => new RegExp(`(?!\\n)${UNSAFE_SOURCE}`, 'gu'));
/** Printable ASCII and line feeds: lines with nothing to escape. */
const PRINTABLE_LINES = /^[ -~\n]*$/;

const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/** The visible escape of one character: `\n`, `\x1b`, `\u202e`, `\u{e0041}`. */
function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const cp = c.codePointAt(0) ?? 0;
  if (cp <= 0xff) return `\\x${hex(cp, 2)}`;
  if (cp <= 0xffff) return `\\u${hex(cp, 4)}`;
  return `\\u{${hex(cp, 5)}}`;
}

/** One line of text, safe to print: line breaks, tabs and every control become escapes. */
export function safeText(text: string): string {
  const s = redactSecrets(text);
  if (isPrintableAscii(s)) return s;
  return unsafePattern().test(s) ? s.replace(unsafeAll(), escapeChar) : s;
}

/**
 * Several lines of host output, safe to print line by line: `\r\n` and `\r` alone become a line
 * break (a bare `\r` would draw over the start of the line); every other control is an escape.
 * The caller shows each line as host output (indented, prefixed), never bare.
 */
export function safeLines(s: string): string {
  const lines = redactSecrets(s).replace(/\r\n?/g, '\n');
  if (PRINTABLE_LINES.test(lines)) return lines;
  return unsafePattern().test(lines) ? lines.replace(unsafeInLines(), escapeChar) : lines;
}

/** Prose from a host on one line: line breaks become ` ⏎ `, the rest as safeText. */
export function oneLine(s: string): string {
  return safeText(s.trim().replace(/\s*(?:\r\n|\r|\n)\s*/g, ' ⏎ '));
}

/**
 * Keys whose strings are prose or host output (a reason, a message, an error, stderr): their line
 * breaks are kept by `safeData`, for a renderer that shows them with `oneLine` or line by line.
 */
export const PROSE_KEYS: ReadonlySet<string> = new Set([
  'reason',
  'message',
  'hint',
  'error',
  'output',
]);

const NO_KEYS: ReadonlySet<string> = new Set();

/**
 * JSON for a file or stdout (a plan, a report, an audit record) where no prose field (a reason,
 * a message, an error: what may quote an address or a user) shows a value decrypted from Ansible
 * Vault. Data fields are kept as they are: a saved plan is read back.
 */
export function jsonWithoutSecrets(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (key, v: unknown) => (typeof v === 'string' && PROSE_KEYS.has(key) ? redactSecrets(v) : v),
    indent,
  );
}

function walk(v: unknown, lines: boolean, keepLines: ReadonlySet<string>): unknown {
  if (typeof v === 'string') return lines ? safeLines(v) : safeText(v);
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = walk(v[i], lines, keepLines);
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const obj = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) out[k] = walk(obj[k], keepLines.has(k), keepLines);
  return out;
}

/**
 * A copy of plain data (facts, a plan, an apply event) with every string made safe: `safeText`,
 * or `safeLines` under the keys in `keepLines`. For a renderer to call on its input once, so that
 * no field it prints, today's or tomorrow's, reaches the terminal raw. Class instances (errors,
 * maps) are kept as they are: render their fields with safeText.
 */
export function safeData<T>(value: T, keepLines: ReadonlySet<string> = NO_KEYS): T {
  return walk(value, false, keepLines) as T;
}
