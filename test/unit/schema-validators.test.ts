/**
 * The build's validators agree with the schemas: the code the build writes
 * (`standaloneValidator`, ajv standalone, dist/validators/NAME.cjs), loaded as the built CLI
 * loads it, and the schema compiled from schemas/NAME.schema.json (as a run from the sources
 * does) give the same verdict and the same errors, word for word, on a corpus of valid and
 * invalid documents: the example project, the invalid-config fixtures, and a valid document of
 * each kind with every value in turn replaced by one of another type, removed, or given an
 * unknown key. Loading the generated code loads nothing of ajv but its runtime helpers.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { planJson } from '../../src/report/plan.ts';
import { applyReportJson, buildApplyReport } from '../../src/report/apply-report.ts';
import type { SchemaName, ValidateFunction } from '../../src/schema-validators.ts';
import {
  errorsText,
  SCHEMA_NAMES,
  schemaValidator,
  standaloneValidator,
} from '../../src/schema-validators.ts';
import { reportInput, scriptedRun } from './report/apply-fixtures.ts';
import { fleetPlan } from './report/plan-fixtures.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const require = createRequire(import.meta.url);
// inside the repository, so that the generated code's `require('ajv/dist/runtime/…')` resolves
mkdirSync(join(ROOT, 'test/.tmp'), { recursive: true });
const dir = mkdtempSync(join(ROOT, 'test/.tmp/validators-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The generated module, written and required as the built CLI requires it. */
function generated(name: SchemaName): ValidateFunction {
  const file = join(dir, `${name}.cjs`);
  writeFileSync(file, standaloneValidator(name));
  return require(file) as ValidateFunction;
}

type Key = string | number;
type Node = Record<Key, unknown>;

function pathsOf(node: unknown, at: Key[] = []): Key[][] {
  const out: Key[][] = [at];
  if (node !== null && typeof node === 'object')
    for (const [k, v] of Object.entries(node))
      for (const p of pathsOf(v, [...at, Array.isArray(node) ? Number(k) : k])) out.push(p);
  return out;
}

function changed(doc: unknown, path: readonly Key[], change: (parent: Node, key: Key) => void) {
  const copy = structuredClone(doc) as Node;
  let parent = copy;
  for (const k of path.slice(0, -1)) parent = parent[k] as Node;
  change(parent, path.at(-1) ?? '');
  return copy;
}

const ODD: unknown[] = [null, -1, 1.5, '', 'not valid ~ at all', true, [], { k: 1 }];

/**
 * The document, then each value replaced, each value removed, each mapping given a new key: for
 * every value of a small document, for 200 spread over a large one.
 */
function broken(doc: unknown): unknown[] {
  const out: unknown[] = [doc];
  const all = pathsOf(doc);
  const every = Math.ceil(all.length / 200);
  for (const path of all.filter((_, i) => i % every === 0)) {
    const node = path.reduce<unknown>((n, k) => (n as Node)[k], doc);
    if (node !== null && typeof node === 'object' && !Array.isArray(node))
      out.push(changed(doc, [...path, 'no_such_key'], (p, k) => (p[k] = 1)));
    if (path.length === 0) continue;
    for (const v of ODD) out.push(changed(doc, path, (p, k) => (p[k] = structuredClone(v))));
    out.push(
      changed(doc, path, (p, k) => {
        if (Array.isArray(p)) p.splice(Number(k), 1);
        else Reflect.deleteProperty(p, k);
      }),
    );
  }
  return out;
}

function yamlFiles(folder: string): unknown[] {
  return readdirSync(join(ROOT, folder))
    .filter((f) => f.endsWith('.yml'))
    .flatMap((f) => {
      const doc = parseDocument(readFileSync(join(ROOT, folder, f), 'utf8'));
      return doc.errors.length ? [] : [doc.toJS() as unknown];
    });
}

const example: unknown = parseDocument(
  readFileSync(join(ROOT, 'examples/kpfleet.yml'), 'utf8'),
).toJS();
const report = buildApplyReport(reportInput(scriptedRun().results));

const CORPUS: Record<SchemaName, () => unknown[]> = {
  kpfleet: () => [
    ...broken(example),
    ...yamlFiles('test/fixtures/invalid'),
    ...yamlFiles('test/fixtures/projects/secrets'),
  ],
  plan: () => broken(JSON.parse(planJson(fleetPlan()))),
  report: () => broken(JSON.parse(applyReportJson(report))),
};

describe('the generated validators', () => {
  // a few thousand documents each: more than the default 5 s on a busy machine
  it.each(SCHEMA_NAMES)(
    '%s: same verdict and errors as the schema compiled',
    { timeout: 60_000 },
    (name) => {
      const built = generated(name);
      const compiled = schemaValidator(name);
      expect(built).not.toBe(compiled);
      const corpus = CORPUS[name]();
      let valid = 0;
      let invalid = 0;
      for (const doc of corpus) {
        const ok = compiled(doc);
        const errors = JSON.stringify(compiled.errors);
        expect(built(doc)).toBe(ok);
        // with the values and schemas `verbose` adds for kpfleet.yml's messages
        expect(JSON.stringify(built.errors)).toBe(errors);
        if (ok) valid++;
        else invalid++;
      }
      // the corpus is worth something: valid documents, and many invalid ones
      expect(valid).toBeGreaterThan(0);
      expect(invalid).toBeGreaterThan(100);
    },
  );

  it('kpfleet.yml errors carry the schema and value the messages are made from', () => {
    const validate = generated('kpfleet');
    const doc = structuredClone(example) as { rollout: Record<string, unknown> };
    doc.rollout.forks = 'many';
    expect(validate(doc)).toBe(false);
    const error = validate.errors?.find((e) => e.instancePath === '/rollout/forks');
    expect(error?.data).toBe('many');
    expect(error?.parentSchema).toMatchObject({ type: 'integer' });
  });

  it.each(SCHEMA_NAMES)('%s: requires only ajv runtime helpers, never the compiler', (name) => {
    const code = standaloneValidator(name);
    const required = [...code.matchAll(/require\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]);
    for (const r of required) expect(r).toMatch(/^ajv\/dist\/runtime\/[a-z0-9]+$/);
    expect(code).not.toMatch(/\bimport\b/);
  });

  it('words the errors as ajv does', () => {
    const validate = generated('plan');
    expect(validate({ format: 'kpfleet-plan' })).toBe(false);
    expect(errorsText(validate.errors)).toMatch(/^data must have required property '[a-z]+'/);
    expect(errorsText([])).toBe('No errors');
  });
});
