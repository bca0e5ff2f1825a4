/**
 * The JSON Schema validators of schemas/*.json (kpfleet.yml, saved plans, apply reports), made
 * in one place. The schemas are the source of truth; the built CLI does not compile them: the
 * build writes ajv's standalone code for each (`standaloneValidator`, by
 * scripts/build-validators.ts, to dist/validators/NAME.cjs) and the CLI loads that, so start-up
 * loads no schema compiler. Run from the TypeScript sources (tsx, the tests), each schema is
 * compiled on first use, with the very options the build uses.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ajv2020, ErrorObject, Options, ValidateFunction } from 'ajv/dist/2020.js';

export type { ErrorObject, ValidateFunction };

export type SchemaName = 'kpfleet' | 'plan' | 'report';
export const SCHEMA_NAMES: readonly SchemaName[] = ['kpfleet', 'plan', 'report'];

interface SchemaSetup {
  options: Options;
  /** Schemas its `$ref`s name by `$id`. */
  refs: readonly SchemaName[];
  /** Keywords that are annotations, not checks. */
  vocabulary: readonly string[];
}

const SETUP: Record<SchemaName, SchemaSetup> = {
  // every error at once, each with the value and the schema that refused it: config/schema.ts
  // makes its messages from them; `x-message` carries a pattern's user-facing words
  kpfleet: {
    options: { allErrors: true, verbose: true, strict: true, allowUnionTypes: true },
    refs: [],
    vocabulary: ['x-message'],
  },
  plan: { options: { allErrors: true, strict: false }, refs: [], vocabulary: [] },
  report: { options: { allErrors: true, strict: false }, refs: ['plan'], vocabulary: [] },
};

// ajv is CommonJS: required only where a schema is compiled, never by the built CLI
const require = createRequire(import.meta.url);
const FROM_SOURCES = import.meta.url.endsWith('.ts');

function readSchema(name: SchemaName): object {
  const file = new URL(`../schemas/${name}.schema.json`, import.meta.url);
  return JSON.parse(readFileSync(file, 'utf8')) as object;
}

/** The schema compiled now, keeping its code (`code.source`) for the standalone module. */
function compileSchema(name: SchemaName): { ajv: Ajv2020; validate: ValidateFunction } {
  const { Ajv2020: AjvClass } = require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 };
  const { options, refs, vocabulary } = SETUP[name];
  const ajv = new AjvClass({ ...options, code: { source: true } });
  ajv.addVocabulary([...vocabulary]);
  for (const ref of refs) ajv.addSchema(readSchema(ref));
  return { ajv, validate: ajv.compile(readSchema(name)) };
}

/**
 * The module the build writes for a schema (dist/validators/NAME.cjs): ajv's standalone code,
 * CommonJS (it `require`s ajv's small runtime helpers), exporting the validate function.
 */
export function standaloneValidator(name: SchemaName): string {
  const { default: generate } = require('ajv/dist/standalone/index.js') as {
    default: (ajv: Ajv2020, validate: ValidateFunction) => string;
  };
  const { ajv, validate } = compileSchema(name);
  return (
    `// Generated from schemas/${name}.schema.json by scripts/build-validators.ts: do not edit.\n` +
    generate(ajv, validate) +
    '\n'
  );
}

const loaded = new Map<SchemaName, ValidateFunction>();

/**
 * In the bundle (dist/kpfleet.cjs), the build's validators it carries, each evaluated on first
 * use: scripts/build-bundle.ts injects them, so that V8's code cache holds their compiled code
 * (issue 20, "a fast start"). Elsewhere (tsc's layout) there is no such binding.
 */
declare const KPFLEET_BUNDLED_VALIDATORS: Record<SchemaName, () => ValidateFunction> | undefined;

function generated(name: SchemaName): ValidateFunction {
  if (typeof KPFLEET_BUNDLED_VALIDATORS !== 'undefined') return KPFLEET_BUNDLED_VALIDATORS[name]();
  try {
    return require(`./validators/${name}.cjs`) as ValidateFunction;
  } catch (err) {
    // a build by tsc alone: say what is missing, not only that a module was not found
    throw new Error(
      `the validator of schemas/${name}.schema.json is not built (npm run build writes it): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** The validator of schemas/NAME.schema.json: the build's code, or compiled from the sources. */
export function schemaValidator(name: SchemaName): ValidateFunction {
  let validate = loaded.get(name);
  if (!validate) {
    validate = FROM_SOURCES ? compileSchema(name).validate : generated(name);
    loaded.set(name, validate);
  }
  return validate;
}

/** The errors in one line, as ajv's `errorsText` words them (`data/path message, …`). */
export function errorsText(errors: readonly ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'No errors';
  return errors.map((e) => `data${e.instancePath} ${e.message ?? ''}`).join(', ');
}
