/**
 * Merging the shards' plans (`plan/merge.ts`): the merged plan (hosts in the fleet's order, each
 * with its shard, `shards`, the oldest `createdAt`, the summary counted again) and each refusal,
 * named with its file(s). The shard of a host is given here by its name ("2-web" is in shard 2),
 * so that each case says plainly which host belongs where.
 */
import { describe, expect, it } from 'vitest';
import type { ConfigFingerprint } from '../../../src/config/fingerprint.ts';
import type { HostPlan, Plan } from '../../../src/plan/model.ts';
import { mergePlans, type Fleet, type PlanInput } from '../../../src/plan/merge.ts';
import { buildPlan, hostFailure, summarizePlan } from '../../../src/plan/plan.ts';

const FP: ConfigFingerprint = {
  sha256: `sha256:${'a'.repeat(64)}`,
  parts: { rollout: 'a'.repeat(16) },
};
const OTHER_FP: ConfigFingerprint = {
  sha256: `sha256:${'b'.repeat(64)}`,
  parts: { rollout: 'b'.repeat(16) },
};

const byName = (host: string, count: number): number =>
  count === 1 ? 1 : Number(host.split('-')[0]);
const fleet = (hosts: string[]): Fleet => ({ hosts, shardOf: byName });

function host(
  name: string,
  status: 'converged' | 'changes' | 'unreachable' = 'converged',
): HostPlan {
  if (status === 'unreachable') {
    return hostFailure(name, ['web'], { code: 'E_UNREACHABLE', message: 'no route' }, true);
  }
  return {
    host: name,
    groups: ['web'],
    status,
    reason: status,
    changes:
      status === 'changes'
        ? [{ action: 'unload', module: 'm', leftover: false, reason: 'declared absent' }]
        : [],
    findings: [],
    cves: status === 'changes' ? ['CVE-2024-1'] : [],
  };
}

function shardPlan(
  file: string,
  hosts: HostPlan[],
  shard: { index: number; count: number } | undefined,
  over: Partial<Plan> = {},
): PlanInput {
  const plan = buildPlan(hosts, {
    createdAt: '2026-01-01T00:00:00.000Z',
    kpfleetVersion: '1.0.0',
    config: 'kpfleet.yml',
    configFingerprint: FP,
    ...(shard ? { shard } : {}),
  });
  return { file, plan: { ...plan, ...over } };
}

const FLEET = ['1-a', '2-b', '1-c', '3-d', '2-e'];
const three = (): PlanInput[] => [
  shardPlan('s2.json', [host('2-e', 'changes'), host('2-b')], { index: 2, count: 3 }),
  shardPlan(
    's1.json',
    [host('1-a', 'unreachable'), host('1-c', 'changes')],
    { index: 1, count: 3 },
    {
      createdAt: '2025-12-31T23:00:00.000Z',
    },
  ),
  shardPlan('s3.json', [host('3-d')], { index: 3, count: 3 }),
];

function problems(inputs: PlanInput[], hosts = FLEET): string[] {
  const r = mergePlans(inputs, fleet(hosts));
  if (r.ok) throw new Error('merged, but should have been refused');
  return r.problems;
}

describe('merging the shards of one fleet', () => {
  it('lists the hosts in the fleet order with their shard, and counts the summary again', () => {
    const r = mergePlans(three(), fleet(FLEET));
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const p = r.plan;
    expect(p.hosts.map((h) => [h.host, h.shard])).toEqual([
      ['1-a', 1],
      ['2-b', 2],
      ['1-c', 1],
      ['3-d', 3],
      ['2-e', 2],
    ]);
    expect(p.shards).toBe(3);
    expect(p.shard).toBeUndefined();
    // the oldest facts date the plan
    expect(p.createdAt).toBe('2025-12-31T23:00:00.000Z');
    expect(p.summary).toEqual(summarizePlan(p.hosts));
    expect(p.summary).toMatchObject({ hosts: 5, converged: 2, changes: 2, unreachable: 1 });
    expect(p.summary.actions).toEqual({ unload: 2 });
    expect(p.summary.cves).toEqual(['CVE-2024-1']);
    expect(p.configFingerprint).toEqual(FP);
  });

  it('takes one plan made without --shard when it covers every host (shard 1 of 1)', () => {
    const r = mergePlans(
      [
        shardPlan(
          'all.json',
          FLEET.map((h) => host(h)),
          undefined,
        ),
      ],
      fleet(FLEET),
    );
    expect(r.ok && r.plan.shards).toBe(1);
    expect(r.ok && r.plan.hosts.every((h) => h.shard === 1)).toBe(true);
  });
});

describe('refusals, each naming the file(s)', () => {
  it('plans of another kpfleet version or another configuration', () => {
    const [a, b, c] = three();
    if (!a || !b || !c) throw new Error('three plans');
    expect(problems([a, { ...b, plan: { ...b.plan, kpfleetVersion: '0.9.0' } }, c])).toEqual([
      's2.json was made by kpfleet "1.0.0", s1.json by kpfleet "0.9.0"',
    ]);
    expect(problems([a, b, { ...c, plan: { ...c.plan, configFingerprint: OTHER_FP } }])).toEqual([
      's2.json and s3.json were made from different configurations: rollout changed',
    ]);
  });

  it('plans of different --limit', () => {
    const [a, b, c] = three();
    if (!a || !b || !c) throw new Error('three plans');
    expect(problems([a, { ...b, plan: { ...b.plan, limit: 'web' } }, c])[0]).toMatch(
      /^s2\.json was made with no --limit, s1\.json with --limit "web"/,
    );
  });

  it('a plan without a shard among several, or shards of different counts', () => {
    const [a, b, c] = three();
    if (!a || !b || !c) throw new Error('three plans');
    const unsharded = { ...c.plan };
    delete unsharded.shard;
    expect(problems([a, b, { ...c, plan: unsharded }])[0]).toMatch(
      /^s3\.json was not made with --shard/,
    );
    expect(problems([a, b, { ...c, plan: { ...c.plan, shard: { index: 3, count: 4 } } }])).toEqual([
      'the plans cut the fleet into different numbers of shards: s2.json, s1.json of 3; s3.json of 4',
    ]);
  });

  it('a shard given twice, a shard missing', () => {
    const [a, b] = three();
    if (!a || !b) throw new Error('plans');
    expect(problems([a, b, { ...a, file: 'again.json' }])).toEqual([
      'shard 2/3 is given twice: s2.json and again.json',
      'shard 3/3 is missing',
    ]);
    expect(problems([a, b])).toEqual(['shard 3/3 is missing']);
  });

  it('a host in two plans, a host outside its shard, a host missing, a host not selected', () => {
    const [a, b, c] = three();
    if (!a || !b || !c) throw new Error('three plans');
    const with3 = (hosts: HostPlan[]): PlanInput => ({ ...c, plan: { ...c.plan, hosts } });
    expect(problems([a, b, with3([host('3-d'), host('2-b')])])).toEqual([
      'host "2-b" is in both s2.json and s3.json',
    ]);
    expect(
      problems([
        { ...a, plan: { ...a.plan, hosts: [host('2-e')] } },
        b,
        with3([host('3-d'), host('2-b')]),
      ]),
    ).toEqual(['host "2-b" in s3.json belongs to shard 2/3, not 3/3']);
    expect(problems([a, b, with3([])])).toEqual([
      'host "3-d" of shard 3/3 is missing from s3.json',
    ]);
    expect(problems([a, b, with3([host('3-d'), host('3-zz')])])).toEqual([
      'host "3-zz" in s3.json is not one the configuration and --limit select',
    ]);
  });

  it('no plan at all', () => {
    expect(problems([])).toEqual(['no plan to merge']);
  });
});
