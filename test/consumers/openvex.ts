/**
 * A checker of OpenVEX 0.2.0 documents, for the tests of `kpfleet status --format openvex`: the
 * rules of the OpenVEX specification (github.com/openvex/spec, OPENVEX-SPEC.md, v0.2.0) written
 * here in our own words, as a JSON schema of our own plus the checks a schema says badly. The
 * official JSON schema is not shipped with this repository; whoever has it can point the env var
 * OPENVEX_SCHEMA at the file and every document is checked against it too (docs/testing.md).
 *
 * validateOpenVex(doc) returns the problems found, each naming the rule and where; none when the
 * document is valid.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: its default export is the plugin function (or wraps it).
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

export const OPENVEX_V020_CONTEXT = 'https://openvex.dev/ns/v0.2.0';

/** The five justification labels of a `not_affected` statement (the spec's "Status Justifications"). */
export const JUSTIFICATIONS = [
  'component_not_present',
  'vulnerable_code_not_present',
  'vulnerable_code_not_in_execute_path',
  'vulnerable_code_cannot_be_controlled_by_adversary',
  'inline_mitigations_already_exist',
] as const;

export const VEX_STATUSES = ['not_affected', 'affected', 'fixed', 'under_investigation'] as const;

/**
 * The software identifier types and hash names (the spec's appendices). The CPE keys are written
 * `@cpe22`/`@cpe23` as the official JSON schema has them (the spec's table says `cpe22`/`cpe23`):
 * a document that the schema's validators refuse is refused here too.
 */
const IDENTIFIER_TYPES = ['purl', '@cpe22', '@cpe23'];
const HASH_NAMES = [
  'md5',
  'sha1',
  'sha-256',
  'sha-384',
  'sha-512',
  'sha3-224',
  'sha3-256',
  'sha3-384',
  'sha3-512',
  'blake2s-256',
  'blake2b-256',
  'blake2b-512',
];

const text = { type: 'string', minLength: 1 };
const iri = { type: 'string', format: 'uri' };
const when = { type: 'string', format: 'date-time' };
const closedMap = (keys: string[]) => ({
  type: 'object',
  minProperties: 1,
  propertyNames: { enum: keys },
  additionalProperties: text,
});

/** A software component (a product has subcomponents too): named by an IRI, identifiers, or both. */
const component = (more: Record<string, unknown> = {}) => ({
  type: 'object',
  additionalProperties: false,
  anyOf: [{ required: ['@id'] }, { required: ['identifiers'] }],
  properties: {
    '@id': iri,
    identifiers: closedMap(IDENTIFIER_TYPES),
    hashes: closedMap(HASH_NAMES),
    ...more,
  },
});

/** Our schema of the document's shape: fields, their types, the closed sets of words. */
const SHAPE = {
  $id: 'kpfleet-test:openvex-0.2.0',
  type: 'object',
  required: ['@context', '@id', 'author', 'timestamp', 'version', 'statements'],
  additionalProperties: false,
  properties: {
    '@context': { const: OPENVEX_V020_CONTEXT },
    '@id': iri,
    author: text,
    role: text,
    timestamp: when,
    last_updated: when,
    version: { type: 'integer', minimum: 1 },
    tooling: text,
    statements: { type: 'array', minItems: 1, uniqueItems: true, items: { $ref: '#/$defs/st' } },
  },
  $defs: {
    component: component(),
    product: component({
      subcomponents: { type: 'array', uniqueItems: true, items: { $ref: '#/$defs/component' } },
    }),
    st: {
      type: 'object',
      additionalProperties: false,
      required: ['vulnerability', 'status', 'products'],
      properties: {
        '@id': iri,
        version: { type: 'integer', minimum: 1 },
        vulnerability: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            '@id': iri,
            name: text,
            description: { type: 'string' },
            aliases: { type: 'array', items: text },
          },
        },
        timestamp: when,
        last_updated: when,
        products: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { $ref: '#/$defs/product' },
        },
        status: { enum: [...VEX_STATUSES] },
        supplier: text,
        status_notes: { type: 'string' },
        justification: { enum: [...JUSTIFICATIONS] },
        impact_statement: text,
        action_statement: text,
        action_statement_timestamp: when,
      },
    },
  },
};

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
  addFormats(ajv);
  return ajv;
}

let shape: ValidateFunction | undefined;
const official = new Map<string, ValidateFunction>();

/** The official schema named by OPENVEX_SCHEMA, compiled once (`iri` read as `uri`). */
function officialSchema(file: string): ValidateFunction {
  let v = official.get(file);
  if (!v) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    ajv.addFormat('iri', ajv.formats.uri ?? true);
    v = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
    official.set(file, v);
  }
  return v;
}

const described = (prefix: string, errors: ErrorObject[] | null | undefined): string[] =>
  (errors ?? []).map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? ` (unknown key "${(e.params as { additionalProperty: string }).additionalProperty}")`
        : e.keyword === 'enum'
          ? ` (${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)})`
          : '';
    return `${prefix}${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
  });

/** The rules that tie one field to another: what each status needs, and the timestamp. */
function statementRules(doc: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const statements = Array.isArray(doc.statements) ? (doc.statements as unknown[]) : [];
  statements.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) return;
    const s = raw as Record<string, unknown>;
    const at = `/statements/${String(i)}`;
    // "MUST include either a status justification or an impact_statement": one of them, as the
    // official schema reads it (the spec's prose example carries both; validators refuse that)
    if (
      s.status === 'not_affected' &&
      (s.justification === undefined) === (s.impact_statement === undefined)
    )
      problems.push(
        `${at} not_affected needs exactly one of a justification or an impact_statement`,
      );
    if (s.status === 'affected' && s.action_statement === undefined)
      problems.push(`${at} affected needs an action_statement`);
    // a statement without a timestamp inherits the document's (required by the shape)
    const last = s.last_updated;
    if (
      typeof s.timestamp === 'string' &&
      typeof last === 'string' &&
      Date.parse(last) < Date.parse(s.timestamp)
    )
      problems.push(`${at} last_updated is before its timestamp`);
  });
  if (
    typeof doc.timestamp === 'string' &&
    typeof doc.last_updated === 'string' &&
    Date.parse(doc.last_updated) < Date.parse(doc.timestamp)
  )
    problems.push('/ last_updated is before the document timestamp');
  return problems;
}

/** The problems of `doc` as an OpenVEX 0.2.0 document; empty when it is valid. */
export function validateOpenVex(doc: unknown): string[] {
  shape ??= newAjv().compile(SHAPE);
  const problems = shape(doc) ? [] : described('', shape.errors);
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc))
    problems.push(...statementRules(doc as Record<string, unknown>));
  const file = process.env.OPENVEX_SCHEMA;
  if (file !== undefined && file !== '') {
    const v = officialSchema(file);
    if (!v(doc)) problems.push(...described(`official schema (${file}): `, v.errors));
  }
  return problems;
}
