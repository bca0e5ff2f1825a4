/**
 * Ansible's YAML inventory format (plugins/inventory/yaml.py): top-level keys are groups, each
 * with optional `hosts`, `vars`, `children`. Parsed as YAML 1.1 the way PyYAML reads it; duplicate
 * keys keep the last value with a warning, as Ansible does. Pure.
 */
import { isAlias, isMap, isScalar, visit, type Document, type Node } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import type { SourceText } from '../util/source.ts';
import { HostRangeError, expandHostRange, parseAddress } from './address.ts';
import { InventoryBuilder, type At, type SharedInventory } from './builder.ts';
import { openInlineVaults, type VaultKey } from './vault-yaml.ts';
import type { Inventory } from './types.ts';
import { parseYaml11, yamlErrorDiagnostic } from './yaml11.ts';
import { pushAll } from '../util/arrays.ts';

export type YamlOutcome =
  | { kind: 'inventory'; inventory: Inventory; diagnostics: Diagnostic[] }
  /** Not a YAML inventory (syntax errors, empty, not a mapping): Ansible goes on to try INI. */
  | { kind: 'not-yaml'; diagnostics: Diagnostic[] };

type Ast = Node | null | undefined;

/** The value of a JS-converted YAML node, in the shape Ansible would print it (dict → object). */
export function toPlain(v: unknown): unknown {
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, val] of v) out[pyJsonKey(k)] = toPlain(val);
    return out;
  }
  if (v instanceof Set) return [...v].map(toPlain);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return v;
}

/** How Python's json.dumps writes a non-string dict key. */
export function pyJsonKey(k: unknown): string {
  if (k === true) return 'true';
  if (k === false) return 'false';
  if (k === null || k === undefined) return 'null';
  if (typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint') return String(k);
  return JSON.stringify(toPlain(k));
}

function pyType(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Map) return 'dict';
  return typeof v;
}

function resolve(doc: Document, n: Ast): Ast {
  return isAlias(n) ? n.resolve(doc) : n;
}

/** The key and value nodes of `key` in a mapping node (the last, where keys repeat). */
function child(doc: Document, mapNode: Ast, key: unknown): { key: Ast; value: Ast } {
  const m = resolve(doc, mapNode);
  if (!isMap(m)) return { key: undefined, value: undefined };
  for (let i = m.items.length - 1; i >= 0; i--) {
    const pair = m.items[i];
    const k = resolve(doc, pair?.key as Ast);
    if (isScalar(k) && k.value === key) return { key: k, value: pair?.value as Ast };
  }
  return { key: undefined, value: undefined };
}

function offset(n: Ast): number | undefined {
  return n?.range?.[0];
}

/** Duplicate keys anywhere in the document: a warning at each repeated key. */
function duplicateKeys(doc: Document, b: InventoryBuilder): void {
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = pair.key;
        if (!isScalar(k)) continue;
        if (seen.has(k.value)) {
          b.warning(
            'inventory/duplicate-key',
            `duplicate key '${String(k.value)}': the last value is used, as Ansible does`,
            offset(k),
          );
        }
        seen.add(k.value);
      }
    },
  });
}

export function parseYamlInventory(
  src: SourceText,
  options: { shared?: SharedInventory; vault?: VaultKey } = {},
): YamlOutcome {
  const { doc } = parseYaml11(src.text);
  if (doc.errors.length > 0) {
    return {
      kind: 'not-yaml',
      diagnostics: doc.errors.map((e) => yamlErrorDiagnostic(src, e)),
    };
  }
  const vaultErrors: Diagnostic[] = [];
  openInlineVaults(doc, src, options.vault, vaultErrors);
  let data: unknown;
  try {
    data = doc.toJS({ mapAsMap: true, maxAliasCount: 100 });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return {
      kind: 'not-yaml',
      diagnostics: [src.diagnostic('error', 'inventory/yaml-syntax', msg, 0)],
    };
  }
  if (
    data === null ||
    data === undefined ||
    data === '' ||
    (data instanceof Map && data.size === 0)
  ) {
    return {
      kind: 'not-yaml',
      diagnostics: [
        src.diagnostic('error', 'inventory/yaml-empty', 'the YAML inventory is empty', undefined),
      ],
    };
  }
  if (!(data instanceof Map)) {
    return {
      kind: 'not-yaml',
      diagnostics: [
        src.diagnostic(
          'error',
          'inventory/yaml-structure',
          `a YAML inventory must be a mapping of groups, got a ${pyType(data)}`,
          offset(doc.contents) ?? 0,
        ),
      ],
    };
  }
  const b = new InventoryBuilder(src, options.shared);
  pushAll(b.diagnostics, vaultErrors);
  duplicateKeys(doc, b);
  const plugin: unknown = data.get('plugin');
  if (plugin !== undefined && plugin !== null && plugin !== false && plugin !== '') {
    b.error(
      'inventory/plugin-config',
      'this is an inventory plugin configuration file, not a YAML inventory',
      offset(child(doc, doc.contents, 'plugin').key),
      'dynamic inventories are not supported: export them with `ansible-inventory -i SRC --list -y`',
    );
    return { kind: 'inventory', inventory: b.finish(), diagnostics: b.diagnostics };
  }
  for (const [name, body] of data) {
    const nodes = child(doc, doc.contents, name);
    parseGroup(doc, b, name, body, nodes.key, nodes.value);
  }
  return { kind: 'inventory', inventory: b.finish(), diagnostics: b.diagnostics };
}

function parseGroup(
  doc: Document,
  b: InventoryBuilder,
  name: unknown,
  body: unknown,
  keyNode: Ast,
  valueNode: Ast,
): string | undefined {
  const at: At = offset(keyNode);
  if (!(body instanceof Map) && body !== null) {
    b.warning(
      'inventory/yaml-structure',
      `skipping '${String(name)}': not a valid group definition (a ${pyType(body)}, not a mapping)`,
      at,
      'a group is a mapping with optional hosts:, vars: and children:',
    );
    return typeof name === 'string' ? name : undefined;
  }
  if (typeof name !== 'string' || name === '') {
    b.error(
      'inventory/group-name',
      `invalid group name ${JSON.stringify(toPlain(name))}: expected a non-empty string`,
      at,
    );
    return undefined;
  }
  b.addGroup(name, at);
  if (body === null) return name;

  for (const section of ['vars', 'children', 'hosts']) {
    const v: unknown = body.get(section);
    if (typeof v === 'string') body.set(section, new Map([[v, null]]));
    else if (v !== undefined && v !== null && !(v instanceof Map)) {
      b.error(
        'inventory/yaml-structure',
        `invalid "${section}" entry for group "${name}": requires a mapping, found a ${pyType(v)}`,
        offset(child(doc, valueNode, section).value) ?? at,
        section === 'hosts' && Array.isArray(v)
          ? 'write hosts as a mapping: "hosts: {web1: , web2: }" or one "web1:" per line'
          : undefined,
      );
      body.delete(section);
    }
  }

  for (const [key, value] of body) {
    const nodes = child(doc, valueNode, key);
    const keyAt = offset(nodes.key) ?? at;
    if (value === null) continue;
    if (!(value instanceof Map)) {
      b.warning(
        'inventory/yaml-structure',
        `skipping key (${String(key)}) in group (${name}): it is not a mapping, it is a ${pyType(value)}`,
        keyAt,
      );
      continue;
    }
    if (key === 'vars') {
      for (const [k, v] of value) {
        b.setGroupVar(
          name,
          pyJsonKey(k),
          toPlain(v),
          offset(child(doc, nodes.value, k).key) ?? keyAt,
        );
      }
    } else if (key === 'children') {
      for (const [sub, subBody] of value) {
        const subNodes = child(doc, nodes.value, sub);
        const subName = parseGroup(doc, b, sub, subBody, subNodes.key, subNodes.value);
        const subAt = offset(subNodes.key) ?? keyAt;
        if (subName === undefined) continue;
        if (b.inventory.groups.has(subName)) b.addChild(name, subName, subAt);
        else if (b.inventory.hosts.has(subName)) b.addHost(subName, name, undefined, subAt);
        else b.error('inventory/yaml-structure', `${subName} is not a known host nor group`, subAt);
      }
    } else if (key === 'hosts') {
      for (const [pattern, hostVars] of value) {
        const hNodes = child(doc, nodes.value, pattern);
        const hostAt = offset(hNodes.key) ?? keyAt;
        const varAt = (k: unknown): At => offset(child(doc, hNodes.value, k).key) ?? hostAt;
        parseHost(b, name, pattern, hostVars, hostAt, varAt);
      }
    } else {
      b.warning(
        'inventory/yaml-structure',
        `skipping unexpected key (${String(key)}) in group (${name}): only "vars", "children" and "hosts" are valid`,
        keyAt,
      );
    }
  }
  return name;
}

function parseHost(
  b: InventoryBuilder,
  group: string,
  pattern: unknown,
  vars: unknown,
  at: At,
  varAt: (key: unknown) => At,
): void {
  if (typeof pattern !== 'string') {
    b.error(
      'inventory/host-pattern',
      `host pattern ${JSON.stringify(toPlain(pattern))} must be a string`,
      at,
      'enclose integers and floats in quotation marks',
    );
    return;
  }
  if (vars !== null && !(vars instanceof Map)) {
    b.error(
      'inventory/yaml-structure',
      `the vars of host '${pattern}' must be a mapping, got a ${pyType(vars)}`,
      at,
    );
    return;
  }
  let hosts: string[];
  const parsed = parseAddress(pattern, true);
  try {
    hosts = expandHostRange(parsed ? parsed.host : pattern);
  } catch (e) {
    if (!(e instanceof HostRangeError)) throw e;
    b.error('inventory/host-pattern', `${e.message} (in '${pattern}')`, at);
    return;
  }
  for (const h of hosts) {
    if (h === '') {
      b.error('inventory/host-pattern', 'invalid empty host name', at);
      continue;
    }
    b.addHost(h, group, parsed?.port, at);
    if (vars instanceof Map) {
      for (const [k, v] of vars) b.setHostVar(h, pyJsonKey(k), toPlain(v), varAt(k));
    }
  }
}
