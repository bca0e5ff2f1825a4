/**
 * A plan that removes a patch says so, and which CVEs that re-opens on how many hosts: in the
 * text, the markdown and the confirmation prompt's words (`applyWords`); a replacement by a
 * cumulative successor that carries the CVE re-opens nothing and is never said to.
 */
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../../src/plan/plan.ts';
import type { HostPlan } from '../../../src/plan/model.ts';
import { applyWords } from '../../../src/report/plan.ts';
import { renderPlanMarkdown } from '../../../src/report/plan-markdown.ts';
import { renderPlanText } from '../../../src/report/plan-text.ts';
import { plainStyle } from '../../../src/report/style.ts';
import { facts, fileOf, filePatch, inst, loaded, plan as planOne, want } from '../plan/builders.ts';

const CVE = filePatch('cve-2024-1086', { cves: ['CVE-2024-1086'] });
const Q = filePatch('cve-q', { cves: ['CVE-2023-0001'] });
const P = filePatch('cve-p', { replaces: ['cve-q'], cves: ['CVE-2024-0002'] });
const META = {
  createdAt: '2024-05-01T12:00:00.000Z',
  kpfleetVersion: '0.1.0',
  config: 'kpfleet.yml',
  configFingerprint: { sha256: `sha256:${'0'.repeat(64)}`, parts: {} },
};

/** `n` hosts that unload CVE's patch, declared absent. */
function removing(n: number, from = 1): HostPlan[] {
  const one = planOne({
    patches: [CVE],
    want: [want(CVE.name, 'absent')],
    facts: facts({ ...loaded(CVE.module), installed: [inst(fileOf(CVE))] }),
  });
  return Array.from({ length: n }, (_, i) => ({
    ...one,
    host: `web${String(i + from).padStart(2, '0')}`,
  }));
}

function replacing(host: string): HostPlan {
  return {
    ...planOne({
      patches: [Q, P],
      want: [want(P.name, 'loaded')],
      facts: facts({ ...loaded(Q.module), installed: [inst(fileOf(Q))] }),
    }),
    host,
  };
}

describe('a plan that removes a patch', () => {
  const plan = buildPlan(removing(5), META);

  it('the text says what is removed and what that re-opens, on how many hosts', () => {
    const text = renderPlanText(plan, plainStyle);
    expect(text).toContain(`Removes: ${CVE.module} on 5 hosts`);
    expect(text).toContain('Reopens: CVE-2024-1086 on 5 hosts');
    expect(text).toContain('⚠ reopens CVE-2024-1086: no patch left on the host fixes it');
  });

  it('the markdown too, names in code spans', () => {
    const md = renderPlanMarkdown(plan);
    expect(md).toContain(`**Removes:** \`${CVE.module}\` on 5 hosts`);
    expect(md).toContain('**Reopens:** `CVE-2024-1086` on 5 hosts');
    expect(md).toContain('**Reopens** `CVE-2024-1086`: no patch left on the host fixes it.');
  });

  it('the prompt says it in plain lines with correct plurals', () => {
    expect(applyWords(plan)).toBe(
      'On 5 hosts: 5 removals (10 changes in all).\nThis reopens CVE-2024-1086 on 5 hosts.',
    );
    const one = buildPlan(removing(1), META);
    expect(applyWords(one)).toBe(
      'On 1 host: 1 removal (2 changes in all).\nThis reopens CVE-2024-1086 on 1 host.',
    );
  });

  it('a replacement by a cumulative successor that carries the CVE re-opens nothing', () => {
    const p = buildPlan([replacing('db01'), replacing('db02')], META);
    expect(renderPlanText(p, plainStyle)).not.toMatch(/reopens|Removes/i);
    expect(renderPlanMarkdown(p)).not.toMatch(/reopens|Removes/i);
    expect(applyWords(p)).toBe('On 2 hosts: 2 replacements (10 changes in all).');
  });

  it('loads, replacements and removals together', () => {
    const p = buildPlan([...removing(2), replacing('db01')], META);
    const loads = planOne({ patches: [CVE], want: [want(CVE.name, 'loaded')] });
    const all = buildPlan([...p.hosts, { ...loads, host: 'app01' }], META);
    expect(applyWords(all)).toBe(
      'On 4 hosts: 1 load, 1 replacement and 2 removals (12 changes in all).\nThis reopens CVE-2024-1086 on 2 hosts.',
    );
  });
});
