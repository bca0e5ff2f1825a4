/**
 * `kpfleet status --out [FORMAT:]FILE`: which format goes to which file, and the values that name
 * a format but no file, refused before any host is contacted.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOut } from '../../../src/cli/commands/status.ts';
import { UsageError } from '../../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'kpfleet-out-'));

describe('--out', () => {
  it('FORMAT:FILE writes that format; a bare FILE, or an unknown prefix, takes --format', () => {
    expect(parseOut('html:status.html', 'text', dir)).toMatchObject({
      format: 'html',
      written: 'status.html',
      bare: false,
    });
    expect(parseOut('report.txt', 'json', dir)).toMatchObject({ format: 'json', bare: true });
    expect(parseOut('c:\\x', 'csv', dir)).toMatchObject({ format: 'csv', written: 'c:\\x' });
  });

  it('a format with no file (html:) is refused, not written to a file named "html:"', () => {
    for (const v of ['html:', 'csv:', 'openvex:']) {
      expect(() => parseOut(v, 'text', dir)).toThrow(UsageError);
      expect(() => parseOut(v, 'text', dir)).toThrow(/names no file/);
    }
  });
});
