import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Amount } from '../../../src/config-model.ts';
import { describeWaves, failureBudget, shouldHalt, splitWaves } from '../../../src/apply/waves.ts';

const n = (value: number): Amount => ({ kind: 'count', value });
const pct = (value: number): Amount => ({ kind: 'percent', value });
const hosts = (count: number): string[] => Array.from({ length: count }, (_, i) => `h${i}`);
const amount = (a: Amount): string => (a.kind === 'count' ? String(a.value) : `${a.value}%`);
const show = (waves: readonly Amount[]): string => `[${waves.map(amount).join(', ')}]`;

describe('splitWaves', () => {
  const cases: { name: string; hosts: number; waves: Amount[]; sizes: number[] }[] = [
    { name: 'no hosts: no waves', hosts: 0, waves: [n(1), pct(10), pct(100)], sizes: [] },
    { name: 'no hosts, default waves', hosts: 0, waves: [pct(100)], sizes: [] },
    { name: 'the default: one wave', hosts: 7, waves: [pct(100)], sizes: [7] },
    { name: 'one host: one wave', hosts: 1, waves: [n(1), pct(10), pct(100)], sizes: [1] },
    {
      name: '5 hosts: 10% rounds up to the canary, skipped',
      hosts: 5,
      waves: [n(1), pct(10), pct(100)],
      sizes: [1, 4],
    },
    { name: '5 hosts, 10% first: a canary', hosts: 5, waves: [pct(10), pct(100)], sizes: [1, 4] },
    { name: '100 hosts', hosts: 100, waves: [n(1), pct(10), pct(100)], sizes: [1, 9, 90] },
    {
      name: '1000 hosts',
      hosts: 1000,
      waves: [n(1), pct(1), pct(10), pct(100)],
      sizes: [1, 9, 90, 900],
    },
    { name: '33% of 10 rounds up to 4', hosts: 10, waves: [pct(33), pct(100)], sizes: [4, 6] },
    { name: '12.5% of 8 is exactly 1', hosts: 8, waves: [pct(12.5), pct(100)], sizes: [1, 7] },
    { name: '12.5% of 9 rounds up to 2', hosts: 9, waves: [pct(12.5), pct(100)], sizes: [2, 7] },
    { name: '0.5% of 100 rounds up to 1', hosts: 100, waves: [pct(0.5), pct(100)], sizes: [1, 99] },
    {
      name: '99.9% of 1000 leaves one host',
      hosts: 1000,
      waves: [pct(99.9), pct(100)],
      sizes: [999, 1],
    },
    {
      name: '8.8% of 375 is 33 (in floating point 33.00000000000001)',
      hosts: 375,
      waves: [pct(8.8), pct(100)],
      sizes: [33, 342],
    },
    { name: 'counts only', hosts: 100, waves: [n(2), n(3), pct(100)], sizes: [2, 1, 97] },
    { name: 'a count beyond the hosts clamps', hosts: 3, waves: [n(10)], sizes: [3] },
    { name: 'counts beyond the hosts clamp', hosts: 3, waves: [n(1), n(5), n(10)], sizes: [1, 2] },
    {
      name: 'counts beyond the hosts, then 100%',
      hosts: 3,
      waves: [n(2), n(50), pct(100)],
      sizes: [2, 1],
    },
    { name: 'a count of all the hosts, then 100%', hosts: 5, waves: [n(5), pct(100)], sizes: [5] },
    {
      name: 'last wave 50%: the rest is a final wave',
      hosts: 10,
      waves: [n(1), pct(50)],
      sizes: [1, 4, 5],
    },
    { name: 'only 50%', hosts: 100, waves: [pct(50)], sizes: [50, 50] },
    { name: 'only 50% of 1 host', hosts: 1, waves: [pct(50)], sizes: [1] },
    {
      name: 'a last count below the hosts: the rest is a final wave',
      hosts: 10,
      waves: [n(1), n(3)],
      sizes: [1, 2, 7],
    },
    {
      name: 'duplicate effective sizes are skipped',
      hosts: 20,
      waves: [n(1), pct(5), pct(10), pct(100)],
      sizes: [1, 1, 18],
    },
    {
      name: 'several percentages round to the same size',
      hosts: 10,
      waves: [pct(1), pct(5), pct(10), pct(11), pct(100)],
      sizes: [1, 1, 8],
    },
    {
      name: 'a percentage below an earlier count is skipped (validate does not compare kinds)',
      hosts: 100,
      waves: [n(10), pct(5), pct(100)],
      sizes: [10, 90],
    },
    {
      name: 'a count below an earlier percentage is skipped',
      hosts: 100,
      waves: [pct(20), n(10), n(30), pct(100)],
      sizes: [20, 10, 70],
    },
  ];

  for (const { name, hosts: count, waves, sizes } of cases) {
    it(`${count} hosts, ${show(waves)}: ${name}`, () => {
      const all = hosts(count);
      const result = splitWaves(all, waves);
      expect(result.map((w) => w.length)).toEqual(sizes);
      expect(result.flat()).toEqual(all);
    });
  }

  it('keeps the hosts themselves, in order', () => {
    const a = { name: 'a' };
    const b = { name: 'b' };
    const c = { name: 'c' };
    const result = splitWaves([c, a, b], [n(1), pct(100)]);
    expect(result).toEqual([[c], [a, b]]);
    expect(result[0]?.[0]).toBe(c);
    expect(result[1]?.[1]).toBe(b);
  });

  it('does not change its input', () => {
    const all = Object.freeze(hosts(10));
    const waves = Object.freeze([n(1), pct(50)]);
    expect(splitWaves(all, waves)).toEqual([['h0'], hosts(5).slice(1), hosts(10).slice(5)]);
    expect(all).toEqual(hosts(10));
  });

  /** What validate accepts: counts grow among counts, percentages in (0, 100] among percentages. */
  const validWaves: fc.Arbitrary<Amount[]> = fc
    .record({
      counts: fc.uniqueArray(fc.integer({ min: 1, max: 3000 }), { maxLength: 6 }),
      // tenths of a percent: 0.1% … 100%
      tenths: fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 6 }),
      order: fc.array(fc.boolean(), { maxLength: 12 }),
      end100: fc.boolean(),
    })
    .map(({ counts, tenths, order, end100 }) => {
      const cs = [...counts].sort((x, y) => x - y).map(n);
      const ps = [...tenths].sort((x, y) => x - y).map((t) => pct(t / 10));
      const out: Amount[] = [];
      for (const takeCount of order) {
        const next = takeCount ? cs.shift() : ps.shift();
        if (next) out.push(next);
      }
      out.push(...cs, ...ps);
      const last = out.at(-1);
      if (end100 && !(last?.kind === 'percent' && last.value === 100)) out.push(pct(100));
      return out;
    })
    .filter((waves) => waves.length > 0);

  /** The cumulative size of a wave in integer arithmetic (tenths of a percent), before clamping. */
  const reference = (wave: Amount, total: number): number =>
    wave.kind === 'count' ? wave.value : Math.ceil((total * Math.round(wave.value * 10)) / 1000);

  it('property: every host exactly once, in order; no empty wave; the sizes asked for', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), validWaves, (count, waves) => {
        const all = hosts(count);
        const result = splitWaves(all, waves);
        expect(result.flat()).toEqual(all);
        for (const wave of result) expect(wave.length).toBeGreaterThan(0);
        if (count === 0) expect(result).toEqual([]);
        expect(result.length).toBeLessThanOrEqual(waves.length + 1);
        // Each wave ends at a cumulative size asked for, or at the end of the hosts.
        const asked = new Set(waves.map((w) => Math.min(count, reference(w, count))));
        let end = 0;
        for (const wave of result) {
          end += wave.length;
          expect(asked.has(end) || end === count).toBe(true);
        }
        // The first wave is the first size asked for (a canary stays a canary).
        const first = waves[0];
        if (count > 0 && first) {
          expect(result[0]?.length).toBe(Math.min(count, reference(first, count)));
        }
      }),
      { numRuns: 500 },
    );
    // 500 fleets of up to 2000 hosts: about a second alone, far more on a loaded machine, and
    // never a timing check (speed is npm run bench's)
  }, 60_000);
});

describe('failureBudget', () => {
  const cases: { max: Amount; attempted: number; budget: number }[] = [
    { max: n(0), attempted: 0, budget: 0 },
    { max: n(0), attempted: 1000, budget: 0 },
    { max: n(1), attempted: 0, budget: 1 },
    { max: n(3), attempted: 1, budget: 3 },
    { max: n(3), attempted: 500, budget: 3 },
    { max: pct(0), attempted: 0, budget: 0 },
    { max: pct(0), attempted: 1000, budget: 0 },
    { max: pct(10), attempted: 0, budget: 0 },
    { max: pct(10), attempted: 1, budget: 0 },
    { max: pct(10), attempted: 9, budget: 0 },
    { max: pct(10), attempted: 10, budget: 1 },
    { max: pct(10), attempted: 19, budget: 1 },
    { max: pct(10), attempted: 20, budget: 2 },
    { max: pct(33), attempted: 3, budget: 0 },
    { max: pct(33), attempted: 100, budget: 33 },
    { max: pct(50), attempted: 1, budget: 0 },
    { max: pct(50), attempted: 2, budget: 1 },
    { max: pct(100), attempted: 0, budget: 0 },
    { max: pct(100), attempted: 7, budget: 7 },
    { max: pct(2.5), attempted: 40, budget: 1 },
    { max: pct(2.5), attempted: 79, budget: 1 },
    { max: pct(2.5), attempted: 80, budget: 2 },
    // 375 × 18.4 / 100 is 68.99999999999999 in floating point
    { max: pct(18.4), attempted: 375, budget: 69 },
  ];

  for (const c of cases) {
    it(`max_failures ${amount(c.max)}, ${c.attempted} attempted: ${c.budget}`, () => {
      expect(failureBudget(c.max, c.attempted)).toBe(c.budget);
    });
  }

  it('property: a percentage of the hosts attempted, rounded down', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (tenths, attempted) => {
          const budget = failureBudget(pct(tenths / 10), attempted);
          expect(budget).toBe(Math.floor((attempted * tenths) / 1000));
          expect(budget).toBeLessThanOrEqual(attempted);
          expect(failureBudget(pct(tenths / 10), attempted + 1)).toBeGreaterThanOrEqual(budget);
        },
      ),
      { numRuns: 500 },
    );
    // 500 fleets of up to 2000 hosts: about a second alone, far more on a loaded machine, and
    // never a timing check (speed is npm run bench's)
  }, 60_000);
});

describe('shouldHalt', () => {
  const cases: { max: Amount; failed: number; attempted: number; halt: boolean }[] = [
    // max_failures 0 (the default) halts on the first failure
    { max: n(0), failed: 0, attempted: 0, halt: false },
    { max: n(0), failed: 0, attempted: 100, halt: false },
    { max: n(0), failed: 1, attempted: 1, halt: true },
    { max: n(0), failed: 1, attempted: 1000, halt: true },
    // max_failures 1 tolerates one
    { max: n(1), failed: 1, attempted: 1, halt: false },
    { max: n(1), failed: 1, attempted: 100, halt: false },
    { max: n(1), failed: 2, attempted: 100, halt: true },
    { max: n(5), failed: 5, attempted: 5, halt: false },
    { max: n(5), failed: 6, attempted: 6, halt: true },
    // percentages of the hosts attempted so far, rounded down
    { max: pct(0), failed: 0, attempted: 1000, halt: false },
    { max: pct(0), failed: 1, attempted: 1000, halt: true },
    { max: pct(10), failed: 1, attempted: 1, halt: true }, // a failed canary halts
    { max: pct(10), failed: 1, attempted: 9, halt: true },
    { max: pct(10), failed: 1, attempted: 10, halt: false },
    { max: pct(10), failed: 2, attempted: 10, halt: true },
    { max: pct(10), failed: 10, attempted: 100, halt: false },
    { max: pct(10), failed: 11, attempted: 100, halt: true },
    { max: pct(100), failed: 5, attempted: 5, halt: false },
  ];

  for (const c of cases) {
    const title = `max_failures ${amount(c.max)}, ${c.failed} of ${c.attempted} failed: ${c.halt ? 'halt' : 'go on'}`;
    it(title, () => {
      expect(shouldHalt(c.failed, c.attempted, c.max)).toBe(c.halt);
    });
  }

  it('halts exactly when failures exceed the budget', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: 50 }).map(n),
          fc.integer({ min: 0, max: 1000 }).map((t) => pct(t / 10)),
        ),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (max, a, b) => {
          const attempted = Math.max(a, b);
          const failed = Math.min(a, b);
          expect(shouldHalt(failed, attempted, max)).toBe(failed > failureBudget(max, attempted));
        },
      ),
    );
  });
});

describe('describeWaves', () => {
  const cases: { waves: string[][]; text: string }[] = [
    { waves: [], text: 'no waves' },
    { waves: [['a']], text: '1 wave: 1 host' },
    { waves: [['a', 'b']], text: '1 wave: 2 hosts' },
    { waves: [['a'], ['b']], text: '2 waves: 1, 1 hosts' },
    { waves: [['a'], ['b', 'c'], ['d', 'e', 'f']], text: '3 waves: 1, 2, 3 hosts' },
  ];

  for (const { waves, text } of cases) {
    it(`${waves.map((w) => w.length).join(', ') || 'none'}: ${text}`, () => {
      expect(describeWaves(waves)).toBe(text);
    });
  }

  const split = [
    { count: 100, waves: [n(1), pct(10), pct(100)], text: '3 waves: 1, 9, 90 hosts' },
    { count: 1000, waves: [n(1), pct(1), pct(10), pct(100)], text: '4 waves: 1, 9, 90, 900 hosts' },
    { count: 1, waves: [n(1), pct(10), pct(100)], text: '1 wave: 1 host' },
    { count: 0, waves: [n(1), pct(10), pct(100)], text: 'no waves' },
  ];
  for (const { count, waves, text } of split) {
    it(`splitWaves of ${count} hosts, ${show(waves)}: ${text}`, () => {
      expect(describeWaves(splitWaves(hosts(count), waves))).toBe(text);
    });
  }
});
