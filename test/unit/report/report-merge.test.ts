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
import type { NamedReport } from '../../../src/report/report-merge.ts';
import { gateLine, mergeReports, ReportMergeRefused } from '../../../src/report/report-merge.ts';

const schema = (n: string) =>
  JSON.parse(readFileSync(new URL(`../../../schemas/${n}`, import.meta.url), 'utf8')) as object;
const valid = new Ajv2020({ allErrors: true, strict: true })
  .addSchema(schema('plan.schema.json'))
  .compile(schema('report.schema.json'));

const FP = `sha256:${'a'.repeat(64)}`;
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
  extra: { check?: boolean; interrupted?: boolean; fingerprint?: string; version?: string } = {},
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
      wave,
      ...(shard ? { shard: { index: shard[0], count: shard[1] } } : {}),
    }),
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
    const { report: merged, gate } = mergeReports([...w2, ...w1], count(1));
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
    const shut = mergeReports([...w2, ...w1], count(0)).gate;
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
        const gate = mergeReports(
          [report('1.json', 1, undefined, byWave(1)), report('2.json', 2, undefined, byWave(2))],
          budget,
        ).gate;
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
    const missing = mergeReports([w1[0] as NamedReport], count(5)).gate;
    expect(missing).toMatchObject({ open: false, missing: ['shard 1/2 of wave 1'] });
    expect(gateLine(missing, count(5))).toContain('no report for shard 1/2 of wave 1');
    const stopped = mergeReports(
      [report('i.json', 1, undefined, [host('a', 1, 'interrupted')], { interrupted: true })],
      count(5),
    );
    expect(stopped.report.interrupted).toBe(true);
    expect(gateLine(stopped.gate, count(5))).toContain('i.json: its run was interrupted');
    const check = mergeReports(
      [report('c.json', 1, undefined, [host('a', 1, 'stale')], { check: true })],
      count(0),
    );
    expect(check.gate.open).toBe(true);
  });

  it('refuses reports that are not shards of one run of one plan', () => {
    const refused = (rs: NamedReport[]) => {
      try {
        mergeReports(rs, count(0));
      } catch (e) {
        expect(e).toBeInstanceOf(ReportMergeRefused);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    const other = (extra: Parameters<typeof report>[4]) =>
      report('x.json', 2, undefined, [host('x', 2, 'changed')], extra);
    expect(refused([...w1, other({ fingerprint: `sha256:${'b'.repeat(64)}` })])).toContain(
      'different configurations',
    );
    expect(refused([...w1, other({ version: '2.0.0' })])).toContain('different kpfleet versions');
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
});
