/**
 * Ansible's INI inventory format (plugins/inventory/ini.py), line by line: sections `[g]`,
 * `[g:vars]`, `[g:children]`; host lines split like `shlex.split(comments=True)`, with inline
 * `k=v` values typed by `ast.literal_eval`; `:vars` values literal_eval'd too (after `strip`).
 * Unlike Ansible, which stops at the first error, every bad line is reported. Pure.
 */
import type { SourceText } from '../util/source.ts';
import { HostRangeError, expandHostRange, parseAddress } from './address.ts';
import { InventoryBuilder, type SharedInventory } from './builder.ts';
import { parseIniValue } from './literal-eval.ts';
import { ShlexError, shlexSplit } from './shlex.ts';
import type { Inventory } from './types.ts';
import type { Diagnostic } from '../diagnostics.ts';
import { isPrintableAscii, onFirstUse } from '../util/ascii.ts';

export const sectionPattern = onFirstUse(
  () => /^\[([^:\]\s]+)(?::([\p{L}\p{N}_]+))?\]\s*(?:#.*)?$/u,
);
/** The same over printable ASCII, where `\p{L}\p{N}_` is [A-Za-z0-9_] (`\s` and `.` are the same). */
const ASCII_SECTION = /^\[([^:\]\s]+)(?::([A-Za-z0-9_]+))?\]\s*(?:#.*)?$/;

/** A `[name]` or `[name:tag]` header line: its name and tag. */
export function sectionHeader(line: string): RegExpExecArray | null {
  return isPrintableAscii(line) ? ASCII_SECTION.exec(line) : sectionPattern().exec(line);
}
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/u;

interface Pending {
  state: 'vars' | 'children';
  offset: number;
  name: string;
  parents: string[];
}

/** Splits like Python's str.splitlines() for the common line ends, keeping each line's offset. */
function lines(text: string): { text: string; start: number }[] {
  const out: { text: string; start: number }[] = [];
  const re = /\r\n|\n|\r/g;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ text: text.slice(start, m.index), start });
    start = m.index + m[0].length;
  }
  if (start < text.length) out.push({ text: text.slice(start), start });
  return out;
}

/** Expands the first token of a host line: `host[:port]`, ranges included (INI checks added). */
function expandHostPattern(pattern: string): { hosts: string[]; port: number | undefined } {
  const parsed = parseAddress(pattern, true);
  const host = parsed ? parsed.host : pattern;
  const port = parsed?.port;
  if (pattern.trim().endsWith(':') && port === undefined) {
    throw new HostRangeError(
      `invalid host pattern '${pattern}': ending in ':' is not allowed, this character is reserved to provide a port`,
    );
  }
  const hosts = expandHostRange(host);
  if (hosts.some((h) => h.trim() === '---')) {
    throw new HostRangeError(
      `invalid host pattern '${pattern}': '---' is normally a sign this is a YAML file`,
    );
  }
  return { hosts, port };
}

export function parseIni(
  src: SourceText,
  shared?: SharedInventory,
): { inventory: Inventory; diagnostics: Diagnostic[] } {
  const b = new InventoryBuilder(src, shared);
  const pending = new Map<string, Pending>();
  let group = 'ungrouped';
  let state: 'hosts' | 'vars' | 'children' = 'hosts';
  let skipSection = false;

  const addPendingChildren = (name: string): void => {
    const decl = pending.get(name);
    if (!decl) return;
    pending.delete(name);
    for (const parent of decl.parents) {
      b.addChild(parent, name, decl.offset);
      if (pending.get(parent)?.state === 'children') addPendingChildren(parent);
    }
  };

  for (const { text: rawLine, start: lineStart } of lines(src.text)) {
    const indent = rawLine.length - rawLine.trimStart().length;
    const line = rawLine.trim();
    const at = lineStart + indent;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;

    const m = sectionHeader(line);
    if (m) {
      const name = m[1] ?? '';
      const tag = m[2] ?? 'hosts';
      if (tag !== 'hosts' && tag !== 'vars' && tag !== 'children') {
        b.error(
          'inventory/ini-section',
          `section [${name}:${tag}] has unknown type: ${tag}`,
          at + 1 + name.length + 1,
          'a section is [group], [group:vars] or [group:children]',
        );
        // Like a parse failure, ignore the section's lines rather than guess what they are.
        skipSection = true;
        continue;
      }
      skipSection = false;
      group = name;
      state = tag;
      if (!b.inventory.groups.has(name)) {
        if (state === 'vars' && !pending.has(name)) {
          pending.set(name, { state: 'vars', offset: at + 1, name, parents: [] });
        }
        b.addGroup(name, at + 1);
      }
      const decl = pending.get(name);
      if (decl && state !== 'vars') {
        if (decl.state === 'children') addPendingChildren(name);
        else pending.delete(name);
      }
      continue;
    }
    if (line.startsWith('[') && line.endsWith(']')) {
      b.error(
        'inventory/ini-section',
        `invalid section entry '${line}'`,
        at,
        'a section header has no spaces and no other invalid characters, e.g. [web] or [web:vars]',
      );
      skipSection = true;
      continue;
    }
    if (skipSection) continue;

    if (state === 'hosts') parseHostLine(b, line, at, group);
    else if (state === 'vars') {
      const eq = line.indexOf('=');
      if (eq === -1) {
        b.error(
          'inventory/ini-syntax',
          `expected key=value, got: ${line}`,
          at,
          'in a [group:vars] section every line is key=value',
        );
        continue;
      }
      const key = line.slice(0, eq).trim();
      const value = parseIniValue(line.slice(eq + 1).trim());
      b.setGroupVar(group, key, value, at);
    } else {
      const cm = GROUP_NAME.exec(line);
      if (!cm) {
        b.error(
          'inventory/ini-syntax',
          `expected group name, got: ${line}`,
          at,
          'in a [group:children] section every line is one group name',
        );
        continue;
      }
      const child = cm[1] ?? '';
      if (!b.inventory.groups.has(child)) {
        const decl = pending.get(child);
        if (decl) decl.parents.push(group);
        else pending.set(child, { state: 'children', offset: at, name: child, parents: [group] });
      } else b.addChild(group, child, at);
    }
  }

  for (const decl of pending.values()) {
    const known = [...b.inventory.groups.keys()];
    if (decl.state === 'vars') {
      b.error(
        'inventory/undefined-group',
        `section [${decl.name}:vars] is not valid for undefined group: ${decl.name}`,
        decl.offset,
        `declare it with [${decl.name}] or [${decl.name}:children]`,
      );
    } else {
      const parent = decl.parents[decl.parents.length - 1] ?? '';
      const close = known.find((g) => g.toLowerCase() === decl.name.toLowerCase());
      b.error(
        'inventory/undefined-group',
        `section [${parent}:children] includes undefined group: ${decl.name}`,
        decl.offset,
        close === undefined ? `declare it with [${decl.name}]` : `did you mean '${close}'?`,
      );
    }
  }
  return { inventory: b.finish(), diagnostics: b.diagnostics };
}

function parseHostLine(b: InventoryBuilder, line: string, at: number, group: string): void {
  let tokens;
  try {
    tokens = shlexSplit(line, true);
  } catch (e) {
    if (!(e instanceof ShlexError)) throw e;
    b.error(
      'inventory/ini-syntax',
      `cannot parse host definition: ${e.message.toLowerCase()}`,
      at + e.offset,
    );
    return;
  }
  const first = tokens[0];
  if (!first) return;
  let hosts: string[];
  let port: number | undefined;
  try {
    ({ hosts, port } = expandHostPattern(first.value));
  } catch (e) {
    if (!(e instanceof HostRangeError)) throw e;
    b.error('inventory/host-pattern', e.message, at + first.start);
    return;
  }
  const vars: [string, unknown, number][] = [];
  let ok = true;
  for (const t of tokens.slice(1)) {
    const eq = t.value.indexOf('=');
    if (eq === -1) {
      b.error(
        'inventory/ini-syntax',
        `expected key=value host variable assignment, got: ${t.value}`,
        at + t.start,
        'quote values that contain spaces: key="a b"',
      );
      ok = false;
      continue;
    }
    vars.push([t.value.slice(0, eq), parseIniValue(t.value.slice(eq + 1)), at + t.start]);
  }
  if (!ok) return;
  for (const h of hosts) {
    if (h === '') {
      b.error('inventory/host-pattern', 'invalid empty host name', at + first.start);
      continue;
    }
    b.addHost(h, group, port, at + first.start);
    for (const [k, v, vAt] of vars) b.setHostVar(h, k, v, vAt);
  }
}
