/**
 * Issue 17, "Words that do not mislead": the text plan names uncovered hosts apart from the
 * converged ones, and groups hosts whose blocks say the same thing (`--detailed`: a block each).
 */
import { describe, expect, it } from 'vitest';
import type { HostPlan } from '../../../src/plan/model.ts';
import { hostList } from '../../../src/report/host-names.ts';
import { renderPlanMarkdown } from '../../../src/report/plan-markdown.ts';
import { renderPlanText } from '../../../src/report/plan-text.ts';
import { colorStyle, plainStyle } from '../../../src/report/style.ts';
import {
  EL8,
  EL9,
  EL9_NEWER,
  demoConvergedPlan,
  demoPlan,
  hostPlan,
  loadChanges,
  planOf,
} from './demo-plan-fixture.ts';

const lines = (text: string) => text.split('\n').length;

describe('uncovered hosts are not converged', () => {
  it("the demo's last plan: 11 converged, batch04 uncovered (exposed) with its kernel", () => {
    const text = renderPlanText(demoConvergedPlan(), plainStyle);
    expect(text).not.toContain('12 hosts converged');
    expect(text).not.toContain('12 converged');
    expect(text).toContain(
      [
        '✓ 11 hosts converged',
        `⚠ 1 host uncovered (exposed): batch04 runs ${EL9_NEWER}, which no declared patch fits`,
        '',
        'Plan: 12 hosts — 0 to change, 11 converged, 0 blocked, 0 errors, 0 unreachable, 1 uncovered (exposed)',
      ].join('\n'),
    );
    // the host's own block still says what the planner found
    expect(text).toMatch(
      /^batch04 {2}5\.14\.0-570\S* {2}facts sha256:\w+ {2}uncovered: nothing declared fits[^\n]*\n {2}manager kpatch \(auto: kpatch 0\.9\.9 is installed\)\n {2}! warning: no declared patch fits/m,
    );
    expect(renderPlanText(demoConvergedPlan(), colorStyle)).toContain(
      `\u001b[33muncovered: nothing declared fits kernel ${EL9_NEWER}\u001b[39m`,
    );
    expect(demoConvergedPlan().summary).toMatchObject({ converged: 12, uncovered: 1 });
  });

  it('names uncovered hosts whatever their status, grouped by kernel', () => {
    const uncovered = (h: HostPlan, severity: 'warning' | 'error'): HostPlan => ({
      ...h,
      findings: [
        { kind: 'uncovered', severity, message: `no declared patch fits kernel ${h.kernel ?? ''}` },
      ],
    });
    const plan = planOf([
      uncovered(hostPlan('a1', 'a', EL9_NEWER, []), 'warning'),
      uncovered(hostPlan('a2', 'a', EL9_NEWER, []), 'warning'),
      { ...uncovered(hostPlan('b1', 'b', EL8, []), 'error'), status: 'blocked' },
      hostPlan('c1', 'c', EL9, []),
    ]);
    const text = renderPlanText(plan, plainStyle);
    expect(text).toContain(
      `⚠ 3 hosts uncovered (exposed): a1–a2 run ${EL9_NEWER}; b1 runs ${EL8}: no declared patch fits these kernels`,
    );
    expect(text).toContain('✓ 1 host converged: c1');
    expect(text).toContain(
      '0 to change, 1 converged, 1 blocked, 0 errors, 0 unreachable, 3 uncovered (exposed)',
    );
  });

  it('markdown: counted apart in the title and the table, and named with their kernels', () => {
    const md = renderPlanMarkdown(demoConvergedPlan());
    expect(md.split('\n')[0]).toBe(
      '## kpfleet plan: 12 hosts — 0 to change, 11 converged, 0 blocked, 0 errors, 0 unreachable, 1 uncovered (exposed)',
    );
    expect(md).toContain('| `batch` | 4 | 0 | 3 | 0 | 0 | 1 |');
    expect(md).toContain('| **all hosts** | 12 | 0 | 11 | 0 | 0 | 1 |');
    expect(md).toContain('<details><summary><code>batch04</code> — uncovered, 1 warning</summary>');
    expect(md).toContain(`**uncovered**: \`nothing declared fits kernel ${EL9_NEWER}\``);
    expect(md).toContain(
      `**Uncovered:** 1 host uncovered (exposed): \`batch04\` runs \`${EL9_NEWER}\`, which no declared patch fits`,
    );
  });

  it('colours the uncovered line as a warning', () => {
    const text = renderPlanText(demoConvergedPlan(), colorStyle);
    expect(text).toContain('\u001b[33m⚠ 1 host uncovered (exposed): batch04');
  });
});

describe('hosts with the same block share it', () => {
  it("the demo's first plan in well under half the lines of a block per host", () => {
    const grouped = renderPlanText(demoPlan(), plainStyle);
    const detailed = renderPlanText(demoPlan(), plainStyle, { detailed: true });
    expect(lines(detailed)).toBeGreaterThan(70);
    expect(lines(grouped)).toBeLessThan(lines(detailed) / 2);
    const heads = grouped
      .split('\n')
      .filter((l) => /^\S/.test(l) && !/^(Plan|Changes|Findings|Managers|Closes|⚠|✓)/.test(l));
    expect(heads.map((l) => l.split('  ')[0])).toEqual([
      'web01–web05 (5 hosts)',
      'db01, db03 (2 hosts)', // db02 has a finding of its own
      'db02',
      'batch01–batch03 (3 hosts)',
      'batch04',
    ]);
    // every change of every host is still there, once per group
    expect(grouped).toContain('  + load el9-nf-tables-fix (kpatch_nf_tables_fix)');
    expect(grouped.match(/\+ load el8-cve-2024-1086/g)).toHaveLength(2);
    // the summary is the plan's, not the groups'
    expect(grouped).toContain('Plan: 12 hosts — 11 to change, 0 converged');
  });

  it('--detailed: a block per host, as before', () => {
    const detailed = renderPlanText(demoPlan(), plainStyle, { detailed: true });
    for (const h of ['web01', 'web02', 'web05', 'db01', 'db03', 'batch03'])
      expect(detailed).toMatch(new RegExp(`^${h} {2}`, 'm'));
    expect(detailed).not.toContain('hosts)');
    expect(detailed.match(/\+ load el9-nf-tables-fix/g)).toHaveLength(5);
  });

  it('1,000 hosts with 3 distinct change sets in under 40 lines', () => {
    const sets = [
      loadChanges('p1', 'kpatch_p1', EL9, 'web'),
      loadChanges('p2', 'kpatch_p2', EL9, 'web'),
      loadChanges('p3', 'kpatch_p3', EL8, 'db'),
    ];
    const hosts = Array.from({ length: 1000 }, (_, i) =>
      hostPlan(
        `node${String(i).padStart(4, '0')}`,
        'web',
        i % 3 === 2 ? EL8 : EL9,
        sets[i % 3] ?? [],
        [],
        `sha256:${String(i).padStart(64, '0')}`,
      ),
    );
    const text = renderPlanText(planOf(hosts), plainStyle);
    expect(lines(text)).toBeLessThan(40);
    expect(text).toContain(
      'node0000, node0003, node0006, node0009, node0012, node0015, node0018, node0021 and 326 more (334 hosts)',
    );
    // the facts differ from host to host: no fingerprint is shown for a group
    expect(text).not.toMatch(/hosts\)[^\n]*sha256:/);
  });

  it('never merges hosts whose changes, reasons, findings, status or kernel differ', () => {
    const base = () => loadChanges('p1', 'kpatch_p1', EL9, 'web');
    const otherReason = base().map((c, i) =>
      i === 2 ? { ...c, reason: 'declared loaded by group db' } : c,
    );
    const otherChange = base().slice(0, 2);
    const warned = hostPlan('h05', 'web', EL9, base(), [
      { kind: 'reboot-due', severity: 'warning', message: 'x' },
    ]);
    const plan = planOf([
      hostPlan('h01', 'web', EL9, base()),
      hostPlan('h02', 'web', EL9, base()),
      hostPlan('h03', 'web', EL9, otherReason),
      hostPlan('h04', 'web', EL9, otherChange),
      warned,
      hostPlan('h06', 'web', EL9_NEWER, base()),
      {
        ...hostPlan('h07', 'web', EL9, base()),
        status: 'blocked',
        reason: 'kpatch is not installed',
      },
      hostPlan('h08', 'web', EL9, base()),
    ]);
    const heads = renderPlanText(plan, plainStyle)
      .split('\n')
      .filter((l) => /^h\d/.test(l))
      .map((l) => l.split('  ')[0]);
    expect(heads).toEqual(['h01–h02, h08 (3 hosts)', 'h03', 'h04', 'h05', 'h06', 'h07']);
  });

  it('host names in a group header are made safe to print, as in a block of their own', () => {
    const changes = loadChanges('p1', 'kpatch_p1', EL9, 'web');
    const plan = planOf([
      hostPlan('evil\u001b[2J01', 'web', EL9, changes),
      hostPlan('evil\u001b[2J02', 'web', EL9, changes),
    ]);
    const text = renderPlanText(plan, plainStyle);
    expect(text).not.toContain('\u001b');
    expect(text).toMatch(/^evil\S*01–evil\S*02 \(2 hosts\)/m);
  });
});

describe('hostList', () => {
  it('compresses runs of consecutive numbers with one prefix, in the order given', () => {
    expect(hostList(['web01', 'web02', 'web04'], 8)).toBe('web01–web02, web04');
    expect(hostList(['web01', 'web02', 'web03', 'db1', 'db2'], 8)).toBe('web01–web03, db1–db2');
    expect(hostList(['a', 'b', 'web1'], 8)).toBe('a, b, web1');
    expect(hostList(['web9', 'web10'], 8)).toBe('web9, web10'); // not the same width
    expect(hostList(['web02', 'web01'], 8)).toBe('web02, web01');
    expect(hostList(['x1', 'y2'], 8)).toBe('x1, y2');
    expect(hostList([], 8)).toBe('');
  });

  it('past the limit, says how many hosts are left', () => {
    const names = ['a', 'b', 'c', 'd1', 'd2', 'd3', 'e', 'f', 'g', 'h', 'i'];
    expect(hostList(names, 4)).toBe('a, b, c, d1–d3 and 5 more');
    expect(hostList(names, 8, (s) => `\`${s}\``)).toBe(
      '`a`, `b`, `c`, `d1`–`d3`, `e`, `f`, `g`, `h` and 1 more',
    );
  });
});
