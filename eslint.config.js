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
const upstream = (folders, why) => ({
  group: folders.flatMap((f) => [`../${f}/*`, `../../${f}/*`]),
  message: why,
});

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
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [noSsh2, noListr2] }] },
  },
  {
    files: ['src/report/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [noSsh2] }] },
  },
  {
    files: ['src/transport/ssh/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [noListr2] }] },
  },
  {
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noSsh2, noListr2],
          patterns: [
            upstream(
              ['transport', 'apply', 'report', 'cli'],
              'config reads files; it does not reach hosts or print.',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/inventory/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noSsh2, noListr2],
          patterns: [
            upstream(
              ['config', 'desired', 'transport', 'apply', 'report', 'cli'],
              'inventory is read before anything else: it depends on nothing downstream.',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/desired/**/*.ts', 'src/plan/**/*.ts', 'src/facts/parse/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noSsh2, noListr2],
          patterns: [
            noIo,
            upstream(
              ['transport', 'apply', 'report', 'cli'],
              'the planning core is pure data in, data out.',
            ),
          ],
        },
      ],
    },
  },
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
  prettier,
);
