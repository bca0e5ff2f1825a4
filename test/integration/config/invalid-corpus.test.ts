/**
 * The invalid-configuration corpus (test/fixtures/invalid/README.md): every case is rejected
 * with exactly the diagnostics, positions and messages its header lists.
 */
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProject } from '../../../src/config/load.ts';

const CORPUS = new URL('../../fixtures/invalid/', import.meta.url).pathname;

const cases = readdirSync(CORPUS)
  .filter((n) => /^\d+-/.test(n))
  .sort();

function expectations(text: string): string[] {
  return [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => (m[1] ?? '').trim());
}

describe('invalid configuration corpus', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('%s', (name) => {
    const dir = mkdtempSync(join(tmpdir(), 'kpfleet-invalid-'));
    try {
      cpSync(join(CORPUS, '_base'), dir, { recursive: true });
      const src = join(CORPUS, name);
      if (statSync(src).isDirectory()) cpSync(src, dir, { recursive: true });
      else writeFileSync(join(dir, 'kpfleet.yml'), readFileSync(src));
      const expected = expectations(readFileSync(join(dir, 'kpfleet.yml'), 'utf8'));
      expect(expected.length, 'the case lists its expected diagnostics').toBeGreaterThan(0);

      const { diagnostics } = loadProject({ cwd: dir, home: '/home/tester' });
      const actual = diagnostics.map(
        (d) =>
          `${d.file}${d.pos ? `:${d.pos.line}:${d.pos.col}` : ''} ${d.severity} ${d.code}: ${d.message}`,
      );
      expect(actual.sort()).toEqual(expected.sort());
      expect(diagnostics.some((d) => d.severity === 'error')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
