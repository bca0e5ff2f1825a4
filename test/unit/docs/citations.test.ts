/**
 * Code and tests cite the project's own docs, never material outside the repository: every
 * `§N`, `§N.M` and `§6 #K` in src/ and test/ names a section (or a numbered failure mode) that
 * docs/kpatch-behaviour.md has, every `§K.N` a section of docs/klp-behaviour.md, and nothing cites
 * ../shared or reference/*.md.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const doc = readFileSync(join(ROOT, 'docs/kpatch-behaviour.md'), 'utf8');
const klpDoc = readFileSync(join(ROOT, 'docs/klp-behaviour.md'), 'utf8');
const files = execFileSync(
  'git',
  [
    'ls-files',
    'src',
    'test',
    'docs',
    'scripts',
    'schemas',
    'examples',
    'bench',
    'lab',
    'README.md',
  ],
  {
    cwd: ROOT,
    encoding: 'utf8',
  },
)
  .split('\n')
  .filter((f) => f && !f.startsWith('test/fixtures/ansible/') && !/\.(png|gz|ko)$/.test(f));
const text = (f: string): string => readFileSync(join(ROOT, f), 'utf8');

/** The section numbers docs/kpatch-behaviour.md has headings for, and its numbered failure modes. */
const sections = new Set([...doc.matchAll(/^#{2,4} (\d+(?:\.\d+)?)[. ]/gm)].map((m) => m[1] ?? ''));
const modes = new Set([...doc.matchAll(/\*\*#(\d+)\*\*/g)].map((m) => m[1] ?? ''));

describe('citations', () => {
  it('docs/kpatch-behaviour.md has the sections and failure modes the code cites', () => {
    const missing: string[] = [];
    for (const f of files) {
      if (f === 'docs/kpatch-behaviour.md') continue;
      for (const m of text(f).matchAll(/(CommonMark )?§(\d+(?:\.\d+)?)(?: #(\d+))?/g)) {
        if (m[1]) continue; // another document's section
        const [, , sec = '', mode] = m;
        if (!sections.has(sec)) missing.push(`${f}: §${sec}`);
        if (mode !== undefined && !modes.has(mode)) missing.push(`${f}: §${sec} #${mode}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('docs/klp-behaviour.md has the §K sections the code cites', () => {
    const klpSections = new Set([...klpDoc.matchAll(/^## (K\.\d+) /gm)].map((m) => m[1] ?? ''));
    const missing: string[] = [];
    let cited = 0;
    for (const f of files)
      for (const m of text(f).matchAll(/§(K\.\d+)/g)) {
        cited++;
        if (!klpSections.has(m[1] ?? '')) missing.push(`${f}: §${m[1] ?? ''}`);
      }
    expect(missing).toEqual([]);
    expect(cited).toBeGreaterThan(5);
  });

  it('nothing cites material outside the repository', () => {
    const outside = files.filter((f) =>
      /reference\/(kpatch|ecosystem|architecture)\.md|shared\/reference/.test(text(f)),
    );
    expect(outside).toEqual([]);
  });
});
