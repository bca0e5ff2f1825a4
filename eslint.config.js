// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Folder boundaries from docs/ARCHITECTURE.md ("Import rules"), enforced here. */
const noSsh2 = { name: 'ssh2', message: 'Only src/transport/ssh may import ssh2.' };
const noListr2 = { name: 'listr2', message: 'Only src/report may import listr2.' };
const noIo = {
  group: ['node:*', 'fs', 'fs/*', 'child_process', 'net', 'os', 'path', 'crypto'],
  message: 'The planning core is pure: no I/O. Do it in a loader or in cli/.',
};

/**
 * The folders of src/ each folder may import: a one-way graph (test/unit/layers.test.ts checks
 * there is no cycle). Files directly in src/ (errors, diagnostics, host-paths, config-model,
 * connection) are shared by all and import no folder; cli may import everything.
 */
const MAY_IMPORT = {
  util: [],
  inventory: ['util'],
  desired: ['util', 'inventory'],
  config: ['util', 'inventory', 'desired'],
  transport: ['util'],
  facts: ['util', 'transport'],
  plan: ['util', 'config', 'desired', 'facts'],
  apply: ['util', 'facts', 'plan', 'transport'],
  status: ['util', 'config', 'desired', 'facts', 'plan'],
  report: ['util', 'desired', 'facts', 'plan', 'apply', 'status'],
  workflow: ['util', 'inventory', 'config', 'desired', 'facts', 'plan', 'status', 'transport'],
};
const FOLDERS = [...Object.keys(MAY_IMPORT), 'cli'];

/** An import of `folder` from a file one, two or three levels down in src/. */
const into = (folders) => folders.flatMap((f) => [`../${f}/*`, `../../${f}/*`, `../../../${f}/*`]);
const others = (folder, extra = []) => ({
  group: into([
    ...FOLDERS.filter((f) => f !== folder && !MAY_IMPORT[folder].includes(f)),
    ...extra,
  ]),
  message: `${folder}/ may import only ${[...MAY_IMPORT[folder], 'the files in src/'].join(', ')} (docs/ARCHITECTURE.md, "Import rules").`,
});
const onlyTransportInterface = {
  group: into(['transport/ssh']),
  message: 'Only cli/ picks the SSH transport; the stages use the Transport interface.',
};

/** One complete no-restricted-imports block per folder (a file gets the last block that matches). */
const layer = (files, paths, patterns) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { paths, patterns }] },
});
const layers = [
  layer(
    ['src/*.ts'],
    [noSsh2, noListr2],
    [
      {
        group: ['./*/*'],
        message: 'The files in src/ are shared by every folder: they import none.',
      },
    ],
  ),
  layer(['src/util/**/*.ts'], [noSsh2, noListr2], [others('util')]),
  layer(['src/inventory/**/*.ts'], [noSsh2, noListr2], [others('inventory')]),
  layer(['src/config/**/*.ts'], [noSsh2, noListr2], [others('config')]),
  layer(['src/desired/**/*.ts'], [noSsh2, noListr2], [noIo, others('desired')]),
  layer(['src/plan/**/*.ts'], [noSsh2, noListr2], [noIo, others('plan')]),
  layer(['src/status/**/*.ts'], [noSsh2, noListr2], [noIo, others('status')]),
  layer(['src/facts/**/*.ts'], [noSsh2, noListr2], [others('facts'), onlyTransportInterface]),
  layer(['src/facts/parse/**/*.ts'], [noSsh2, noListr2], [noIo, others('facts', ['transport'])]),
  layer(['src/transport/**/*.ts'], [noSsh2, noListr2], [others('transport')]),
  layer(['src/transport/ssh/**/*.ts'], [noListr2], [others('transport')]),
  layer(['src/apply/**/*.ts'], [noSsh2, noListr2], [others('apply'), onlyTransportInterface]),
  layer(['src/report/**/*.ts'], [noSsh2], [others('report')]),
  layer(['src/workflow/**/*.ts'], [noSsh2, noListr2], [others('workflow'), onlyTransportInterface]),
  layer(['src/cli/**/*.ts'], [noSsh2, noListr2], []),
];

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'test/.tmp/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
      ],
    },
  },
  {
    // f(...list) passes each element as an argument: past ~100,000 it throws a RangeError, and
    // hosts and files decide how long lists are (issue 14 §3).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
        {
          selector:
            'CallExpression:not([callee.type="Super"]) > SpreadElement, NewExpression > SpreadElement',
          message:
            'No spread into a call (RangeError past ~100,000 elements): use pushAll or maxOf from src/util/arrays.ts, or a loop.',
        },
      ],
    },
  },
  // A file gets the last matching block's no-restricted-imports, so each block is complete.
  ...layers,
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Only src/cli sets the exit code.' },
        { object: 'process', property: 'exitCode', message: 'Only src/cli sets the exit code.' },
      ],
    },
  },
  {
    // Tool configuration files are loaded through their default export.
    files: ['eslint.config.js', 'vitest.config.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // the installed command is CommonJS (bin/package.json): no ESM loader at start-up
    files: ['bin/**/*.js', 'bin/**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
