import { describe, expect, it } from 'vitest';
import { heapTrimmer } from '../../../src/util/heap.ts';

const makeGarbage = (): unknown[] =>
  Array.from({ length: 300_000 }, (_, i) => ({ i, s: `x${String(i)}` }));

describe('heapTrimmer', () => {
  it('collects in full every N hosts, so garbage does not pile up until V8 decides', () => {
    const used = () => process.memoryUsage().heapUsed;
    const trimEvery3 = heapTrimmer(3);
    // made and dropped at once: garbage for the collector
    expect(makeGarbage().length).toBe(300_000);
    trimEvery3();
    trimEvery3();
    const before = used();
    trimEvery3(); // the third host: a full collection
    const after = used();
    expect(before - after).toBeGreaterThan(10 * 1024 * 1024);
  });
});
