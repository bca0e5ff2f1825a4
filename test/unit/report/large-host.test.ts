/**
 * Issue 14 §3: a host with 140,000 modules and as many installed files, and a wave of 140,000
 * hosts, render without a RangeError (`Math.max(...list)` and `push(...list)` throw past about
 * 100,000 elements). Correctness only; speed belongs to `npm run bench`.
 */
import { describe, expect, it } from 'vitest';
import { selectHosts } from '../../../src/inventory/pattern.ts';
import type { Inventory } from '../../../src/inventory/types.ts';
import { buildPlan, planHost } from '../../../src/plan/plan.ts';
import { createPlainRenderer } from '../../../src/report/apply-plain.ts';
import { renderFacts } from '../../../src/report/facts.ts';
import { GITHUB_COMMENT_LIMIT, renderPlanMarkdown } from '../../../src/report/plan-markdown.ts';
import { renderPlanText } from '../../../src/report/plan-text.ts';
import { plainStyle } from '../../../src/report/style.ts';
import { desired, facts, inst, live, mod } from '../plan/builders.ts';

const N = 140_000;
const names = Array.from({ length: N }, (_, i) => `kpatch_m${String(i)}`);
const last = names[N - 1] ?? '';
const big = facts({
  patches: names.map((n) => live(n)),
  modules: names.map((n) => mod(n)),
  installed: names.map((n) => ({ ...inst(`${n}.ko`), sha256: 'ab'.repeat(32) })),
});

describe('a host with 140,000 live-patch modules and installed files', () => {
  it('kpfleet facts renders it', { timeout: 60_000 }, () => {
    const text = renderFacts([{ host: 'big', ok: true, facts: big, durationMs: 0 }], plainStyle);
    expect(text).toContain(`loaded     ${last}  enabled`);
    expect(text).toContain(`installed  ${last}  `);
  });

  it('kpfleet plan plans and renders it: text and markdown', { timeout: 60_000 }, () => {
    // nothing declares them and the policy is remove: an unload and an uninstall each
    const host = planHost({
      desired: desired([], { unmanaged: 'remove' }),
      facts: big,
      fingerprint: 'sha256:' + 'f1'.repeat(32),
      patches: new Map(),
      rollout: {},
      now: 0,
    });
    expect(host.changes).toHaveLength(2 * N);
    const plan = buildPlan([host], {
      createdAt: '2024-05-01T12:00:00Z',
      kpfleetVersion: '0.1.0',
      config: 'kpfleet.yml',
      configFingerprint: { sha256: `sha256:${'0'.repeat(64)}`, parts: {} },
    });
    expect(renderPlanText(plan, plainStyle)).toContain(`- unload ${last}`);
    const md = renderPlanMarkdown(plan);
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(md).toContain('1 more host left out');
  });
});

describe('140,000 hosts', () => {
  it('apply prints a wave of them', { timeout: 60_000 }, () => {
    const hosts = Array.from({ length: N }, (_, i) => `host${String(i).padStart(6, '0')}`);
    const lines: string[] = [];
    const r = createPlainRenderer((l) => lines.push(l), plainStyle, { now: () => new Date(0) });
    r.onEvent({ type: 'run-start', hosts: N, waves: [N], check: false, forks: 50 });
    r.onEvent({ type: 'wave-start', wave: 1, hosts });
    r.onEvent({ type: 'host-start', host: 'host000007', wave: 1 });
    r.onEvent({ type: 'host-phase', host: 'host000007', phase: 'rollback' });
    expect(lines.at(-1)).toMatch(/ host000007 {2}rolling back$/);
  });

  it('a group of them is selected from the inventory', () => {
    // built as data: the INI parser takes its time over 140,000 hosts (not what is tested here)
    const hosts = Array.from({ length: N }, (_, i) => `web${String(i).padStart(6, '0')}`);
    const group = (name: string, members: string[], children: string[] = []) => ({
      name,
      hosts: members,
      children,
      vars: {},
    });
    const inventory: Inventory = {
      file: 'big.ini',
      hosts: new Map(hosts.map((h) => [h, { name: h, vars: {}, groups: ['web'] }])),
      groups: new Map([
        ['all', group('all', [], ['web', 'ungrouped'])],
        ['web', group('web', hosts)],
        ['ungrouped', group('ungrouped', [])],
      ]),
    };
    expect(selectHosts(inventory, 'web')).toHaveLength(N);
    expect(selectHosts(inventory, 'all:&web')).toHaveLength(N);
  });
});
