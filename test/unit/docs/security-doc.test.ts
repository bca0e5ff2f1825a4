/**
 * docs/security.md (issue 14) stays true to the tree: every test it names as the proof of a
 * guarantee exists, every party of the threat model has its sections, and every section that
 * states guarantees names the tests that show them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const doc = readFileSync(join(ROOT, 'docs/security.md'), 'utf8');
const sections = doc
  .split(/^## /m)
  .slice(1)
  .map((s) => ({ title: s.slice(0, s.indexOf('\n')), body: s }));

describe('docs/security.md', () => {
  it('names only tests that exist', () => {
    const named = [...new Set(doc.match(/`test\/[^`\s]+`/g) ?? [])].map((p) => p.slice(1, -1));
    expect(named.length).toBeGreaterThan(20);
    for (const p of named) expect(existsSync(join(ROOT, p)), p).toBe(true);
  });

  it('covers every party of the threat model, each in sections that exist', () => {
    const table = doc.slice(doc.indexOf('| Who'), doc.indexOf('\n\n', doc.indexOf('| Who')));
    for (const who of [
      'Config authors',
      'Pull-request authors',
      'Hosts',
      'Saved plan files',
      'Other local users',
      'The CI runner',
    ]) {
      const row = table.split('\n').find((l) => l.startsWith(`| ${who}`));
      expect(row, who).toBeDefined();
      const listed =
        (row ?? '')
          .split('|')[3]
          ?.split(';')
          .map((s) => s.trim()) ?? [];
      for (const title of listed)
        expect(
          sections.map((s) => s.title),
          `${who}: ${title}`,
        ).toContain(title);
    }
  });

  it('every section names the tests that show what it guarantees', () => {
    for (const s of sections) expect(s.body, s.title).toMatch(/Shown by: `test\//);
  });
});
