/**
 * A file written piece by piece to replace another (cli/atomic-file.ts): until `commit` the old
 * file is whole and the new one is a temporary file beside it; `abort` (what a failure or a stop
 * signal does) leaves the old file and no temporary file.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AtomicFile } from '../../../src/cli/atomic-file.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const dir = join(TMP_BASE, `atomic-file-${String(process.pid)}`);
const target = () => ({ label: '--out plan.json', path: join(dir, 'plan.json') });

beforeEach(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'plan.json'), 'old\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('AtomicFile', () => {
  it('replaces the file only at commit; a reader meanwhile sees the old one whole', () => {
    const f = new AtomicFile(target());
    f.write('{"a":');
    f.write('1}\n');
    expect(readFileSync(join(dir, 'plan.json'), 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toHaveLength(2);
    f.commit();
    expect(readFileSync(join(dir, 'plan.json'), 'utf8')).toBe('{"a":1}\n');
    expect(readdirSync(dir)).toEqual(['plan.json']);
  });

  it('abort leaves the old file and no temporary file, and may be called again', () => {
    const f = new AtomicFile(target());
    f.write('half a plan');
    f.abort();
    f.abort();
    expect(readdirSync(dir)).toEqual(['plan.json']);
    expect(readFileSync(join(dir, 'plan.json'), 'utf8')).toBe('old\n');
  });

  it('a write after the end fails and leaves nothing behind', () => {
    const f = new AtomicFile(target());
    f.commit();
    expect(() => f.write('more')).toThrow(/--out plan\.json/);
    expect(readdirSync(dir)).toEqual(['plan.json']);
  });
});
