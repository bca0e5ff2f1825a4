/**
 * Python's `ast.literal_eval`, which Ansible's INI inventory reads each value with (strings,
 * bytes, numbers, True/False/None, lists, tuples, dicts, sets), and Ansible's `_parse_value`
 * around it: the text itself where Python would raise. Pure.
 */
import { isPrintableAscii, onFirstUse } from '../util/ascii.ts';

/** What `ast.literal_eval` produced, or `undefined` where Python raises (the caller keeps the text). */
export function literalEval(text: string): unknown {
  try {
    const p = new LiteralParser(text.replace(/^[ \t]+/, ''));
    return p.parseTop();
  } catch {
    // NotLiteral, or a stack overflow on absurd nesting (Python raises there too).
    return undefined;
  }
}

/** Ansible's INI `_parse_value`: the literal if `literal_eval` accepts it, else the text itself. */
export function parseIniValue(text: string): unknown {
  const v = literalEval(text);
  return v === undefined ? text : v;
}

class NotLiteral extends Error {}
/**
 * Thrown for every value that is not a literal (most INI values: host names, addresses, paths),
 * so made once: an Error records its stack when made, which was most of the cost of reading such
 * a value (30 ms of 10,000 hosts' `ansible_host=`). Nothing reads it beyond `literalEval`'s catch.
 */
const NOT_LITERAL = new NotLiteral('not a Python literal');

type Tok =
  | { t: 'str'; v: string; bytes: boolean }
  | { t: 'num'; v: number }
  | { t: 'name'; v: string }
  | { t: 'op'; v: string }
  | { t: 'end' };

const NUMBER_RES: RegExp[] = [
  /(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*(?:[eE][+-]?[0-9](?:_?[0-9])*)?/y,
  /[0-9](?:_?[0-9])*\.(?:[eE][+-]?[0-9](?:_?[0-9])*)?/y,
  /[0-9](?:_?[0-9])*[eE][+-]?[0-9](?:_?[0-9])*/y,
  /0[xX](?:_?[0-9a-fA-F])+/y,
  /0[oO](?:_?[0-7])+/y,
  /0[bB](?:_?[01])+/y,
  /0+(?:_?0)*(?![0-9_])/y,
  /[1-9](?:_?[0-9])*/y,
];

/** A name (True, None, or one Python refuses): a letter or `_`, then letters, digits or `_`. */
export const unicodeName = onFirstUse(() => /[\p{L}_][\p{L}\p{N}_]*/uy);
/** The same over printable ASCII, where `\p{L}` is [A-Za-z] and `\p{N}` is [0-9]. */
export const ASCII_NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
export const unicodeNameChar = onFirstUse(() => /[\p{L}\p{N}_]/u);

/** Whether `c` (one UTF-16 unit) could continue a name: `1j` or `0644x` is no number. */
export function isNameChar(c: string): boolean {
  return isPrintableAscii(c) ? /[A-Za-z0-9_]/.test(c) : unicodeNameChar().test(c);
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

class LiteralParser {
  private pos = 0;
  private tok: Tok = { t: 'end' };
  private readonly s: string;
  /** Printable ASCII throughout: names are read with ASCII_NAME. */
  private readonly ascii: boolean;
  constructor(s: string) {
    this.s = s;
    this.ascii = isPrintableAscii(s);
    this.next();
  }

  private fail(): never {
    throw NOT_LITERAL;
  }

  private next(): void {
    const s = this.s;
    // Whitespace, comments, and line continuations.
    for (;;) {
      const c = s[this.pos];
      if (c === ' ' || c === '\t' || c === '\f' || c === '\n' || c === '\r') this.pos++;
      else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else if (c === '\\' && s[this.pos + 1] === '\n') this.pos += 2;
      else break;
    }
    if (this.pos >= s.length) {
      this.tok = { t: 'end' };
      return;
    }
    const c = s[this.pos] ?? '';
    const str = /([rRuUbBfF]|[bB][rR]|[rR][bB]|[fF][rR]|[rR][fF])?('''|"""|'|")/y;
    str.lastIndex = this.pos;
    const sm = str.exec(s);
    if (sm) {
      this.tok = this.readString((sm[1] ?? '').toLowerCase(), sm[2] ?? '', this.pos + sm[0].length);
      return;
    }
    if (/[0-9.]/.test(c) && (c !== '.' || /[0-9]/.test(s[this.pos + 1] ?? ''))) {
      for (const re of NUMBER_RES) {
        re.lastIndex = this.pos;
        const m = re.exec(s);
        if (!m) continue;
        const text = m[0];
        this.pos += text.length;
        // 1j (complex), 0644, 1abc: not literals kpfleet can represent, or syntax errors.
        if (isNameChar(s[this.pos] ?? '')) this.fail();
        this.tok = { t: 'num', v: numberValue(text) };
        return;
      }
      this.fail();
    }
    const nm = this.ascii ? ASCII_NAME : unicodeName();
    nm.lastIndex = this.pos;
    const name = nm.exec(s);
    if (name) {
      this.pos += name[0].length;
      this.tok = { t: 'name', v: name[0] };
      return;
    }
    if ('[](){},:+-'.includes(c)) {
      this.pos++;
      this.tok = { t: 'op', v: c };
      return;
    }
    this.fail();
  }

  private readString(prefix: string, quote: string, from: number): Tok {
    if (prefix.includes('f')) this.fail();
    const raw = prefix.includes('r');
    const bytes = prefix.includes('b');
    const s = this.s;
    let i = from;
    let v = '';
    const triple = quote.length === 3;
    for (;;) {
      if (i >= s.length) this.fail();
      if (s.startsWith(quote, i)) {
        i += quote.length;
        break;
      }
      const c = s[i] ?? '';
      if (!triple && (c === '\n' || c === '\r')) this.fail();
      if (bytes && c.charCodeAt(0) > 127) this.fail();
      if (c !== '\\') {
        v += c;
        i++;
        continue;
      }
      const n = s[i + 1];
      if (n === undefined) this.fail();
      if (raw) {
        v += c + n;
        i += 2;
        continue;
      }
      i += 2;
      if (n === '\n') continue;
      const simple = SIMPLE_ESCAPES[n];
      if (simple !== undefined) {
        v += simple;
        continue;
      }
      if (/[0-7]/.test(n)) {
        let oct = n;
        while (oct.length < 3 && /[0-7]/.test(s[i] ?? '')) oct += s[i++] ?? '';
        v += String.fromCodePoint(Number.parseInt(oct, 8));
        continue;
      }
      const width = n === 'x' ? 2 : !bytes && n === 'u' ? 4 : !bytes && n === 'U' ? 8 : 0;
      if (width > 0) {
        const hex = s.slice(i, i + width);
        if (hex.length !== width || !/^[0-9a-fA-F]+$/.test(hex)) this.fail();
        const cp = Number.parseInt(hex, 16);
        if (cp > 0x10ffff) this.fail();
        v += String.fromCodePoint(cp);
        i += width;
        continue;
      }
      // \N{NAME} needs the Unicode name table; treat as not a literal (kept as text).
      if (!bytes && n === 'N') this.fail();
      v += '\\' + n;
    }
    this.pos = i;
    if (bytes) v = decodeLatin1AsUtf8(v);
    return { t: 'str', v, bytes };
  }

  parseTop(): unknown {
    const first = this.parseExpr();
    if (this.isOp(',')) {
      const items = [first];
      while (this.isOp(',')) {
        this.next();
        if (this.tok.t === 'end') break;
        items.push(this.parseExpr());
      }
      if (this.tok.t !== 'end') this.fail();
      return items;
    }
    if (this.tok.t !== 'end') this.fail();
    return first;
  }

  private isOp(v: string): boolean {
    return this.tok.t === 'op' && this.tok.v === v;
  }

  private expectOp(v: string): void {
    if (!this.isOp(v)) this.fail();
    this.next();
  }

  private parseExpr(): unknown {
    const tok = this.tok;
    if (tok.t === 'op' && (tok.v === '-' || tok.v === '+')) {
      this.next();
      const operand = this.tok;
      if (operand.t !== 'num') this.fail();
      this.next();
      this.noBinary();
      return tok.v === '-' ? -operand.v : operand.v;
    }
    const v = this.parseAtom();
    this.noBinary();
    return v;
  }

  /** `1+2`, `a-b`: BinOp, which literal_eval only allows for complex numbers. */
  private noBinary(): void {
    if (this.isOp('+') || this.isOp('-')) this.fail();
  }

  private parseAtom(): unknown {
    const tok = this.tok;
    switch (tok.t) {
      case 'str': {
        let v = tok.v;
        const bytes = tok.bytes;
        this.next();
        while (this.tok.t === 'str') {
          if (this.tok.bytes !== bytes) this.fail();
          v += this.tok.v;
          this.next();
        }
        return v;
      }
      case 'num':
        this.next();
        return tok.v;
      case 'name':
        this.next();
        if (tok.v === 'True') return true;
        if (tok.v === 'False') return false;
        if (tok.v === 'None') return null;
        return this.fail();
      case 'op':
        if (tok.v === '[') {
          this.next();
          return this.parseItems(']');
        }
        if (tok.v === '(') {
          this.next();
          if (this.isOp(')')) {
            this.next();
            return [];
          }
          const first = this.parseExpr();
          if (this.isOp(')')) {
            this.next();
            return first;
          }
          this.expectOp(',');
          return [first, ...this.parseItems(')')];
        }
        if (tok.v === '{') {
          this.next();
          return this.parseDict();
        }
        return this.fail();
      case 'end':
        return this.fail();
    }
  }

  private parseItems(close: string): unknown[] {
    const items: unknown[] = [];
    while (!this.isOp(close)) {
      items.push(this.parseExpr());
      if (this.isOp(',')) this.next();
      else if (!this.isOp(close)) this.fail();
    }
    this.next();
    return items;
  }

  private parseDict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    while (!this.isOp('}')) {
      const key = this.parseExpr();
      // A set literal ({1, 2}) is valid Python but has no JSON form: keep the text.
      this.expectOp(':');
      const value = this.parseExpr();
      if (key !== null && typeof key === 'object') this.fail(); // unhashable key: TypeError
      out[pyKey(key)] = value;
      if (this.isOp(',')) this.next();
      else if (!this.isOp('}')) this.fail();
    }
    this.next();
    return out;
  }
}

function pyKey(k: unknown): string {
  if (k === true) return 'true';
  if (k === false) return 'false';
  if (k === null) return 'null';
  return typeof k === 'string' || typeof k === 'number' ? String(k) : JSON.stringify(k);
}

function numberValue(text: string): number {
  const t = text.replace(/_/g, '');
  const lower = t.toLowerCase();
  if (lower.startsWith('0x')) return Number.parseInt(t.slice(2), 16);
  if (lower.startsWith('0o')) return Number.parseInt(t.slice(2), 8);
  if (lower.startsWith('0b')) return Number.parseInt(t.slice(2), 2);
  return Number(t);
}

/** `to_text(bytes)`: bytes literals hold latin-1 code units here; decode them as UTF-8. */
function decodeLatin1AsUtf8(s: string): string {
  const bytes = Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff);
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}
