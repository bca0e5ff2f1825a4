/**
 * Layers as drawn (docs/ARCHITECTURE.md, "Import rules"): no import cycle between the folders of
 * src/ (each top-level folder is one node, each file directly in src/ one of its own), and
 * nothing outside test/ imports test/ (the simulated fleet that bench/ and the demo use lives in
 * lab/). ESLint (eslint.config.js) says which folder may import which; this says the whole is a
 * one-way graph.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

function files(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'node_modules'
        ? []
        : files(join(dir, e.name))
      : /\.(ts|js|mjs)$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );
}

/** The repository-relative files a file imports (relative specifiers only). */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    out.push(normalize(join(dirname(file), m[1] ?? '')));
  }
  return out;
}

/** `src/config/load.ts` → `config`; `src/errors.ts` → `errors.ts`. */
function nodeOf(file: string): string {
  const parts = relative('src', file).split('/');
  return parts.length > 1 ? (parts[0] ?? '') : file.slice('src/'.length);
}

/** The folder graph's edges: node → node → one import that makes the edge, as an example. */
function folderGraph(
  sources: readonly { file: string; text: string }[],
): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const { file, text } of sources) {
    const from = nodeOf(file);
    for (const target of importsOf(file, text)) {
      if (!target.startsWith('src/')) continue;
      const to = nodeOf(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${file} → ${target}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Each cycle once, as the imports that close it. */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const found = new Map<string, string[]>();
  const path: string[] = [];
  const done = new Set<string>();
  const visit = (node: string): void => {
    const at = path.indexOf(node);
    if (at !== -1) {
      const loop = path.slice(at);
      const key = [...loop].sort().join(' ');
      if (!found.has(key)) {
        found.set(
          key,
          loop.map((n, i) => graph.get(n)?.get(loop[(i + 1) % loop.length] ?? '') ?? n),
        );
      }
      return;
    }
    if (done.has(node)) return;
    path.push(node);
    for (const next of graph.get(node)?.keys() ?? []) visit(next);
    path.pop();
    done.add(node);
  };
  for (const node of graph.keys()) visit(node);
  return [...found.values()];
}

const read = (file: string) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') });

describe('layers', () => {
  it('the folders of src/ import one another one way only', () => {
    expect(cycles(folderGraph(files('src').map(read)))).toEqual([]);
  });

  it('finds a cycle through three folders, and none in a one-way graph', () => {
    const src = (file: string, ...imports: string[]) => ({
      file,
      text: imports.map((i) => `import { x } from '${i}';\n`).join(''),
    });
    const oneWay = [
      src('src/cli/main.ts', '../config/load.ts', '../errors.ts'),
      src('src/config/load.ts', '../inventory/load.ts', './rules.ts'),
      src('src/config/rules.ts', '../errors.ts'),
    ];
    expect(cycles(folderGraph(oneWay))).toEqual([]);
    const looped = [...oneWay, src('src/inventory/load.ts', '../cli/main.ts')];
    expect(cycles(folderGraph(looped))).toEqual([
      [
        'src/cli/main.ts → src/config/load.ts',
        'src/config/load.ts → src/inventory/load.ts',
        'src/inventory/load.ts → src/cli/main.ts',
      ],
    ]);
  });

  it('nothing outside test/ imports test/ (the simulator and the lab live in lab/)', () => {
    const outside = ['src', 'bench', 'scripts', 'bin', 'lab', 'examples'].flatMap(files);
    const importers = outside
      .map(read)
      .filter(({ file, text }) => importsOf(file, text).some((t) => t.startsWith('test/')))
      .map(({ file }) => file);
    expect(importers).toEqual([]);
  });
});
