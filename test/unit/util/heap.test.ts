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

describe('heapTrimmer over a run of known length', () => {
  it('collects every N hosts but not at the last host, when the run is over', () => {
    const at: number[] = [];
    let host = 0;
    const trim = heapTrimmer(3, 9, () => at.push(host));
    for (host = 1; host <= 9; host++) trim();
    expect(at).toEqual([3, 6]);
  });

  it('collects every N hosts when the length is not known', () => {
    const at: number[] = [];
    let host = 0;
    const trim = heapTrimmer(3, undefined, () => at.push(host));
    for (host = 1; host <= 9; host++) trim();
    expect(at).toEqual([3, 6, 9]);
  });
});
