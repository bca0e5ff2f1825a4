/**
 * The crash guard in the planner (issue 15 point 4): a patch whose load took the host down (a
 * record left under an older boot id, facts/parse/load-records.ts) is not loaded there again.
 */
import { describe, expect, it } from 'vitest';
import type { SuspectLoad } from '../../../src/facts/model.ts';
import { factsFingerprint } from '../../../src/facts/fingerprint.ts';
import { facts, fileOf, filePatch, inst, loaded, plan, want } from './builders.ts';

const CVE = filePatch('cve-2024-1086', { cves: ['CVE-2024-1086'] });
const OTHER = filePatch('cve-2024-0001');
const SUSPECT: SuspectLoad = {
  module: CVE.module,
  patch: CVE.name,
  bootId: '0b8f6a2e-1111-4222-8333-944455556666',
  run: '2026-12-04T12:00:00.000Z-0a1b2c3d',
  time: '2026-12-04T12:00:05Z',
};

describe('planner: a patch suspected of crashing the host', () => {
  it('a plan that would load it blocks the host, naming the patch, when, which run, how to clear', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ suspects: [SUSPECT] }),
    });
    expect(p.status).toBe('blocked');
    expect(p.changes).toEqual([]);
    expect(p.reason).toBe(
      'suspected of crashing this host: cve-2024-1086 (loading at 2026-12-04T12:00:05Z, run 2026-12-04T12:00:00.000Z-0a1b2c3d); once someone has looked: kpfleet clear-suspect --limit web1',
    );
    const f = p.findings.find((x) => x.kind === 'suspect');
    expect(f).toMatchObject({ severity: 'error', patch: CVE.name, module: CVE.module });
    expect(f?.message).toContain('suspected of crashing this host');
    expect(f?.message).toContain(SUSPECT.time);
    expect(f?.message).toContain(`run ${SUSPECT.run ?? ''}`);
    expect(f?.message).toContain('kpfleet clear-suspect --limit web1 --patch cve-2024-1086');
  });

  it('without the record, the same host loads it (the record alone decides)', () => {
    const p = plan({ patches: [CVE], want: [want(CVE.name, 'loaded')], facts: facts() });
    expect(p.status).toBe('changes');
    expect(p.changes.map((c) => c.action)).toContain('load');
  });

  it('a suspect the plan does not load blocks nothing: another patch is loaded as planned', () => {
    const p = plan({
      patches: [CVE, OTHER],
      want: [want(OTHER.name, 'loaded')],
      facts: facts({ suspects: [SUSPECT] }),
    });
    expect(p.status).toBe('changes');
    expect(p.findings.filter((x) => x.kind === 'suspect')).toEqual([]);
  });

  it('a suspect loaded now (kpatch.service at boot) is a warning, not a block', () => {
    const p = plan({
      patches: [CVE],
      want: [want(CVE.name, 'loaded')],
      facts: facts({ ...loaded(CVE.module), installed: [inst(fileOf(CVE))], suspects: [SUSPECT] }),
    });
    expect(p.status).toBe('converged');
    expect(p.findings).toEqual([
      expect.objectContaining({ kind: 'suspect', severity: 'warning', patch: CVE.name }),
    ]);
  });

  it('the suspects are in the facts fingerprint; no suspects keep the fingerprint unchanged', () => {
    const base = facts();
    expect(factsFingerprint({ ...base, suspects: [] })).toBe(factsFingerprint(base));
    expect(factsFingerprint({ ...base, suspects: [SUSPECT] })).not.toBe(factsFingerprint(base));
  });
});
