/** test/consumers/machine.ts: skipped where a consumer is missing, never under CI. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lacking } from '../../consumers/machine.ts';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('lacking', () => {
  it('skips, with one note naming the package, where the program is missing', () => {
    vi.stubEnv('CI', '');
    const notes: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      notes.push(String(s));
      return true;
    });
    try {
      expect(lacking('tool-x', () => false, 'pkg-x')).toBe(true);
      expect(lacking('tool-x', () => false, 'pkg-x')).toBe(true);
    } finally {
      write.mockRestore();
    }
    expect(notes).toEqual([
      'note: tool-x is not on this machine: its tests are skipped (apt-get install pkg-x; CI runs them)\n',
    ]);
  });

  it('runs the tests where the program is there', () => {
    vi.stubEnv('CI', '');
    expect(lacking('tool-y', () => true, 'pkg-y')).toBe(false);
  });

  it('never skips under CI: a missing program fails its tests there', () => {
    vi.stubEnv('CI', 'true');
    expect(lacking('tool-z', () => false, 'pkg-z')).toBe(false);
  });
});
