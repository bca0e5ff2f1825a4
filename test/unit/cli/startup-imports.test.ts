/**
 * What a command loads before it does anything (issue 20, "a fast start"): the modules its static
 * imports reach from the CLI's entry (src/cli/main.ts) and the command's module. Every command
 * starts with its own code, commander and yaml only; ssh2 (the SSH transport), listr2 (apply's
 * live view), ajv's schema compiler (the built CLI loads the build's validators,
 * src/schema-validators.ts) and the renderers of the other output formats come by a dynamic
 * `import()` where a run needs them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Specifiers of the statements that load a module when this one loads (not `import type`). */
function staticImports(text: string): string[] {
  const re = /^\s*(?:import|export)\s+(?!type\s)(?:[^;'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
  return [...text.matchAll(re)].map((m) => m[1] ?? '');
}

/** The repository files and the packages reached from `entries` by static imports. */
function reached(entries: readonly string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(readFileSync(join(ROOT, file), 'utf8'))) {
      if (spec.startsWith('.')) visit(normalize(join(dirname(file), spec)));
      else if (!spec.startsWith('node:')) packages.add(spec);
    }
  };
  entries.forEach(visit);
  return { files, packages };
}

const COMMANDS = readdirSync(join(ROOT, 'src/cli/commands'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => `src/cli/commands/${f}`);

/** Loaded only where a run needs them. */
const LATE = [
  /^src\/transport\/ssh\//,
  /^src\/report\/apply-listr/,
  /^src\/report\/status-(html|csv|openvex|metrics)/,
];

describe('start-up imports', () => {
  it('reads the statements that load a module, and only those', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from './b.ts';",
      "import {\n  c,\n  type C,\n} from 'c';",
      "export { d } from './d.ts';",
      "export type { E } from './e.ts';",
      "import 'f';",
      "const g = await import('./g.ts');",
    ].join('\n');
    expect(staticImports(text)).toEqual(['./a.ts', 'c', './d.ts', 'f']);
  });

  it('finds the commands', () => {
    expect(COMMANDS).toContain('src/cli/commands/validate.ts');
    expect(COMMANDS).toContain('src/cli/commands/apply.ts');
  });

  it.each(COMMANDS)('%s loads commander and yaml at most, nothing heavier', (command) => {
    const { files, packages } = reached(['src/cli/main.ts', command]);
    expect(
      [...packages].filter((p) => !['@commander-js/extra-typings', 'yaml'].includes(p)),
    ).toEqual([]);
    expect([...files].filter((f) => LATE.some((re) => re.test(f)))).toEqual([]);
  });

  it('validate reads the project with yaml and the parts of kpfleet that check it', () => {
    const { files, packages } = reached(['src/cli/main.ts', 'src/cli/commands/validate.ts']);
    expect([...packages].sort()).toEqual(['@commander-js/extra-typings', 'yaml']);
    expect(files).toContain('src/schema-validators.ts');
  });

  it('sees what a command would load (the test can fail)', () => {
    const { files, packages } = reached(['src/transport/ssh/connect.ts']);
    expect(packages).toContain('ssh2');
    expect([...files].some((f) => LATE[0]?.test(f))).toBe(true);
  });
});
