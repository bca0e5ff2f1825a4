/**
 * The end of an apply (`report/apply-next.ts`): every host that did not do what was asked, named
 * with its reason (grouped, capped), the command to run next for what is left, and where the
 * report and audit log are.
 */
import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../../src/apply/events.ts';
import type { HostOutcome } from '../../../src/apply/outcomes.ts';
import { hostsToName, nextLines } from '../../../src/report/apply-next.ts';
import type { NextSteps } from '../../../src/report/apply-next.ts';
import { managerCountWords, summaryLines } from '../../../src/report/apply-text.ts';
import { plainStyle } from '../../../src/report/style.ts';

const result = (host: string, outcome: HostOutcome, message: string): HostResult => ({
  host,
  wave: 1,
  outcome,
  message,
  steps: [],
  durationMs: 0,
});
const NEXT: NextSteps = {
  apply: "kpfleet apply -c ops/kpfleet.yml --limit 'web*'",
  unlock: 'kpfleet unlock -c ops/kpfleet.yml --limit HOST',
  audit: '/var/log/kpfleet/audit.jsonl',
};

describe('hostsToName', () => {
  it('names failed, stale, skipped and interrupted hosts with their reasons; not the done ones', () => {
    const lines = hostsToName(
      [
        result('web01', 'changed', 'done'),
        result('web02', 'interrupted', 'interrupted after 1 of 2 changes'),
        result('web03', 'skipped', 'interrupted before it started'),
        result('web04', 'skipped', 'interrupted before it started'),
        result('web05', 'stale', 'its facts changed since the plan was made'),
        result('db01', 'unchanged', 'nothing to do'),
      ],
      plainStyle,
    );
    expect(lines).toEqual([
      '  stale: web05 — its facts changed since the plan was made',
      '  interrupted: web02 — interrupted after 1 of 2 changes',
      '  skipped: web03–web04 — interrupted before it started',
    ]);
  });

  it('long lists: the first names and a count; past 5 reasons, a count of the rest', () => {
    const many = Array.from({ length: 30 }, (_, i) =>
      result(`h${String(i * 2)}`, 'failed', i < 20 ? 'same' : `reason ${String(i)}`),
    );
    const lines = hostsToName(many, plainStyle);
    expect(lines[0]).toBe('  failed: h0, h2, h4, h6, h8, h10, h12, h14 and 12 more — same');
    expect(lines).toHaveLength(6);
    expect(lines[5]).toBe("  failed: and 6 more for other reasons (each host's is in the report)");
  });
});

describe('nextLines', () => {
  it('an interrupted run without a saved plan: apply again, with the same options', () => {
    const results = [result('web03', 'skipped', 'interrupted before it started')];
    expect(nextLines(results, false, true, false, NEXT, plainStyle)).toEqual([
      "Next: kpfleet apply -c ops/kpfleet.yml --limit 'web*': it reads the facts again and converges the rest",
      'Audit log: /var/log/kpfleet/audit.jsonl',
    ]);
  });

  it('a saved plan: plan again into it, then apply it', () => {
    const next = {
      ...NEXT,
      replan: { plan: 'kpfleet plan --out plan.json', apply: 'kpfleet apply plan.json' },
    };
    const lines = nextLines([result('w', 'stale', 'x')], false, false, false, next, plainStyle);
    expect(lines[0]).toBe(
      'Next: kpfleet plan --out plan.json, review it, then kpfleet apply plan.json: a saved plan is made once, for the facts it read',
    );
  });

  it('a failed rollback and a lock come first', () => {
    const lines = nextLines(
      [result('a', 'rollback-failed', 'x'), result('b', 'locked', 'y')],
      false,
      false,
      false,
      NEXT,
      plainStyle,
    );
    expect(lines[0]).toBe(
      "Next: look at the hosts whose rollback failed (their state is in the report); wait for the run that holds the locked hosts (kpfleet unlock -c ops/kpfleet.yml --limit HOST if it is gone); then kpfleet apply -c ops/kpfleet.yml --limit 'web*': it reads the facts again and converges the rest",
    );
  });

  it('every host done: no command, only where the records are', () => {
    const lines = nextLines([result('a', 'changed', '')], false, false, false, NEXT, plainStyle);
    expect(lines).toEqual(['Audit log: /var/log/kpfleet/audit.jsonl']);
  });

  it('a check with changes pending: the apply that makes them', () => {
    const lines = nextLines(
      [result('a', 'would-change', '')],
      false,
      false,
      true,
      { apply: 'kpfleet apply', report: 'r.json' },
      plainStyle,
    );
    expect(lines).toEqual(['Next: kpfleet apply to make these changes', 'Report: r.json']);
  });

  it('a path with terminal control is shown escaped', () => {
    const lines = nextLines(
      [],
      false,
      false,
      false,
      { apply: 'x', report: 'r\u001b[2J.json' },
      plainStyle,
    );
    expect(lines).toEqual(['Report: r\\x1b[2J.json']);
  });
});

describe('the managers at the end of a run', () => {
  it('counts the hosts of each manager their plan named, under the head line', () => {
    const klp: HostResult = {
      ...result('web03', 'blocked', 'not changed: the klp manager is not implemented yet'),
      manager: 'klp',
      managerReason: 'auto: no kpatch utility',
    };
    const kpatch = (host: string): HostResult => ({
      ...result(host, 'changed', 'done'),
      manager: 'kpatch',
      managerReason: 'auto: kpatch 0.9.9 is installed',
    });
    const lines = summaryLines(
      {
        results: [kpatch('web01'), kpatch('web02'), klp, result('db01', 'unreachable', 'x')],
        halted: false,
        interrupted: false,
        durationMs: 1000,
        check: false,
      },
      plainStyle,
    );
    expect(lines.slice(0, 2)).toEqual([
      'apply done in 1.0s: 4 hosts — 2 changed, 1 unreachable, 1 blocked',
      '  managers: kpatch on 2 hosts, klp on 1 host',
    ]);
    expect(managerCountWords([result('db01', 'unreachable', 'x')])).toBe('');
  });
});
