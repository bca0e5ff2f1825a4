/**
 * `apply --wave K` in the engine (execute.ts `onlyWave`, waves.ts `selectWave`): the waves of the
 * whole plan, one wave of one shard per run. Over every wave and shard, each host runs once, in
 * the wave a single apply gives it; results carry the real wave number; halting is the gate's.
 */
import { describe, expect, it } from 'vitest';
import { selectWave } from '../../../src/apply/waves.ts';
import type { HostPlan } from '../../../src/plan/model.ts';
import { apply, count, filePatch, MemoryFleet, percent } from './memory/harness.ts';

const CVE = filePatch('cve-2024-1086');
const PROJECT = { patches: [CVE], want: { 'cve-2024-1086': 'loaded' as const } };
const WAVES = [count(1), percent(50), percent(100)];
/** Two shards: odd- and even-numbered hosts. */
const SHARDS = [
  (h: string) => Number(h.slice(1)) % 2 === 1,
  (h: string) => Number(h.slice(1)) % 2 === 0,
];

describe('apply --wave K over shards', () => {
  it('every wave of every shard: each host once, in the wave a single apply gives it, numbered so', async () => {
    const fleet = new MemoryFleet(8, PROJECT);
    const plan = await fleet.plan();
    const waveOf = new Map<string, number>();
    for (const k of [1, 2, 3, 4]) {
      for (const keep of SHARDS) {
        const chosen = selectWave(plan.hosts, WAVES, k, keep);
        expect(chosen.waves).toBe(3);
        const sub = { ...plan, hosts: chosen.hosts };
        const r = await apply(fleet, sub, { waves: WAVES, onlyWave: { wave: k, of: 3 } });
        expect(r.events[0]).toMatchObject({ type: 'run-start', onlyWave: { wave: k, of: 3 } });
        for (const x of r.results) {
          expect(waveOf.has(x.host), x.host).toBe(false);
          expect(x.outcome, x.host).toBe('changed');
          expect(keep(x.host), x.host).toBe(true);
          waveOf.set(x.host, x.wave);
        }
        if (k === 4) expect(r.results).toEqual([]);
      }
    }
    // as the single apply of engine.test.ts: waves of 1, 3 and 4 hosts in plan order
    expect([...waveOf.entries()].sort()).toEqual(
      [1, 2, 2, 2, 3, 3, 3, 3].map((w, i) => [`h00${String(i + 1)}`, w]),
    );
  });

  it('a failure within the wave does not halt it: the budget is over every shard (report merge)', async () => {
    const fleet = new MemoryFleet(4, PROJECT);
    const plan = await fleet.plan();
    fleet.host('h002').faults.stallLoad = [CVE.module.name];
    const waves = [count(1), count(3), percent(100)];
    const chosen = selectWave(plan.hosts, waves, 2, () => true);
    const r = await apply(
      fleet,
      { ...plan, hosts: chosen.hosts },
      {
        waves: WAVES,
        maxFailures: count(0),
        onlyWave: { wave: 2, of: 3 },
      },
    );
    expect(r.results.map((x) => [x.host, x.wave, x.outcome])).toEqual([
      ['h002', 2, 'failed'],
      ['h003', 2, 'changed'],
    ]);
    expect(r.halted).toBe(false);
    expect(r.events.filter((e) => e.type === 'wave-end')).toEqual([
      { type: 'wave-end', wave: 2, failed: 1, attempted: 2, halted: false },
    ]);
  });
});

describe('selectWave', () => {
  const host = (name: string, status: HostPlan['status']) => ({ host: name, status }) as HostPlan;
  const hosts = [
    host('a', 'changes'),
    host('b', 'converged'),
    host('c', 'changes'),
    host('d', 'blocked'),
    host('e', 'changes'),
    host('f', 'unreachable'),
  ];
  const names = (k: number, keep: (h: string) => boolean = () => true) =>
    selectWave(hosts, [count(1), percent(100)], k, keep).hosts.map((h) => h.host);

  it('splits the hosts with changes of the whole plan, then keeps the shard', () => {
    expect(names(1)).toEqual(['a', 'b', 'd', 'f']);
    expect(names(2)).toEqual(['c', 'e']);
    expect(names(3)).toEqual([]);
    // the shard does not move a host to another wave: c stays in wave 2 without a
    expect(names(1, (h) => h !== 'a')).toEqual(['b', 'd', 'f']);
    expect(names(2, (h) => h !== 'a')).toEqual(['c', 'e']);
    expect(names(2, (h) => h === 'e')).toEqual(['e']);
  });

  it('the hosts with nothing to do, blocked or unreachable are wave 1’s only', () => {
    const all = [1, 2, 3].flatMap((k) => names(k));
    expect(all.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(selectWave(hosts, [count(1), percent(100)], 1, () => true).waves).toBe(2);
    expect(selectWave([], [count(1)], 1, () => true)).toEqual({ hosts: [], waves: 0 });
  });
});
