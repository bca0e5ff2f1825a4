/**
 * JSON Schema validation of kpfleet.yml (schemas/kpfleet.schema.json, 2020-12; the validator is
 * the build's, src/schema-validators.ts), with every ajv error turned into a diagnostic at the
 * right file:line:col.
 */
import type { Diagnostic } from '../diagnostics.ts';
import type { ErrorObject } from '../schema-validators.ts';
import { schemaValidator } from '../schema-validators.ts';
import { showValue as typeName } from '../util/show.ts';
import { didYouMean } from '../util/suggest.ts';
import { offsetOf } from './yaml-doc.ts';
import type { JsonPath, YamlFile } from './yaml-doc.ts';

type SchemaObject = Record<string, unknown>;

export function validateSchema(file: YamlFile): Diagnostic[] {
  const validate = schemaValidator('kpfleet');
  if (validate(file.value)) return [];
  return mapErrors(file, validate.errors ?? []);
}

function pathOf(instancePath: string): string[] {
  if (instancePath === '') return [];
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Human words for a JSON path: `rollout.forks`, `patches.cve-1.module`, `groups.web.loaded[2]`. */
export function describePath(path: JsonPath, root?: unknown): string {
  let out = '';
  let node = root;
  for (const seg of path) {
    const index = root === undefined ? typeof seg === 'number' : Array.isArray(node);
    out += index ? `[${seg}]` : out ? `.${seg}` : String(seg);
    node =
      node !== null && typeof node === 'object'
        ? (node as Record<string, unknown>)[seg]
        : undefined;
  }
  return out || 'the top level';
}

function expectedTypes(schema: unknown): string {
  const words: Record<string, string> = {
    string: 'a string',
    integer: 'an integer',
    number: 'a number',
    boolean: 'true or false',
    array: 'a list',
    object: 'a mapping',
    null: 'null',
  };
  const t = (schema as { type?: string | string[] } | undefined)?.type;
  const list = Array.isArray(t) ? t : t ? [t] : [];
  return list.map((x) => words[x] ?? x).join(' or ');
}

function mapErrors(file: YamlFile, errors: ErrorObject[]): Diagnostic[] {
  const { doc, source } = file;
  const out: { offset: number; d: Diagnostic }[] = [];
  // A failed oneOf produces one error per branch, then its own: report it once, with the
  // parent schema's words.
  // When the value has the type of exactly one branch (a list given where a string or a list of
  // strings is allowed), that branch's errors are the useful ones; otherwise say what is allowed.
  const suppressed: { instance: string; schema: string }[] = [];
  const explained = new Set<ErrorObject>();
  for (const e of errors.filter((x) => x.keyword === 'oneOf')) {
    const branches =
      ((e.parentSchema as SchemaObject | undefined)?.oneOf as SchemaObject[] | undefined) ?? [];
    const matching = branches.flatMap((b, i) => (typeMatches(b, e.data) ? [i] : []));
    if (matching.length === 1) {
      const keep = `${e.schemaPath}/${String(matching[0])}/`;
      for (const [i] of branches.entries()) {
        const prefix = `${e.schemaPath}/${i}/`;
        if (prefix !== keep) suppressed.push({ instance: e.instancePath, schema: prefix });
      }
      explained.add(e);
    } else {
      suppressed.push({ instance: e.instancePath, schema: e.schemaPath + '/' });
    }
  }
  const seen = new Set<string>();
  for (const e of errors) {
    if (explained.has(e)) continue;
    const under = (s: { instance: string; schema: string }): boolean =>
      (e.instancePath === s.instance || e.instancePath.startsWith(s.instance + '/')) &&
      e.schemaPath.startsWith(s.schema);
    if (suppressed.some(under)) continue;
    const path = pathOf(e.instancePath);
    const where = describePath(path, file.value);
    const parent = e.parentSchema as SchemaObject | undefined;
    let code = `schema/${e.keyword}`;
    let message: string;
    let hint: string | undefined;
    let at: 'key' | 'value' = 'value';
    let locPath: JsonPath = path;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        const allowed = Object.keys((parent?.properties as SchemaObject | undefined) ?? {});
        code = 'schema/unknown-key';
        message = path.length
          ? `unknown key '${key}' in ${where}`
          : `unknown top-level key '${key}'`;
        hint =
          didYouMean(key, allowed) ??
          (allowed.length ? `allowed keys: ${allowed.join(', ')}` : undefined);
        locPath = [...path, key];
        at = 'key';
        break;
      }
      case 'required': {
        const key = (e.params as { missingProperty: string }).missingProperty;
        code = 'schema/missing-key';
        message = path.length
          ? `${where} is missing the required key '${key}'`
          : `missing the required key '${key}'`;
        at = 'key';
        break;
      }
      case 'type':
        message = `${where} must be ${expectedTypes(parent)}, not ${typeName(e.data)}`;
        break;
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
        message = `${where} must be one of ${allowed.join(', ')}, not ${typeName(e.data)}`;
        hint = didYouMean(String(e.data), allowed);
        break;
      }
      case 'const':
        message = `${where} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
        break;
      case 'pattern':
      case 'oneOf': {
        const custom = parent?.['x-message'];
        message =
          typeof custom === 'string'
            ? `${where} ${custom}, not ${typeName(e.data)}`
            : `${where} is not valid: ${e.message ?? ''}`;
        if (e.keyword === 'oneOf')
          message = `${where} must be ${oneOfWords(parent)}, not ${typeName(e.data)}`;
        code = `schema/${e.keyword === 'oneOf' ? 'type' : 'format'}`;
        break;
      }
      case 'propertyNames': {
        // The name itself is wrong; the pattern error that follows says how (reported there).
        continue;
      }
      case 'minimum':
      case 'maximum': {
        const range = rangeWords(parent);
        message = `${where} must be ${range}, not ${typeName(e.data)}`;
        code = 'schema/range';
        break;
      }
      case 'minItems':
        message = `${where} must not be empty`;
        break;
      case 'minLength':
        message = `${where} must not be empty`;
        break;
      default:
        message = `${where} ${e.message ?? 'is invalid'}`;
    }
    // propertyNames: ajv reports the bad name in params.propertyName with an empty-ish path.
    const propertyName = (e as { propertyName?: string }).propertyName;
    if (propertyName !== undefined) {
      locPath = [...path, propertyName];
      at = 'key';
      const custom = parent?.['x-message'];
      message = `'${propertyName}' in ${where} is not a valid name: it ${typeof custom === 'string' ? custom : (e.message ?? '')}`;
      code = 'schema/name';
    }
    const offset = offsetOf(doc, locPath, at);
    const k = `${offset}|${message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ offset, d: source.diagnostic('error', code, message, offset, hint) });
  }
  return out.sort((a, b) => a.offset - b.offset).map((x) => x.d);
}

function typeMatches(schema: SchemaObject, data: unknown): boolean {
  if ('const' in schema) return schema.const === data;
  const t = schema.type;
  const types = Array.isArray(t) ? (t as string[]) : typeof t === 'string' ? [t] : [];
  return types.some((x) =>
    x === 'array'
      ? Array.isArray(data)
      : x === 'object'
        ? data !== null && typeof data === 'object' && !Array.isArray(data)
        : x === 'integer'
          ? Number.isInteger(data)
          : x === 'null'
            ? data === null
            : typeof data === x,
  );
}

function oneOfWords(schema: SchemaObject | undefined): string {
  const branches = (schema?.oneOf as SchemaObject[] | undefined) ?? [];
  return branches
    .map((b) =>
      'const' in b
        ? JSON.stringify(b.const)
        : b.type === 'array'
          ? `a list of ${expectedTypes(b.items).replace(/^an? /, '')}s`
          : expectedTypes(b),
    )
    .join(' or ');
}

function rangeWords(schema: SchemaObject | undefined): string {
  const min = schema?.minimum as number | undefined;
  const max = schema?.maximum as number | undefined;
  if (min !== undefined && max !== undefined) return `between ${min} and ${max}`;
  if (min !== undefined) return `at least ${min}`;
  return `at most ${String(max)}`;
}
