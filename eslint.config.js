// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Folder boundaries from docs/ARCHITECTURE.md, enforced here. */
const pureCore = {
  paths: [
    { name: 'ssh2', message: 'Only src/transport/ssh may import ssh2.' },
    { name: 'listr2', message: 'Only src/report may import listr2.' },
  ],
  patterns: [
    {
      group: ['node:*', 'fs', 'fs/*', 'child_process', 'net', 'os', 'path'],
      message: 'The planning core is pure: no I/O. Do it in a loader or in cli/.',
    },
  ],
};

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
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/transport/ssh/**'],
    rules: { 'no-restricted-imports': ['error', { paths: pureCore.paths }] },
  },
  {
    files: ['src/plan/**/*.ts', 'src/desired/**/*.ts', 'src/facts/parse/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', pureCore] },
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
