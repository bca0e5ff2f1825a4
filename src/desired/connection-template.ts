/**
 * The small, side-effect-free part of Jinja2 that kpfleet renders in the inventory variables it
 * connects with (docs/config.md, "Inventory variables"), with the result Ansible's templar gives:
 * literal text around at most one `{{ … }}` expression, the expression being a variable of the
 * host (`ip`, `inventory_hostname`), `lookup('env', 'NAME')`, a quoted string or a number, each
 * optionally followed by `| default(…)` / `| d(…)` (its second argument `true` too). Anything else
 * (other lookups, filters, tests, `{% … %}`, an undefined variable without a default) is refused
 * with a reason, never used literally. Pure: the caller gives the variables and the environment.
 */
import { scalarText } from '../util/show.ts';
import { JINJA } from './connection-values.ts';

export type Rendered =
  | {
      ok: true;
      value: string;
      /** A part of it came from an environment variable. */ fromEnv: boolean;
    }
  | { ok: false; why: string };

export interface TemplateScope {
  /** The host's variables, merged; `inventory_hostname` and `inventory_hostname_short` are added. */
  vars: Readonly<Record<string, unknown>>;
  host: string;
  env: Readonly<Record<string, string | undefined>>;
}

const MAX_DEPTH = 16;

interface Value {
  /** Undefined: the variable is not defined (Jinja's Undefined). */
  text: string | undefined;
  fromEnv: boolean;
}

type Token = { kind: 'name' | 'string' | 'number' | 'punct'; text: string };

function tokenize(expr: string): Token[] | string {
  const out: Token[] = [];
  const re = /\s*(?:([A-Za-z_][A-Za-z0-9_]*)|'([^'\\]*)'|"([^"\\]*)"|(-?\d+(?:\.\d+)?)|([(),|]))/y;
  let at = 0;
  while (at < expr.length) {
    if (/^\s*$/.test(expr.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(expr);
    if (!m) return `\`${expr.slice(at).trim()}\` is not supported`;
    at = re.lastIndex;
    if (m[1] !== undefined) out.push({ kind: 'name', text: m[1] });
    else if (m[2] !== undefined || m[3] !== undefined)
      out.push({ kind: 'string', text: m[2] ?? m[3] ?? '' });
    else if (m[4] !== undefined) out.push({ kind: 'number', text: m[4] });
    else out.push({ kind: 'punct', text: m[5] ?? '' });
  }
  return out;
}

class Refused extends Error {}

/** Renders `text` as Ansible would, within the subset above. */
export function renderConnectionValue(text: string, scope: TemplateScope): Rendered {
  try {
    const v = renderText(text, scope, [], new Map());
    if (v.text === undefined) return { ok: false, why: 'it is undefined' };
    return { ok: true, value: v.text, fromEnv: v.fromEnv };
  } catch (err) {
    if (err instanceof Refused) return { ok: false, why: err.message };
    throw err;
  }
}

/**
 * Variables already rendered in this call, by name: `{{ a | d(a) | d(a) }}` renders `a` three
 * times, so without it a chain of such variables (16 deep) took 3^16 renders per value, hours.
 * Rendering is pure, so a variable's value is the same wherever it is met.
 */
type Memo = Map<string, Value>;

function renderText(text: string, scope: TemplateScope, seen: string[], memo: Memo): Value {
  if (!JINJA.test(text)) return { text, fromEnv: false };
  if (/\{%|\{#/.test(text)) throw new Refused(`a {% ... %} or {# ... #} block`);
  const open = text.indexOf('{{');
  const close = text.indexOf('}}', open + 2);
  if (close === -1) throw new Refused("a '{{' without its '}}'");
  const before = text.slice(0, open);
  const after = text.slice(close + 2);
  if (JINJA.test(after)) throw new Refused(`more than one {{ ... }}`);
  const inner = text.slice(open + 2, close);
  if (inner.startsWith('-') || inner.endsWith('-'))
    throw new Refused(`whitespace control ({{- ... -}})`);
  const tokens = tokenize(inner);
  if (typeof tokens === 'string') throw new Refused(tokens);
  const parser = new Parser(tokens, scope, seen, memo);
  const v = parser.expression();
  parser.end();
  if (v.text === undefined) {
    const name = tokens[0]?.text ?? '';
    throw new Refused(`'${name}' is undefined (give it a value, or add | default(...))`);
  }
  return { text: before + v.text + after, fromEnv: v.fromEnv };
}

class Parser {
  private i = 0;
  private readonly tokens: Token[];
  private readonly scope: TemplateScope;
  private readonly seen: string[];
  private readonly memo: Memo;
  constructor(tokens: Token[], scope: TemplateScope, seen: string[], memo: Memo) {
    this.tokens = tokens;
    this.scope = scope;
    this.seen = seen;
    this.memo = memo;
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private take(text?: string): Token {
    const t = this.tokens[this.i];
    if (t === undefined || (text !== undefined && t.text !== text))
      throw new Refused(`expected ${text === undefined ? 'more' : `'${text}'`}`);
    this.i++;
    return t;
  }

  end(): void {
    const t = this.peek();
    if (t !== undefined) throw new Refused(`\`${t.text}\` is not supported`);
  }

  expression(): Value {
    let v = this.primary();
    while (this.peek()?.text === '|') {
      this.take('|');
      const filter = this.take();
      if (filter.text !== 'default' && filter.text !== 'd')
        throw new Refused(`the filter \`${filter.text}\` is not supported`);
      let fallback: Value = { text: '', fromEnv: false };
      let orFalsy = false;
      if (this.peek()?.text === '(') {
        this.take('(');
        if (this.peek()?.text !== ')') {
          fallback = this.primary();
          if (this.peek()?.text === ',') {
            this.take(',');
            const b = this.take().text;
            if (!['true', 'false', 'True', 'False'].includes(b))
              throw new Refused(`default's second argument must be true or false`);
            orFalsy = b.toLowerCase() === 'true';
          }
        }
        this.take(')');
      }
      // Jinja's default(): an undefined value, or with `true` any falsy one ('' here)
      if (v.text === undefined || (orFalsy && v.text === '')) v = fallback;
    }
    return v;
  }

  private primary(): Value {
    const t = this.take();
    if (t.kind === 'string' || t.kind === 'number') return { text: t.text, fromEnv: false };
    if (t.kind !== 'name') throw new Refused(`\`${t.text}\` is not supported`);
    if (t.text === 'lookup' || t.text === 'query' || t.text === 'q') return this.lookup(t.text);
    if (this.peek()?.text === '(') throw new Refused(`calling \`${t.text}(...)\` is not supported`);
    return this.variable(t.text);
  }

  private lookup(word: string): Value {
    this.take('(');
    const plugin = this.take();
    if (word !== 'lookup' || plugin.kind !== 'string' || plugin.text !== 'env')
      throw new Refused(
        `${word}('${plugin.text}', ...) is not supported: only lookup('env', 'NAME') is rendered`,
      );
    this.take(',');
    const name = this.take();
    if (name.kind !== 'string')
      throw new Refused("lookup('env', ...) takes the variable's name as a quoted string");
    this.take(')');
    // Ansible's env lookup gives '' for an unset variable (its `default` option)
    return { text: this.scope.env[name.text] ?? '', fromEnv: true };
  }

  private variable(name: string): Value {
    if (name === 'inventory_hostname') return { text: this.scope.host, fromEnv: false };
    if (name === 'inventory_hostname_short')
      return { text: this.scope.host.split('.')[0] ?? '', fromEnv: false };
    if (!Object.hasOwn(this.scope.vars, name)) return { text: undefined, fromEnv: false };
    const known = this.seen.includes(name) ? undefined : this.memo.get(name);
    if (known !== undefined) return known;
    const raw = this.scope.vars[name];
    if (raw === null || raw === undefined || typeof raw === 'boolean')
      throw new Refused(`'${name}' is ${String(raw)}, not a string or a number`);
    const text = scalarText(raw);
    if (text === undefined) throw new Refused(`'${name}' is not a string or a number`);
    if (this.seen.includes(name)) throw new Refused(`'${name}' refers to itself`);
    if (this.seen.length >= MAX_DEPTH) throw new Refused('the templates nest too deeply');
    const v = renderText(text, this.scope, [...this.seen, name], this.memo);
    this.memo.set(name, v);
    return v;
  }
}
