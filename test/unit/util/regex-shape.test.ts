/**
 * No regular expression in src/ can be quadratic on a long input the way `/\/+$/` was (5.5 s on
 * 80,000 slashes then `x`): a quantifier right before `$` in a pattern that is not anchored at
 * the start is tried from every position of the input, each try running to the end. Such code
 * is written without a regex (`trimEndChars` in src/util/text.ts). Read with TypeScript's own
 * parser, so every regex literal is found and nothing else; no timing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../..', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** The pattern with escapes and character classes replaced by one plain character each. */
function skeleton(body: string): string {
  return body.replace(/\\./g, 'e').replace(/\[(?:\\.|[^\]\\])*\]/g, 'c');
}

/** Whether the pattern can start a match anywhere: no `^`, the `m` flag, or a top-level `|`. */
function unanchored(skel: string, flags: string): boolean {
  if (!skel.startsWith('^') || flags.includes('m')) return true;
  let depth = 0;
  for (const ch of skel) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) return true;
  }
  return false;
}

/** A quantifier (`+`, `*`, `{n,}`) right before `$` (through closing groups). */
const QUANTIFIED_END = /(?:[+*]|,\})\)*\$/;

export function quadraticShapes(files: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
        const text = node.getText(sf);
        const end = text.lastIndexOf('/');
        const skel = skeleton(text.slice(1, end));
        if (unanchored(skel, text.slice(end + 1)) && QUANTIFIED_END.test(skel)) {
          const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
          found.push(`${relative(ROOT, file)}:${String(line + 1)}: ${text}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

describe('regular expressions in src/', () => {
  it('none ends in a quantifier before $ without an anchor at the start', () => {
    expect(quadraticShapes(sources(join(ROOT, 'src')))).toEqual([]);
  });

  it('the check finds the shapes it is about, and only those', () => {
    const shapes = (s: string) => {
      const sf = ts.createSourceFile('x.ts', `const r = ${s};`, ts.ScriptTarget.Latest, true);
      let text = '';
      const visit = (n: ts.Node): void => {
        if (n.kind === ts.SyntaxKind.RegularExpressionLiteral) text = n.getText(sf);
        ts.forEachChild(n, visit);
      };
      visit(sf);
      const end = text.lastIndexOf('/');
      const skel = skeleton(text.slice(1, end));
      return unanchored(skel, text.slice(end + 1)) && QUANTIFIED_END.test(skel);
    };
    for (const bad of [
      '/\\/+$/',
      '/\\s+$/',
      '/[ \\t]+$/',
      '/=+$/',
      '/(a|b)*$/',
      '/^a$|b+$/',
      '/^x+$/m',
      '/a{2,}$/',
    ])
      expect(shapes(bad), bad).toBe(true);
    for (const fine of ['/^\\d+$/', '/^(?:a|b)+$/', '/\\.ko$/', '/[+$]/', '/\\+$/', '/a{2}$/'])
      expect(shapes(fine), fine).toBe(false);
  });
});
