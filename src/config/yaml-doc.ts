/**
 * A YAML file parsed with source positions kept, so that any JSON path in it can be turned back
 * into file:line:col. Pure: the caller reads the text.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node, Pair } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import { SourceText } from '../util/source.ts';

export type JsonPath = readonly (string | number)[];

export interface YamlFile {
  source: SourceText;
  doc: Document.Parsed;
  /** The plain JS value (aliases expanded); undefined if the file had syntax errors. */
  value: unknown;
  diagnostics: Diagnostic[];
}

export function parseYamlFile(file: string, text: string): YamlFile {
  const source = new SourceText(file, text);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    stringKeys: true,
    uniqueKeys: true,
    version: '1.2',
  });
  const diagnostics: Diagnostic[] = [];
  for (const e of doc.errors) {
    const message =
      e.code === 'DUPLICATE_KEY'
        ? 'duplicate key: each key may appear only once in a mapping'
        : firstLine(e.message);
    diagnostics.push(source.diagnostic('error', `yaml/${e.code.toLowerCase()}`, message, e.pos[0]));
  }
  for (const w of doc.warnings) {
    diagnostics.push(
      source.diagnostic('warning', `yaml/${w.code.toLowerCase()}`, firstLine(w.message), w.pos[0]),
    );
  }
  let value: unknown;
  if (doc.errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      diagnostics.push(
        source.diagnostic(
          'error',
          'yaml/alias',
          firstLine(String(err)),
          0,
          'check anchors and aliases',
        ),
      );
    }
  }
  return { source, doc, value, diagnostics };
}

function firstLine(message: string): string {
  // yaml's messages end with "at line L, column C" and a code frame; we print our own.
  const line = message.split('\n')[0] ?? message;
  return line.replace(/ at line \d+, column \d+:?$/, '');
}

function deref(doc: Document.Parsed, node: unknown): unknown {
  let n = node;
  for (let i = 0; i < 32 && isAlias(n); i++) n = n.resolve(doc);
  return n;
}

/** The map pair at `path` (for a path into a mapping), or the node (for a sequence item). */
function findNode(
  doc: Document.Parsed,
  path: JsonPath,
): { pair?: Pair; node?: Node; parent?: Node } {
  let node: unknown = doc.contents;
  let pair: Pair | undefined;
  let parent: Node | undefined;
  for (const seg of path) {
    node = deref(doc, node);
    if (isMap(node)) {
      parent = node;
      pair = node.items.find(
        (p) => isPair(p) && String(isScalar(p.key) ? p.key.value : p.key) === String(seg),
      );
      if (!pair) return { parent };
      node = pair.value;
    } else if (isSeq(node)) {
      parent = node;
      pair = undefined;
      node = node.items[Number(seg)];
      if (node === undefined) return { parent };
    } else {
      return parent ? { parent } : {};
    }
  }
  const result: { pair?: Pair; node?: Node; parent?: Node } = {};
  if (pair) result.pair = pair;
  const resolved = deref(doc, node);
  if (resolved && typeof resolved === 'object' && 'range' in resolved)
    result.node = resolved as Node;
  if (parent) result.parent = parent;
  return result;
}

/**
 * The character offset to report a finding about `path` at. `key` points at the mapping key
 * (unknown keys, names), `value` at the value. Falls back to the nearest existing ancestor.
 */
export function offsetOf(
  doc: Document.Parsed,
  path: JsonPath,
  at: 'key' | 'value' = 'value',
): number {
  for (let len = path.length; len >= 0; len--) {
    const { pair, node } = findNode(doc, path.slice(0, len));
    const partial = len < path.length;
    if (pair && (at === 'key' || partial || !node)) {
      const key = pair.key as Node | null;
      if (key?.range) return key.range[0];
    }
    if (node?.range) return node.range[0];
  }
  return 0;
}
