/**
 * The audit log's records: per host, a `started` record before its first change and an end record
 * (how it ended), the same fields in both; nothing else gets in.
 */
import { describe, expect, it } from 'vitest';
import { buildApplyReport } from '../../../src/report/apply-report.ts';
import type { ApplyReportInput } from '../../../src/report/apply-report.ts';
import {
  auditLines,
  auditRecord,
  auditRecords,
  auditRunOf,
  auditStartedRecord,
} from '../../../src/report/audit.ts';
import { FP_AFTER, FP_BEFORE, scriptedRun } from './apply-fixtures.ts';

function report(extra: Partial<ApplyReportInput> = {}) {
  return buildApplyReport({
    results: scriptedRun().results,
    halted: true,
    interrupted: false,
    check: false,
    startedAt: '2024-05-01T12:00:00.000Z',
    durationMs: 8200,
    config: 'kpfleet.yml',
    configCommit: '0123456789abcdef0123456789abcdef01234567-dirty',
    configFingerprint: `sha256:${'ab'.repeat(32)}`,
    operator: 'ops@bastion',
    kpfleetVersion: '0.1.0',
    ...extra,
  });
}

describe('auditRecords', () => {
  it('writes one record per host, in the report order, with the run fields', () => {
    const records = auditRecords(report(), {});
    expect(records.map((r) => [r.host, r.result])).toEqual([
      ['db01', 'unchanged'],
      ['web01', 'changed'],
      ['web02', 'failed'],
      ['web03', 'locked'],
      ['web04', 'skipped'],
    ]);
    for (const r of records) {
      expect(Object.keys(r)).toEqual([
        'time',
        'operator',
        'configCommit',
        'configFingerprint',
        'host',
        'before',
        'changes',
        'after',
        'result',
        'message',
      ]);
      expect(r.time).toBe('2024-05-01T12:00:00.000Z');
      expect(r.operator).toBe('ops@bastion');
      expect(r.configCommit).toBe('0123456789abcdef0123456789abcdef01234567-dirty');
      expect(r.configFingerprint).toBe(`sha256:${'ab'.repeat(32)}`);
    }
  });

  it('records the fingerprints before and after, and every step with its change', () => {
    const web02 = auditRecords(report(), {}).find((r) => r.host === 'web02');
    expect(web02).toEqual({
      time: '2024-05-01T12:00:00.000Z',
      operator: 'ops@bastion',
      configCommit: '0123456789abcdef0123456789abcdef01234567-dirty',
      configFingerprint: `sha256:${'ab'.repeat(32)}`,
      host: 'web02',
      before: { fingerprint: FP_BEFORE },
      changes: [
        {
          label: '+ load livepatch-x (livepatch_x)',
          action: 'load',
          ok: false,
          rollback: false,
          change: expect.objectContaining({ action: 'load', module: 'livepatch_x' }) as unknown,
          error: 'verification: /sys/kernel/livepatch/livepatch_x/enabled is 0',
        },
        {
          label: '- unload livepatch_x',
          action: 'unload',
          ok: true,
          rollback: true,
          change: expect.objectContaining({ action: 'unload', module: 'livepatch_x' }) as unknown,
        },
      ],
      after: { fingerprint: FP_BEFORE },
      result: 'failed',
      message:
        '+ load livepatch-x (livepatch_x): verification: /sys/kernel/livepatch/livepatch_x/enabled is 0; rolled back',
    });
    const web01 = auditRecords(report(), {}).find((r) => r.host === 'web01');
    expect(web01?.before).toEqual({ fingerprint: FP_BEFORE });
    expect(web01?.after).toEqual({ fingerprint: FP_AFTER });
  });

  it('writes null where the run or the host has no value', () => {
    const bare = report();
    delete bare.configCommit;
    delete bare.configFingerprint;
    const web03 = auditRecords(bare, {}).find((r) => r.host === 'web03');
    expect(web03?.configCommit).toBeNull();
    expect(web03?.configFingerprint).toBeNull();
    expect(web03?.before).toEqual({ fingerprint: null });
    expect(web03?.after).toEqual({ fingerprint: null });
    expect(web03?.changes).toEqual([]);
  });

  it('adds the facts the caller passes, to the host they belong to', () => {
    const facts = { kernel: '5.14.0-362.8.1.el9_3.x86_64', patches: ['livepatch_x'] };
    const records = auditRecords(report(), { hostFacts: new Map([['web01', facts]]) });
    expect(records.find((r) => r.host === 'web01')?.before).toEqual({
      fingerprint: FP_BEFORE,
      facts,
    });
    expect(records.find((r) => r.host === 'web02')?.before).toEqual({ fingerprint: FP_BEFORE });
  });

  it('keeps the step output (what the host printed) and the environment out', () => {
    const text = auditLines(auditRecords(report(), {}));
    expect(text).not.toContain('waiting (up to 15 seconds)');
    expect(text).not.toContain(process.env.HOME ?? '/nonexistent-home');
    expect(text).not.toMatch(/password|private_?key|SSH_AUTH_SOCK/i);
  });
});

describe('auditRecord and auditStartedRecord', () => {
  const run = {
    time: '2024-05-01T12:00:00.000Z',
    operator: 'ops@bastion',
    configCommit: null,
    configFingerprint: null,
  };

  it("a host's end record is the one the report gives it", () => {
    const r = report();
    const byHost = auditRecords(r, {});
    for (const h of r.hosts)
      expect(auditRecord(auditRunOf(r), h)).toEqual(byHost.find((x) => x.host === h.host));
  });

  it("an end record names the host's manager and why, as its plan did; none where not read", () => {
    const host = {
      host: 'web01',
      wave: 1,
      outcome: 'blocked' as const,
      message: 'not changed: the klp manager is not implemented yet',
      steps: [],
      durationMs: 0,
    };
    const klp = { ...host, manager: 'klp' as const, managerReason: 'auto: no kpatch utility' };
    expect(auditRecord(run, klp)).toMatchObject({
      host: 'web01',
      manager: 'klp',
      managerReason: 'auto: no kpatch utility',
    });
    expect(auditRecord(run, host)).not.toHaveProperty('manager');
  });

  it('a started record has the fields of every record, no step yet, the planned changes in its message', () => {
    const started = auditStartedRecord(run, 'web01', FP_BEFORE, [
      'upload livepatch-x.ko',
      '+ load livepatch_x',
    ]);
    expect(Object.keys(started)).toEqual(Object.keys(auditRecords(report(), {})[0] ?? {}));
    expect(started).toEqual({
      ...run,
      host: 'web01',
      before: { fingerprint: FP_BEFORE },
      changes: [],
      after: { fingerprint: null },
      result: 'started',
      message:
        "about to run 2 changes under this run's lock: upload livepatch-x.ko; + load livepatch_x",
    });
  });
});

describe('auditLines', () => {
  it('writes JSON Lines: a record a line, each ending with a newline', () => {
    const records = auditRecords(report(), {});
    const text = auditLines(records);
    const lines = text.split('\n');
    expect(lines).toHaveLength(records.length + 1);
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((l) => JSON.parse(l) as unknown)).toEqual(
      JSON.parse(JSON.stringify(records)) as unknown,
    );
  });

  it('keeps a record on one line whatever its strings hold', () => {
    const r = report({ operator: 'ops@bastion\nsecond line' });
    const text = auditLines(auditRecords(r, {}));
    expect(text.split('\n')).toHaveLength(6);
  });

  it('writes nothing for no records', () => {
    expect(auditLines([])).toBe('');
  });
});
