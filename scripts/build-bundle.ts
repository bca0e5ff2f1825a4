/**
 * The build's third step (`npm run build`, after tsc and the validators): the whole CLI in one
 * CommonJS file, dist/kpfleet.cjs, which bin/kpfleet.js runs (issue 20, "a fast start": one file
 * to read and compile instead of the ESM loader resolving ~150 modules). ssh2 and listr2 stay
 * outside (ssh2 is patched in node_modules at install, patches/), and what the sources load by a
 * dynamic `import()` is still evaluated only when a run reaches it. Each module's
 * `import.meta.url` is the URL it has in tsc's layout (dist/cli/version.js, …), so the files it
 * names relative to itself (package.json, dist/validators/) are found from the bundle as well.
 *   tsx scripts/build-bundle.ts [OUT_FILE]   (default dist/kpfleet.cjs)
 */
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';
import { SCHEMA_NAMES } from '../src/schema-validators.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const out = resolve(process.argv[2] ?? join(ROOT, 'dist/kpfleet.cjs'));
const SRC = join(ROOT, 'src');

/**
 * Node's modules that some command needs but most runs never touch (commander's executable
 * subcommands, the vault password script, git, the prompt, apply's ids): each is required on the
 * first call of one of its functions, not when the bundle starts. The stand-in exports the
 * module's functions only: importing anything else from it fails the build, it never runs wrong.
 */
const LAZY_BUILTINS = ['child_process', 'crypto', 'os', 'readline', 'vm'];

const require = createRequire(import.meta.url);
const lazyBuiltin = (name: string): string => {
  const mod = require(name) as Record<string, unknown>;
  const functions = Object.keys(mod).filter(
    (key) => typeof mod[key] === 'function' && /^[A-Za-z_$][\w$]*$/.test(key),
  );
  return [
    `let loaded;`,
    `const load = () => (loaded ??= require(${JSON.stringify(name)}));`,
    ...functions.map(
      (f) =>
        `export function ${f}(...args) { return new.target ? new (load().${f})(...args) : load().${f}(...args); }`,
    ),
  ].join('\n');
};

/** The URL the module at `file` (under src/) has once tsc wrote it to dist/, from the bundle. */
const distUrlOf = (file: string): string => {
  const fromBundle = relative(dirname(out), join(ROOT, 'dist', relative(SRC, file)));
  return `new URL(${JSON.stringify(fromBundle.replace(/\.ts$/, '.js'))}, __kpfleetBundleUrl).href`;
};

/**
 * The schema validators the build wrote (dist/validators/NAME.cjs, the build's second step),
 * carried by the bundle: each module is evaluated on its first use (src/schema-validators.ts),
 * and its compiled code is in the code cache instead of compiled from its own file at each run.
 */
const VALIDATORS = 'kpfleet:validators';
const validatorsModule = (): string =>
  [
    'export const KPFLEET_BUNDLED_VALIDATORS = {',
    ...SCHEMA_NAMES.map((name) => `  ${name}: () => require(${JSON.stringify(`./${name}.cjs`)}),`),
    '};',
  ].join('\n');

// a code cache of the previous bundle would be refused anyway (bin/load-cli.cjs): start afresh
rmSync(`${out}.cache`, { force: true });
await build({
  entryPoints: [join(SRC, 'cli/main.ts')],
  outfile: out,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // less text for V8 to read at each start; names stay, for the stack trace of an internal error
  minifyWhitespace: true,
  minifySyntax: true,
  // `import('x')` becomes a `require` run where the import was: no ESM loader at all
  supported: { 'dynamic-import': false },
  external: ['ssh2', 'listr2'],
  banner: { js: "var __kpfleetBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  inject: [VALIDATORS],
  plugins: [
    {
      name: 'validators',
      setup(b) {
        b.onResolve({ filter: new RegExp(`^${VALIDATORS}$`) }, ({ path }) => ({
          path,
          namespace: 'validators',
        }));
        b.onLoad({ filter: /.*/, namespace: 'validators' }, () => ({
          contents: validatorsModule(),
          resolveDir: join(ROOT, 'dist/validators'),
          loader: 'js',
        }));
      },
    },
    {
      name: 'lazy-builtins',
      setup(b) {
        const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
        b.onResolve({ filter }, ({ path, namespace }) =>
          // the stand-in's own require is the module itself
          namespace === 'lazy'
            ? { path, external: true }
            : { path: path.replace(/^node:/, ''), namespace: 'lazy' },
        );
        b.onLoad({ filter: /.*/, namespace: 'lazy' }, ({ path }) => ({
          contents: lazyBuiltin(path),
          loader: 'js',
        }));
      },
    },
    {
      name: 'import-meta-url',
      setup(b) {
        b.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
          const text = await readFile(path, 'utf8');
          if (!path.startsWith(SRC + '/') || !text.includes('import.meta.url')) return undefined;
          return { contents: text.replaceAll('import.meta.url', distUrlOf(path)), loader: 'ts' };
        });
      },
    },
  ],
});
