/**
 * `kpatch list` parser, data-driven: every test/fixtures/kpatch-list/<case>.txt (exact stdout) is
 * parsed and compared with <case>.json (`source`: where the text comes from; `expected`: the
 * parse). For `ok: false`, `expected.error` is a fragment the message must contain.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { parseKpatchList } from '../../../src/facts/parse/kpatch-list.ts';
import { normalizeModuleName } from '../../../src/facts/parse/kpatch-list-model.ts';
import type { KpatchListResult } from '../../../src/facts/parse/kpatch-list-model.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/kpatch-list');

interface Fixture {
  source: string;
  expected: KpatchListResult;
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => f.slice(0, -'.txt'.length))
  .sort();

describe('parseKpatchList fixtures', () => {
  it('every .txt has a .json and the other way round; enough cases', () => {
    const json = readdirSync(DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
    expect(json).toEqual(cases);
    expect(cases.filter((c) => c.startsWith('bad-')).length).toBeGreaterThanOrEqual(8);
  });

  it.each(cases)('%s', (name) => {
    const stdout = readFileSync(join(DIR, `${name}.txt`), 'utf8');
    const fixture = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Fixture;
    expect(fixture.source).toMatch(/\S/);
    const got = parseKpatchList(stdout);
    const want = fixture.expected;
    if (want.ok) {
      expect(got).toEqual(want);
      return;
    }
    expect(got.ok).toBe(false);
    if (got.ok) return;
    const { error, ...where } = got;
    const { error: fragment, ...wantWhere } = want;
    expect(where).toEqual(wantWhere);
    expect(error).toContain(fragment);
  });
});

describe('parseKpatchList invariants', () => {
  it('never throws, whatever the input', () => {
    const inputs = ['\n', '\r\n', '\0', '\t', 'Loaded patch modules:', ' Loaded patch modules:\n'];
    for (const s of inputs) expect(() => parseKpatchList(s)).not.toThrow();
  });

  it('an error line points at its text', () => {
    const r = parseKpatchList('Loaded patch modules:\nfoo [weird]\r\n\nInstalled patch modules:\n');
    expect(r).toMatchObject({ ok: false, line: 2, text: 'foo [weird]' });
  });
});

describe('normalizeModuleName (§1.3)', () => {
  it.each([
    ['livepatch-foo.ko', 'livepatch_foo'],
    [
      '/var/lib/kpatch/5.14.0-362.8.1.el9_3.x86_64/kpatch-5_14_0-362_8_1-1-2.ko',
      'kpatch_5_14_0_362_8_1_1_2',
    ],
    ['livepatch-fix.v2.ko', 'livepatch_fix.v2'],
    ['notes-file', 'notes_file'],
    ['foo.ko.ko', 'foo.ko'],
    ['dir/', 'dir'],
    ['.ko', '.ko'],
  ])('%s → %s', (file, name) => {
    expect(normalizeModuleName(file)).toBe(name);
  });

  it('80,000 slashes then a name: that name (it once took a quadratic regex 5.5 s)', () => {
    expect(normalizeModuleName(`${'/'.repeat(80_000)}x-y.ko`)).toBe('x_y');
    expect(normalizeModuleName(`x${'/'.repeat(80_000)}`)).toBe('x');
  });
});
