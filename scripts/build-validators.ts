/**
 * The build's second step (`npm run build`, after tsc): writes each JSON Schema's validator as
 * ajv standalone code to dist/validators/NAME.cjs, which the built CLI loads instead of compiling
 * schemas/NAME.schema.json at start-up (src/schema-validators.ts). The schemas stay the source of
 * truth; test/unit/schema-validators.test.ts holds the generated code to them.
 *   tsx scripts/build-validators.ts [OUT_DIR]   (default dist/validators)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SCHEMA_NAMES, standaloneValidator } from '../src/schema-validators.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const out = resolve(process.argv[2] ?? join(ROOT, 'dist/validators'));
mkdirSync(out, { recursive: true });
for (const name of SCHEMA_NAMES) writeFileSync(join(out, `${name}.cjs`), standaloneValidator(name));
