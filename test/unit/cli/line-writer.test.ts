/** src/cli/io.ts lineWriter: apply's plain output, a burst of lines in one write. */
import { describe, expect, it } from 'vitest';
import { lineWriter } from '../../../src/cli/io.ts';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('lineWriter', () => {
  it('writes the lines of one turn of the event loop together, in order, after it', async () => {
    const writes: string[] = [];
    const w = lineWriter({ write: (s: string) => writes.push(s) });
    w.line('a');
    w.line('b');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['a\nb\n']);
    w.line('c');
    await nextTurn();
    expect(writes).toEqual(['a\nb\n', 'c\n']);
    // nothing waiting: no empty write
    await nextTurn();
    expect(writes).toHaveLength(2);
  });

  it('flush writes what waits at once, and the turn then writes nothing more', async () => {
    const writes: string[] = [];
    const w = lineWriter({ write: (s: string) => writes.push(s) });
    w.line('x');
    w.flush();
    expect(writes).toEqual(['x\n']);
    w.flush();
    await nextTurn();
    expect(writes).toEqual(['x\n']);
  });

  it('does not hold more than 64 KiB: a long burst is written as it goes', () => {
    const writes: string[] = [];
    const w = lineWriter({ write: (s: string) => writes.push(s) });
    const line = 'y'.repeat(1023);
    for (let i = 0; i < 130; i++) w.line(line);
    expect(writes).toHaveLength(2);
    expect(writes.join('')).toBe(`${line}\n`.repeat(128));
    w.flush();
    expect(writes.join('')).toBe(`${line}\n`.repeat(130));
  });
});
