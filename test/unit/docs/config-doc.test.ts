/**
 * docs/config.md documents every field of schemas/kpfleet.schema.json, and nothing else: each
 * field is a row of a `| Field | Type | Default | Meaning |` table whose first cell is its dotted
 * path in backticks (`connection.user`, `patches.<name>.sha256`). A default that the schema's
 * description states must appear in the row's Default column.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

type Json = Record<string, unknown>;

const SCHEMA_FILE = 'schemas/kpfleet.schema.json';
const DOC_FILE = 'docs/config.md';
/** The name standing for any key of a map (patternProperties, additionalProperties). */
const MAP_KEY = '<name>';
/** What a field path in the doc looks like: `inventory`, `patches.<name>.sha256`. */
const FIELD_PATH = /^[a-z][a-z0-9_]*(\.(<name>|[a-z0-9_]+))*$/;

function readRepoFile(path: string): string {
  return readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function loadSchema(): Json {
  const parsed: unknown = JSON.parse(readRepoFile(SCHEMA_FILE));
  if (!isObject(parsed)) throw new Error(`${SCHEMA_FILE} is not a JSON object`);
  return parsed;
}

function resolveRef(root: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref '${ref}': only local refs`);
  let node: unknown = root;
  for (const seg of ref.slice(2).split('/')) {
    const key = seg.replaceAll('~1', '/').replaceAll('~0', '~');
    node = isObject(node) ? node[key] : undefined;
  }
  if (!isObject(node)) throw new Error(`$ref '${ref}' does not resolve to a schema`);
  return node;
}

/**
 * Every field of the schema, by dotted path, with the descriptions that apply to it (the
 * property's own, then those of the schemas it refers to). Follows `$ref`, `properties`, maps
 * (`patternProperties`, `additionalProperties` → `<name>`), `items` (→ `path[]`) and the
 * applicators (`allOf`, `anyOf`, `oneOf`, `then`, `else`, `dependentSchemas`).
 */
function schemaFields(root: Json): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
  const visit = (node: Json, path: string, refs: ReadonlySet<string>): void => {
    const descriptions = fields.get(path);
    if (descriptions && typeof node.description === 'string') descriptions.push(node.description);
    const child = (schema: unknown, childPath: string, isField: boolean): void => {
      if (!isObject(schema)) return;
      if (isField && !fields.has(childPath)) fields.set(childPath, []);
      visit(schema, childPath, refs);
    };
    if (typeof node.$ref === 'string' && !refs.has(node.$ref)) {
      visit(resolveRef(root, node.$ref), path, new Set([...refs, node.$ref]));
    }
    for (const key of ['allOf', 'anyOf', 'oneOf']) {
      const branches = node[key];
      if (Array.isArray(branches)) for (const b of branches) child(b, path, false);
    }
    child(node.then, path, false);
    child(node.else, path, false);
    for (const map of ['properties', 'patternProperties', 'dependentSchemas']) {
      const entries = node[map];
      if (!isObject(entries)) continue;
      for (const [key, schema] of Object.entries(entries)) {
        if (map === 'properties') child(schema, join(path, key), true);
        else if (map === 'patternProperties') child(schema, join(path, MAP_KEY), true);
        else child(schema, path, false);
      }
    }
    child(node.additionalProperties, join(path, MAP_KEY), true);
    const items = node.items;
    if (Array.isArray(items)) for (const s of items) child(s, `${path}[]`, false);
    else child(items, `${path}[]`, false);
    const prefixItems = node.prefixItems;
    if (Array.isArray(prefixItems)) for (const s of prefixItems) child(s, `${path}[]`, false);
  };
  visit(root, '', new Set());
  return fields;
}

/** The default a description states: "Default: X." or "`X` (default)". */
function statedDefault(descriptions: readonly string[]): string | undefined {
  for (const d of descriptions) {
    const explicit = /Default: (.+?)\.(?=\s|$)/.exec(d)?.[1];
    if (explicit !== undefined) return explicit;
    const inline = /`([^`]+)`[^`]*\(default\)/.exec(d)?.[1];
    if (inline !== undefined) return inline;
  }
  return undefined;
}

const normalize = (s: string): string =>
  s.replaceAll('`', '').replace(/\s+/g, ' ').trim().toLowerCase();

interface DocRow {
  path: string;
  defaultCell: string;
  line: number;
}

function splitRow(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The rows of the doc's Field tables, and anything in them that is not a well-formed row. */
function docRows(markdown: string): { rows: DocRow[]; malformed: string[] } {
  const rows: DocRow[] = [];
  const malformed: string[] = [];
  let header: string[] | undefined;
  let inFence = false;
  for (const [i, text] of markdown.split('\n').entries()) {
    const line = i + 1;
    if (text.trimStart().startsWith('```')) inFence = !inFence;
    if (inFence || !text.trimStart().startsWith('|')) {
      header = undefined;
      continue;
    }
    const cells = splitRow(text);
    if (!header) {
      header = cells;
      const first = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
      if (first !== undefined && FIELD_PATH.test(first)) {
        malformed.push(`${DOC_FILE}:${line}: field row outside a Field table: ${text.trim()}`);
      }
      if (cells[0] === 'Field' && cells.join('|') !== 'Field|Type|Default|Meaning') {
        malformed.push(`${DOC_FILE}:${line}: header must be | Field | Type | Default | Meaning |`);
      }
      continue;
    }
    const path = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    if (header[0] !== 'Field') {
      // A field row that lost its table (a blank line above it makes it a header) or sits in
      // another table would escape the checks below.
      if (path !== undefined && FIELD_PATH.test(path)) {
        malformed.push(`${DOC_FILE}:${line}: field row outside a Field table: ${text.trim()}`);
      }
      continue;
    }
    if (path === undefined || cells.length !== header.length) {
      malformed.push(
        `${DOC_FILE}:${line}: expected 4 cells, the first a field path in backticks: ${text.trim()}`,
      );
      continue;
    }
    rows.push({ path, defaultCell: cells[2] ?? '', line });
  }
  return { rows, malformed };
}

describe('docs/config.md documents schemas/kpfleet.schema.json', () => {
  const fields = schemaFields(loadSchema());
  const { rows, malformed } = docRows(readRepoFile(DOC_FILE));
  const documented = new Map(rows.map((r) => [r.path, r]));

  it('finds the fields of the schema, through $ref and maps', () => {
    expect([...fields.keys()]).toEqual(
      expect.arrayContaining([
        'inventory',
        'connection.host_key_checking',
        'rollout.waves',
        'patches.<name>.sha256',
        'groups.<name>.loaded',
      ]),
    );
    // The walker must see a property added anywhere, however deep behind a $ref.
    const probed = loadSchema();
    const defs = probed.$defs;
    if (!isObject(defs)) throw new Error('no $defs');
    for (const def of ['connection', 'patch', 'group']) {
      const props = isObject(defs[def]) ? defs[def].properties : undefined;
      if (isObject(props)) props.zz_probe = { type: 'string' };
    }
    const found = [...schemaFields(probed).keys()].filter((p) => p.endsWith('zz_probe'));
    expect(found).toEqual([
      'connection.zz_probe',
      'patches.<name>.zz_probe',
      'groups.<name>.zz_probe',
    ]);
  });

  it('has only well-formed Field tables', () => {
    expect(malformed, `malformed rows in ${DOC_FILE}:\n${malformed.join('\n')}`).toEqual([]);
    const seen = new Set<string>();
    const twice = rows.filter((r) => (seen.has(r.path) ? true : (seen.add(r.path), false)));
    expect(
      twice.map((r) => `${r.path} (line ${r.line})`),
      `fields documented more than once in ${DOC_FILE}`,
    ).toEqual([]);
  });

  it('documents every field of the schema', () => {
    const missing = [...fields.keys()].filter((p) => !documented.has(p));
    expect(
      missing,
      `schema fields missing from ${DOC_FILE}; add a row "| \`path\` | type | default | meaning |" to the table of its section for each:\n  ${missing.join('\n  ')}`,
    ).toEqual([]);
  });

  it('documents no field the schema lacks', () => {
    const extra = rows.filter((r) => !fields.has(r.path)).map((r) => `${r.path} (line ${r.line})`);
    expect(
      extra,
      `${DOC_FILE} documents fields that ${SCHEMA_FILE} does not have; remove or rename them:\n  ${extra.join('\n  ')}`,
    ).toEqual([]);
  });

  it('gives the default that the schema states', () => {
    const wrong: string[] = [];
    for (const [path, descriptions] of fields) {
      const stated = statedDefault(descriptions);
      const row = documented.get(path);
      if (stated === undefined || !row) continue;
      if (!normalize(row.defaultCell).includes(normalize(stated))) {
        wrong.push(
          `${path} (line ${row.line}): schema says '${stated}', doc says '${row.defaultCell}'`,
        );
      }
    }
    expect(
      wrong,
      `Default column of ${DOC_FILE} disagrees with the schema:\n  ${wrong.join('\n  ')}`,
    ).toEqual([]);
  });
});
