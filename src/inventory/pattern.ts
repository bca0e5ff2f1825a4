/**
 * Ansible host patterns (inventory/manager.py): `split_host_pattern`, `order_patterns`,
 * `_evaluate_patterns`, `_match_one_pattern` with subscripts, and `--limit` (subset, `@file`).
 * Results are ordered as `ansible PATTERN --list-hosts` orders them. Pure: `@file` terms are read
 * through the caller's `readFile`.
 */
import { UsageError } from '../errors.ts';
import { compileGlob } from '../util/glob.ts';
import { parseAddress } from './address.ts';
import { groupHosts } from './graph.ts';
import type { Inventory } from './types.ts';
import { pushAll } from '../util/arrays.ts';

/** Ansible's C.LOCALHOST: names that select the implicit localhost when nothing else matches. */
const LOCALHOST_NAMES: readonly string[] = ['127.0.0.1', 'localhost', '::1'];

export interface SelectOptions {
  /** Reads an `@file` limit list (path as written after '@'). Without it, `@file` is a UsageError. */
  readFile?: (path: string) => string;
  /**
   * Whether 'localhost' / '127.0.0.1' / '::1' select an implicit localhost when the inventory has
   * no such host, as Ansible does (default true). The name is then not in `inv.hosts`.
   */
  implicitLocalhost?: boolean;
}

export interface SelectResult {
  hosts: string[];
  /** Ansible's warnings, e.g. "Could not match supplied host pattern, ignoring: web9". */
  warnings: string[];
  /** Names in `hosts` that are not inventory hosts (the implicit localhost). */
  implicit: string[];
}

/** `split_host_pattern`: ',' separates; without a comma ':' does, unless it is a host:port/IPv6. */
export function splitHostPattern(pattern: string): string[] {
  let parts: string[];
  if (pattern.includes(',')) parts = pattern.split(',');
  else if (parseAddress(pattern, true)) parts = [pattern];
  else parts = pattern.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? [];
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** `order_patterns`: plain terms, then '&' terms, then '!' terms; only &/! → 'all' first. */
export function orderPatterns(terms: readonly string[]): string[] {
  const regular: string[] = [];
  const intersect: string[] = [];
  const exclude: string[] = [];
  for (const p of terms) {
    if (p === '') continue;
    if (p.startsWith('!')) exclude.push(p);
    else if (p.startsWith('&')) intersect.push(p);
    else regular.push(p);
  }
  return [...(regular.length === 0 ? ['all'] : regular), ...intersect, ...exclude];
}

const SUBSCRIPT = /^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$/s;

type Subscript = { start: number; end: number | undefined };

function splitSubscript(pattern: string, warnings: string[]): [string, Subscript | undefined] {
  if (pattern.startsWith('~')) return [pattern, undefined];
  const m = SUBSCRIPT.exec(pattern);
  if (!m) return [pattern, undefined];
  const expr = m[1] ?? '';
  if (m[2] !== undefined) return [expr, { start: Number.parseInt(m[2], 10), end: undefined }];
  if (m[4] === '-') {
    warnings.push('Use [x:y] inclusive subscripts instead of [x-y] which has been removed');
  }
  const end = m[5] === '' || m[5] === undefined ? -1 : Number.parseInt(m[5], 10);
  return [expr, { start: Number.parseInt(m[3] ?? '0', 10), end }];
}

/** Python list indexing/slicing as `_apply_subscript` uses it ([x:y] is inclusive). */
function applySubscript(hosts: string[], sub: Subscript | undefined, pattern: string): string[] {
  if (hosts.length === 0 || !sub) return hosts;
  const { start } = sub;
  let { end } = sub;
  const n = hosts.length;
  if (end) {
    if (end === -1) end = n - 1;
    const from = start < 0 ? Math.max(0, n + start) : Math.min(start, n);
    return hosts.slice(from, Math.max(from, Math.min(end + 1, n)));
  }
  const i = start < 0 ? n + start : start;
  const h = hosts[i];
  if (i < 0 || h === undefined) {
    throw new UsageError(`No hosts matched the subscripted pattern '${pattern}'`, {
      hint: `the group has ${n} host${n === 1 ? '' : 's'}; indexes start at 0`,
    });
  }
  return [h];
}

/** A Python regex as a JS RegExp anchored at the start, like `re.compile(p).match(s)`. */
function pythonRegex(source: string, pattern: string): RegExp {
  const js = source
    .replace(/\(\?P<([A-Za-z_]\w*)>/g, '(?<$1>')
    .replace(/\(\?P=([A-Za-z_]\w*)\)/g, '\\k<$1>')
    .replace(/\\Z/g, '$');
  try {
    return new RegExp(js, 'y');
  } catch (e) {
    const options = e instanceof Error ? { hint: e.message, cause: e } : { cause: e };
    throw new UsageError(`Invalid host list pattern: ${pattern}`, options);
  }
}

function matcher(pattern: string): (name: string) => boolean {
  if (pattern.startsWith('~')) {
    const re = pythonRegex(pattern.slice(1), pattern);
    return (name) => {
      re.lastIndex = 0;
      return re.test(name);
    };
  }
  const glob = compileGlob(pattern);
  return (name) => glob.match(name);
}

/**
 * `InventoryData.get_host` for a localhost name that is not an inventory host: the first inventory
 * host named like localhost stands in for all three names; else an implicit host of that name.
 */
function localhostFor(ctx: Ctx, name: string): string {
  for (const h of ctx.inv.hosts.keys()) if (LOCALHOST_NAMES.includes(h)) return h;
  ctx.implicit.add(name);
  return name;
}

interface Ctx {
  inv: Inventory;
  warnings: string[];
  implicit: Set<string>;
  implicitLocalhost: boolean;
  cache: Map<string, string[]>;
}

function enumerateMatches(ctx: Ctx, pattern: string): string[] {
  const { inv } = ctx;
  const match = matcher(pattern);
  const results: string[] = [];
  const groups = [...inv.groups.keys()].filter(match);
  for (const g of groups) pushAll(results, groupHosts(inv, g));
  if (groups.length === 0 || pattern.startsWith('~') || /[.?*[]/.test(pattern)) {
    for (const h of inv.hosts.keys()) if (match(h)) results.push(h);
  }
  if (results.length === 0 && ctx.implicitLocalhost && LOCALHOST_NAMES.includes(pattern)) {
    results.push(localhostFor(ctx, pattern));
  }
  if (results.length === 0 && groups.length === 0 && pattern !== 'all') {
    ctx.warnings.push(`Could not match supplied host pattern, ignoring: ${pattern}`);
  }
  return results;
}

function matchOnePattern(ctx: Ctx, term: string): string[] {
  const pattern = term.startsWith('&') || term.startsWith('!') ? term.slice(1) : term;
  const cached = ctx.cache.get(pattern);
  if (cached) return cached;
  if (pattern === '') return [];
  const [expr, sub] = splitSubscript(pattern, ctx.warnings);
  const hosts = applySubscript(enumerateMatches(ctx, expr), sub, pattern);
  ctx.cache.set(pattern, hosts);
  return hosts;
}

function evaluatePatterns(ctx: Ctx, terms: readonly string[]): string[] {
  let hosts: string[] = [];
  for (const p of orderPatterns(terms)) {
    if (ctx.inv.hosts.has(p)) {
      hosts.push(p);
      continue;
    }
    const that = matchOnePattern(ctx, p);
    if (p.startsWith('!')) {
      const set = new Set(that);
      hosts = hosts.filter((h) => !set.has(h));
    } else if (p.startsWith('&')) {
      const set = new Set(that);
      hosts = hosts.filter((h) => set.has(h));
    } else {
      const existing = new Set(hosts);
      pushAll(
        hosts,
        that.filter((h) => !existing.has(h)),
      );
    }
  }
  return [...new Set(hosts)];
}

/** `@file` terms become the file's lines (stripped, each one term), as `--limit @file` does. */
function expandFileTerms(terms: readonly string[], readFile: SelectOptions['readFile']): string[] {
  const out: string[] = [];
  for (const t of terms) {
    if (!t.startsWith('@')) {
      out.push(t);
      continue;
    }
    const path = t.slice(1);
    if (!readFile) throw new UsageError(`cannot read limit file ${path}: no file reader given`);
    let text: string;
    try {
      text = readFile(path);
    } catch (e) {
      throw new UsageError(`Unable to find limit file ${path}`, { cause: e });
    }
    pushAll(
      out,
      text.split('\n').map((l) => l.trim()),
    );
  }
  return out;
}

function context(inv: Inventory, opts: SelectOptions): Ctx {
  return {
    inv,
    warnings: [],
    implicit: new Set(),
    implicitLocalhost: opts.implicitLocalhost ?? true,
    cache: new Map(),
  };
}

function finish(ctx: Ctx, hosts: string[]): SelectResult {
  return {
    hosts,
    warnings: [...new Set(ctx.warnings)],
    implicit: hosts.filter((h) => ctx.implicit.has(h)),
  };
}

/**
 * Ansible's implicit localhost: a pattern that names localhost and selects nothing selects the
 * implicit `localhost` host (when the inventory allows it).
 */
function orImplicitLocalhost(ctx: Ctx, pattern: string, hosts: string[]): string[] {
  if (hosts.length > 0 || !LOCALHOST_NAMES.includes(pattern) || !ctx.implicitLocalhost)
    return hosts;
  ctx.implicit.add(pattern);
  return [pattern];
}

/**
 * Hosts matching an Ansible host pattern, in `ansible PATTERN --list-hosts` order, with the
 * warnings Ansible would print. `@file` terms are expanded into the file's lines first (Ansible
 * accepts them only in --limit; see `limitHostsDetailed` for that exact behaviour).
 * Throws UsageError for a malformed regex, an out-of-range index, or an unreadable @file.
 */
export function selectHostsDetailed(
  inv: Inventory,
  pattern: string,
  opts: SelectOptions = {},
): SelectResult {
  const ctx = context(inv, opts);
  const terms = expandFileTerms(splitHostPattern(pattern), opts.readFile);
  return finish(ctx, orImplicitLocalhost(ctx, pattern, evaluatePatterns(ctx, terms)));
}

export function selectHosts(
  inv: Inventory,
  pattern: string,
  readFile?: (path: string) => string,
): string[] {
  return selectHostsDetailed(inv, pattern, readFile ? { readFile } : {}).hosts;
}

/**
 * `ansible PATTERN --limit LIMIT`: the hosts of PATTERN (in its order) that LIMIT also selects.
 * LIMIT may hold `@file` terms, whose lines are patterns (one term per line).
 */
export function limitHostsDetailed(
  inv: Inventory,
  pattern: string,
  limit: string,
  opts: SelectOptions = {},
): SelectResult {
  const ctx = context(inv, opts);
  const selected = evaluatePatterns(ctx, splitHostPattern(pattern));
  const subsetTerms = expandFileTerms(splitHostPattern(limit), opts.readFile);
  const allowed = new Set(evaluatePatterns(ctx, subsetTerms));
  return finish(
    ctx,
    orImplicitLocalhost(
      ctx,
      pattern,
      selected.filter((h) => allowed.has(h)),
    ),
  );
}

export function limitHosts(
  inv: Inventory,
  pattern: string,
  limit: string,
  readFile?: (path: string) => string,
): string[] {
  return limitHostsDetailed(inv, pattern, limit, readFile ? { readFile } : {}).hosts;
}
