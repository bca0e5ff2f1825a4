import { describe, expect, it } from 'vitest';
import { inShard, parseShard, shardFromCli, shardOf } from '../../../src/inventory/shard.ts';

const hosts = (n: number) =>
  Array.from({ length: n }, (_, i) => `host-${String(i).padStart(5, '0')}.example.com`);

describe('shardOf', () => {
  it('gives the recorded shards: the same on every machine and Node version', () => {
    // recorded once; a change here re-shards every fleet and must be a deliberate one
    const expected: [string, number, number, number, number][] = [
      ['web01', 1, 5, 137, 42838],
      ['web02', 2, 7, 38, 38629],
      ['db01', 2, 5, 156, 29145],
      ['host-00042', 2, 5, 160, 52049],
      ['köln.example.com', 1, 8, 238, 58856],
      ['10.0.0.1', 2, 8, 215, 74142],
      ['a', 1, 1, 176, 85268],
    ];
    for (const [name, ...shards] of expected)
      expect([2, 8, 256, 100000].map((n) => shardOf(name, n))).toEqual(shards);
  });

  it('puts every host in exactly one shard, about 1/N each', () => {
    const all = hosts(20000);
    for (const n of [1, 3, 10, 256]) {
      const sizes = new Array<number>(n).fill(0);
      let owned = 0;
      for (const [i, h] of all.entries()) {
        const s = shardOf(h, n);
        sizes[s - 1] = (sizes[s - 1] ?? 0) + 1;
        if (n <= 10 && i < 2000) {
          // inShard agrees: the host is in its own shard and in no other
          for (let j = 1; j <= n; j++)
            if (inShard(h, { index: j, count: n }) !== (j === s)) owned++;
        }
      }
      expect(owned).toBe(0);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(all.length);
      const mean = all.length / n;
      // binomial spread: within 5 standard deviations of the mean
      const sd = Math.sqrt(mean * (1 - 1 / n));
      const worst = Math.max(...sizes.map((size) => Math.abs(size - mean)));
      expect(worst).toBeLessThan(5 * sd + 1);
    }
  });

  it('moves about 1/(N+1) of the hosts, all into the new shard, when a shard is added', () => {
    const all = hosts(20000);
    for (const n of [1, 4, 9, 99]) {
      let moved = 0;
      let elsewhere = 0;
      for (const h of all) {
        const before = shardOf(h, n);
        const after = shardOf(h, n + 1);
        if (before !== after) {
          moved++;
          if (after !== n + 1) elsewhere++;
        }
      }
      expect(elsewhere).toBe(0);
      const expected = all.length / (n + 1);
      expect(Math.abs(moved - expected)).toBeLessThan(5 * Math.sqrt(expected) + 1);
    }
  });

  it('never moves a host because another host was added or removed', () => {
    const all = hosts(500);
    const before = all.map((h) => shardOf(h, 7));
    const after = [...all, 'new-host'].map((h) => shardOf(h, 7)).slice(0, all.length);
    expect(after).toEqual(before);
  });
});

describe('parseShard', () => {
  const env = { JOB_COMPLETION_INDEX: '3' };
  it('reads I/N, 1-based', () => {
    expect(parseShard('1/4', '--shard', {})).toEqual({ index: 1, count: 4 });
    expect(parseShard('4/4', '--shard', {})).toEqual({ index: 4, count: 4 });
    expect(parseShard(' 1/1 ', '--shard', {})).toEqual({ index: 1, count: 1 });
  });
  it("reads Kubernetes' 0-based JOB_COMPLETION_INDEX", () => {
    expect(parseShard('JOB_COMPLETION_INDEX/10', '--shard', env)).toEqual({ index: 4, count: 10 });
    expect(() => parseShard('JOB_COMPLETION_INDEX/3', '--shard', env)).toThrow(
      /shard 4 is not one of 1 to 3/,
    );
    expect(() => parseShard('JOB_COMPLETION_INDEX/3', '--shard', {})).toThrow(/is not set/);
    expect(() =>
      parseShard('JOB_COMPLETION_INDEX/3', '--shard', { JOB_COMPLETION_INDEX: '1e3' }),
    ).toThrow(/not a whole number/);
    expect(() => parseShard('HOME/3', '--shard', { HOME: '1' })).toThrow(
      /only JOB_COMPLETION_INDEX is read/,
    );
  });
  it('refuses what is not a shard, naming where it came from', () => {
    for (const bad of ['0/4', '5/4', '1/0', '1/100001', '1', '1/2/3', '-1/4', '1.5/4', 'a/b', ''])
      expect(() => parseShard(bad, 'KPFLEET_SHARD', {})).toThrow(/^KPFLEET_SHARD /);
  });
  it('takes --shard over KPFLEET_SHARD; an empty KPFLEET_SHARD is none', () => {
    expect(shardFromCli('2/3', { KPFLEET_SHARD: '1/3' })).toEqual({ index: 2, count: 3 });
    expect(shardFromCli(undefined, { KPFLEET_SHARD: '1/3' })).toEqual({ index: 1, count: 3 });
    expect(shardFromCli(undefined, { KPFLEET_SHARD: '' })).toBeUndefined();
    expect(shardFromCli(undefined, {})).toBeUndefined();
  });
});
