/**
 * `kpfleet report merge` (src/report/report-merge.ts): the shards' reports joined, schema-valid,
 * in wave then shard order, the summary recomputed; the gate counts as one apply counts (the
 * budget cumulative over the reports given: a single apply's decision, `shouldHalt`); refusals.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../../src/apply/events.ts';
import type { HostOutcome } from '../../../src/apply/outcomes.ts';
import { shouldHalt } from '../../../src/apply/waves.ts';
import type { Amount } from '../../../src/config-model.ts';
import { buildApplyReport } from '../../../src/report/apply-report.ts';
import type { GateExpectation, NamedReport } from '../../../src/report/report-merge.ts';
import { gateLine, mergeReports, ReportMergeRefused } from '../../../src/report/report-merge.ts';

const schema = (n: string) =>
  JSON.parse(readFileSync(new URL(`../../../schemas/${n}`, import.meta.url), 'utf8')) as object;
const valid = new Ajv2020({ allErrors: true, strict: true })
  .addSchema(schema('plan.schema.json'))
  .compile(schema('report.schema.json'));

const FP = `sha256:${'a'.repeat(64)}`;
const PLAN = `sha256:${'c'.repeat(64)}`;
const count = (value: number): Amount => ({ kind: 'count', value });
const percent = (value: number): Amount => ({ kind: 'percent', value });
const host = (name: string, wave: number, outcome: HostOutcome): HostResult => ({
  host: name,
  wave,
  outcome,
  message: outcome,
  steps: [],
  durationMs: 5,
});

function report(
  file: string,
  wave: number,
  shard: [number, number] | undefined,
  hosts: HostResult[],
  extra: {
    check?: boolean;
    interrupted?: boolean;
    fingerprint?: string;
    version?: string;
    plan?: string;
  } = {},
): NamedReport {
  return {
    file,
    report: buildApplyReport({
      results: hosts,
      halted: false,
      interrupted: extra.interrupted ?? false,
      check: extra.check ?? false,
      startedAt: `2026-01-01T00:0${String(wave)}:00.000Z`,
      durationMs: 1000,
      config: 'kpfleet.yml',
      configFingerprint: extra.fingerprint ?? FP,
      operator: 'ci@runner',
      kpfleetVersion: extra.version ?? '1.0.0',
      planFile: 'plan.json',
      planSha256: extra.plan ?? PLAN,
      wave,
      ...(shard ? { shard: { index: shard[0], count: shard[1] } } : {}),
    }),
  };
}

/**
 * What the gate of wave `wave` expects when the plan is exactly what these reports hold: each
 * host in the wave its report gives it, in the shard its report is (1/1 without one).
 */
function expectOf(
  reports: readonly NamedReport[],
  wave: number,
  more: Record<string, number> = {},
): GateExpectation {
  const hostWave = new Map<string, number>(Object.entries(more));
  const shards = new Map<string, number>();
  for (const { report: r } of reports)
    for (const h of r.hosts) {
      hostWave.set(h.host, h.wave);
      shards.set(h.host, r.shard?.index ?? 1);
    }
  return {
    planSha256: PLAN,
    configFingerprint: FP,
    kpfleetVersion: '1.0.0',
    wave,
    hostWave,
    shardOf: (h, n) => (n === 1 ? 1 : (shards.get(h) ?? 1)),
  };
}

const w1 = [
  report('w1-2.json', 1, [2, 2], [host('b', 1, 'changed'), host('z', 0, 'unreachable')]),
  report('w1-1.json', 1, [1, 2], [host('a', 0, 'unchanged')]),
];

describe('report merge', () => {
  it('joins the shards in wave then shard order, schema-valid, the summary recomputed', () => {
    const w2 = [
      report('w2-1.json', 2, [1, 2], [host('c', 2, 'changed'), host('d', 2, 'failed')]),
      report('w2-2.json', 2, [2, 2], [host('e', 2, 'changed')]),
    ];
    const all = [...w2, ...w1];
    const { report: merged, gate } = mergeReports(all, count(1), expectOf(all, 2));
    expect(valid(merged), JSON.stringify(valid.errors)).toBe(true);
    expect(merged.hosts.map((h) => h.host)).toEqual(['a', 'b', 'z', 'c', 'd', 'e']);
    expect(merged.summary.hosts).toBe(6);
    expect(merged.summary.outcomes).toMatchObject({
      changed: 3,
      failed: 1,
      unchanged: 1,
      unreachable: 1,
    });
    expect(merged.wave).toBeUndefined(); // two waves
    expect(merged.shard).toBeUndefined();
    expect(merged).toMatchObject({ startedAt: '2026-01-01T00:01:00.000Z', durationMs: 61_000 });
    // wave 0's unreachable host is no attempt: 1 of 4 attempted failed, 1 allowed
    expect(gate).toMatchObject({ failed: 1, attempted: 4, allowed: 1, spent: false, open: true });
    expect(gateLine(gate, count(1))).toBe(
      'the next wave may start: 1 of 4 hosts failed, max_failures 1 allows 1',
    );
    const shut = mergeReports(all, count(0), expectOf(all, 2)).gate;
    expect(shut).toMatchObject({ spent: true, open: false });
    expect(gateLine(shut, count(0))).toBe(
      'the next wave must not start: 1 of 4 hosts failed, max_failures 0 allows 0',
    );
  });

  it('decides as one apply decides: shouldHalt over every wave so far, percentages included', () => {
    const outcomes: HostOutcome[] = [
      'changed',
      'failed',
      'skipped',
      'stale',
      'locked',
      'unreachable',
    ];
    for (const budget of [count(0), count(1), count(2), percent(10), percent(50)]) {
      for (let seed = 0; seed < 30; seed++) {
        const hosts = Array.from({ length: 2 + (seed % 7) }, (_, i) =>
          host(
            `h${String(seed)}-${String(i)}`,
            1 + (i % 2),
            outcomes[(seed * 7 + i * 3) % outcomes.length] ?? 'changed',
          ),
        );
        const byWave = (w: number) => hosts.filter((h) => h.wave === w);
        const given = [
          report('1.json', 1, undefined, byWave(1)),
          report('2.json', 2, undefined, byWave(2)),
        ];
        const gate = mergeReports(given, budget, expectOf(given, 2)).gate;
        const failed = hosts.filter((h) =>
          ['failed', 'stale', 'locked', 'unreachable'].includes(h.outcome),
        ).length;
        const attempted = hosts.filter((h) => h.outcome !== 'skipped').length;
        expect(gate.open).toBe(!shouldHalt(failed, attempted, budget));
        expect([gate.failed, gate.attempted]).toEqual([failed, attempted]);
      }
    }
  });

  it('a missing shard or an interrupted run keeps the gate shut; --check runs are not budgeted', () => {
    const missing = mergeReports([w1[0] as NamedReport], count(5), expectOf(w1, 1)).gate;
    expect(missing).toMatchObject({
      open: false,
      missing: ['shard 1/2 of wave 1'],
      unreported: [{ wave: 0, hosts: ['a'] }],
    });
    expect(gateLine(missing, count(5))).toContain('no report for shard 1/2 of wave 1');
    const i = [
      report('i.json', 1, undefined, [host('a', 1, 'interrupted')], { interrupted: true }),
    ];
    const stopped = mergeReports(i, count(5), expectOf(i, 1));
    expect(stopped.report.interrupted).toBe(true);
    expect(gateLine(stopped.gate, count(5))).toContain('i.json: its run was interrupted');
    const c = [report('c.json', 1, undefined, [host('a', 1, 'stale')], { check: true })];
    const check = mergeReports(c, count(0), expectOf(c, 1));
    expect(check.gate.open).toBe(true);
    expect(gateLine(check.gate, count(0))).toContain('--check runs: nothing was applied');
  });

  it('refuses reports that are not shards of one run of one plan', () => {
    const refused = (rs: NamedReport[], wave = 2) => {
      try {
        mergeReports(rs, count(0), expectOf(rs, wave));
      } catch (e) {
        expect(e).toBeInstanceOf(ReportMergeRefused);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    const other = (extra: Parameters<typeof report>[4]) =>
      report('x.json', 2, undefined, [host('x', 2, 'changed')], extra);
    expect(refused([...w1, other({ fingerprint: `sha256:${'b'.repeat(64)}` })])).toContain(
      "was not made by this kpfleet from the plan's configuration",
    );
    expect(refused([...w1, other({ version: '2.0.0' })])).toContain(
      "was not made by this kpfleet from the plan's configuration",
    );
    expect(refused([...w1, other({ check: true })])).toContain('--check and a real apply');
    expect(refused([...w1, report('y.json', 2, undefined, [host('b', 2, 'changed')])])).toBe(
      'host b is in two reports: w1-2.json and y.json',
    );
    expect(refused([...w1, report('y.json', 1, [1, 2], [])])).toContain(
      'shard 1/2 of wave 1 is given twice',
    );
    expect(refused([...w1, report('y.json', 1, [1, 3], [])])).toContain('not shards of one count');
    expect(refused([])).toBe('no report to merge');
    const unwaved = { ...(w1[1] as NamedReport).report };
    delete unwaved.wave;
    expect(refused([{ file: 'u.json', report: unwaved }])).toContain(
      'is not the report of one wave',
    );
  });

  describe('the gate takes only what the plan says (review: forged, stale and missing reports)', () => {
    const attempt = (rs: NamedReport[], ex: GateExpectation, budget = count(0)) => {
      try {
        return mergeReports(rs, budget, ex);
      } catch (e) {
        expect(e).toBeInstanceOf(ReportMergeRefused);
        return (e as Error).message;
      }
    };
    const plan = { b: 1, z: 0, a: 0, c: 2, d: 2, e: 2 };
    const w2 = [
      report('w2-1.json', 2, [1, 2], [host('c', 2, 'changed'), host('d', 2, 'changed')]),
      report('w2-2.json', 2, [2, 2], [host('e', 2, 'changed')]),
    ];
    const ex = (wave: number) => ({
      ...expectOf([...w1, ...w2], wave),
      hostWave: new Map(Object.entries(plan).filter(([, w]) => w <= wave)),
    });

    it("refuses a report of another plan or an earlier rollout (the plan's sha256)", () => {
      const stale = report(
        'old-w2-1.json',
        2,
        [1, 2],
        [host('c', 2, 'changed'), host('d', 2, 'changed')],
        {
          plan: `sha256:${'d'.repeat(64)}`,
        },
      );
      expect(attempt([...w1, stale, w2[1] as NamedReport], ex(2))).toMatch(
        /old-w2-1\.json is not a report of this plan/,
      );
    });

    it('refuses a report of a wave after the one it closes', () => {
      expect(attempt([...w1, ...w2], ex(1))).toMatch(
        /w2-1\.json is a report of wave 2, after wave 1/,
      );
    });

    it('refuses a failed host reported as wave 0, and a host in the wrong wave or shard', () => {
      const hidden = report(
        'w1-2.json',
        1,
        [2, 2],
        [host('b', 0, 'failed'), host('z', 0, 'unreachable')],
      );
      expect(attempt([w1[1] as NamedReport, hidden], ex(1))).toMatch(
        /host b is reported in wave 0; the plan puts it in wave 1/,
      );
      const zFailed = report(
        'w1-2.json',
        1,
        [2, 2],
        [host('b', 1, 'changed'), host('z', 0, 'failed')],
      );
      expect(attempt([w1[1] as NamedReport, zFailed], ex(1))).toMatch(
        /host z had nothing to run, and is reported failed/,
      );
      const wrongShard = report(
        'w1-1.json',
        1,
        [1, 2],
        [host('a', 0, 'unchanged'), host('b', 1, 'changed')],
      );
      const rest = report('w1-2.json', 1, [2, 2], [host('z', 0, 'unreachable')]);
      expect(attempt([wrongShard, rest], ex(1))).toMatch(/host b is not in shard 1\/2/);
      const stranger = report(
        'w1-2.json',
        1,
        [2, 2],
        [host('b', 1, 'changed'), host('q', 1, 'changed')],
      );
      expect(attempt([w1[1] as NamedReport, stranger], ex(1))).toMatch(/host q is in no wave/);
    });

    it('stays shut when a wave before has no report at all, or a shard reports fewer hosts', () => {
      // gate 2 given only wave 2's reports: wave 1's hosts are unreported
      const only2 = attempt(w2, ex(2));
      expect(typeof only2).toBe('object');
      if (typeof only2 === 'object') {
        expect(only2.gate.open).toBe(false);
        expect(gateLine(only2.gate, count(0))).toMatch(/no report names b of wave 1/);
      }
      const empty = report('w2-2.json', 2, [2, 2], []);
      const thin = attempt([...w1, w2[0] as NamedReport, empty], ex(2));
      if (typeof thin !== 'object') throw new Error(thin);
      expect(thin.gate.open).toBe(false);
      expect(gateLine(thin.gate, count(0))).toMatch(/no report names e of wave 2/);
    });

    it('a merged report of a shut gate, fed back, keeps it shut', () => {
      const shutFirst = attempt([w1[1] as NamedReport], ex(1));
      if (typeof shutFirst !== 'object') throw new Error(shutFirst);
      expect(shutFirst.gate.open).toBe(false);
      const again = attempt([{ file: 'merged.json', report: shutFirst.report }], ex(1));
      if (typeof again !== 'object') throw new Error(again);
      expect(again.gate.open).toBe(false);
    });
  });
});
