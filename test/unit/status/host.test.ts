/**
 * A host's coverage (issue 17), case by case: facts × declared × plan → the host's state, each
 * declared CVE mitigated / exposed (and why) / unknown, covered until; and the fleet's counts.
 */
import { describe, expect, it } from 'vitest';
import type { Patch } from '../../../src/config-model.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import { hostFailure } from '../../../src/plan/plan.ts';
import { buildStatus } from '../../../src/status/fleet.ts';
import { catalogueCoverage, hostCoverage } from '../../../src/status/host.ts';
import type { HostCoverage } from '../../../src/status/model.ts';
import {
  DAY_MS,
  KERNEL,
  NEXT_KERNEL,
  catalogue,
  desired,
  facts,
  fileOf,
  filePatch,
  inst,
  live,
  loaded,
  plan,
  rhel,
  rpmInst,
  rpmPatch,
  want,
} from '../plan/builders.ts';
import type { Scenario } from '../plan/builders.ts';

const V1 = filePatch('fix-v1', { cves: ['CVE-2024-0001'], released: '2024-01-01' });
const V2 = filePatch('fix-v2', {
  cves: ['CVE-2024-0002'],
  replaces: ['fix-v1'],
  released: '2024-02-01',
  supportMs: 90 * DAY_MS,
});
const OTHER = filePatch('other', { cves: ['CVE-2024-0003'], kernels: [NEXT_KERNEL] });

/** The coverage of one host, planned at the builders' NOW (2024-03-01). */
function cover(s: Scenario & { facts?: HostFacts }): HostCoverage {
  const patches = catalogue(...s.patches);
  return hostCoverage({
    desired: desired(s.want ?? []),
    facts: s.facts ?? facts(),
    plan: plan(s),
    patches,
    catalogue: catalogueCoverage(
      patches,
      s.rebootDueAfterMs !== undefined ? { rebootDueAfterMs: s.rebootDueAfterMs } : {},
    ),
  });
}

const installedFacts = (p: Patch, over: Partial<HostFacts> = {}) =>
  facts({ ...loaded(p.module), installed: [inst(fileOf(p))], ...over });

describe('a host’s coverage', () => {
  it('names the manager its plan named, and why; none for a host not read', () => {
    const c = cover({ patches: [V1], want: [want('fix-v1', 'loaded')] });
    expect(c).toMatchObject({
      manager: 'kpatch',
      managerReason: 'auto: kpatch 0.9.7 is installed',
    });
    const klp = cover({
      patches: [V1],
      want: [want('fix-v1', 'loaded')],
      facts: facts({ kpatch: { installed: false } }),
    });
    expect(klp).toMatchObject({ manager: 'klp', managerReason: 'auto: no kpatch utility' });
  });

  it('protected: the declared patch is live and installed; its CVE mitigated until released + support', () => {
    const h = cover({
      patches: [V1, V2],
      want: [want('fix-v2', 'loaded')],
      facts: installedFacts(V2),
    });
    expect(h.state).toBe('protected');
    expect(h.patches).toEqual([
      expect.objectContaining({ patch: 'fix-v2', fits: true, live: true, installed: true }),
    ]);
    // a cumulative patch carries the CVEs of the patch it replaces
    expect(h.cves.map((c) => [c.cve, c.state, c.by])).toEqual([
      ['CVE-2024-0001', 'mitigated', ['fix-v2']],
      ['CVE-2024-0002', 'mitigated', ['fix-v2']],
    ]);
    // released 2024-02-01 + 90 days: covered through 2024-04-30, due from 2024-05-01
    expect(h.coveredUntil).toBe('2024-04-30');
    expect(h.cves[0]?.coveredUntil).toBe('2024-04-30');
    expect(h.rebootDue).toBe(false);
  });

  it('past its support window: still protected (the fix is live), and reboot due', () => {
    const h = cover({
      patches: [V1],
      want: [want('fix-v1', 'loaded')],
      facts: installedFacts(V1),
      rebootDueAfterMs: 30 * DAY_MS, // released 2024-01-01: due since 2024-01-31
    });
    expect(h.state).toBe('protected');
    expect(h.coveredUntil).toBe('2024-01-30');
    expect(h.rebootDue).toBe(true);
  });

  it('a patch’s own support wins over reboot_due_after, for reboot due as for covered until', () => {
    const short = filePatch('short', {
      cves: ['CVE-2024-0009'],
      released: '2024-02-20',
      supportMs: 5 * DAY_MS,
    });
    const h = cover({
      patches: [short],
      want: [want('short', 'loaded')],
      facts: installedFacts(short),
      rebootDueAfterMs: 365 * DAY_MS,
    });
    expect(h.coveredUntil).toBe('2024-02-24');
    expect(h.rebootDue).toBe(true);
  });

  it('reboot due only for the patch built for the running kernel, not another sharing its module', () => {
    // one module name, two kernels (validate allows it): the old build's window has passed
    const old = filePatch('old-build', {
      cves: ['CVE-2024-0007'],
      kernels: [NEXT_KERNEL],
      released: '2020-01-01',
      supportMs: 30 * DAY_MS,
    });
    const current = {
      ...filePatch('current-build', {
        cves: ['CVE-2024-0007'],
        released: '2024-02-20',
        supportMs: 300 * DAY_MS,
      }),
      module: old.module,
    };
    const h = cover({
      patches: [old, current],
      want: [want('old-build', 'loaded'), want('current-build', 'loaded')],
      facts: facts({ ...loaded(old.module), installed: [inst(fileOf(current))] }),
    });
    expect(h.coveredUntil).toBe('2024-12-15');
    expect(h.rebootDue).toBe(false);
  });

  it('a support end past year 9999 is written as a date (9999-12-31), never "+010009-12"', () => {
    const far = filePatch('far', {
      cves: ['CVE-2024-0008'],
      released: '9999-12-31',
      supportMs: 3650 * DAY_MS,
    });
    const h = cover({ patches: [far], want: [want('far', 'loaded')], facts: installedFacts(far) });
    expect(h.coveredUntil).toBe('9999-12-31');
    expect(h.cves[0]?.coveredUntil).toBe('9999-12-31');
    expect(h.patches[0]?.supportedUntil).toBe('9999-12-31');
  });

  it('exposed, not converged: declared loaded, fits, not loaded yet', () => {
    const h = cover({ patches: [V1], want: [want('fix-v1', 'loaded')] });
    expect(h.state).toBe('exposed');
    expect(h.plan).toBe('changes');
    expect(h.cves).toEqual([
      {
        cve: 'CVE-2024-0001',
        state: 'exposed',
        by: [],
        patches: ['fix-v1'],
        reason: 'not-converged',
      },
    ]);
    expect(h.coveredUntil).toBeUndefined();
  });

  it('a patch in transition, or loaded but disabled, is not live', () => {
    for (const state of [{ transition: true }, { enabled: false }]) {
      const h = cover({
        patches: [V1],
        want: [want('fix-v1', 'loaded')],
        facts: installedFacts(V1, { patches: [live(V1.module, state)] }),
      });
      expect(h.patches[0]?.live).toBe(false);
      expect(h.cves[0]?.state).toBe('exposed');
    }
  });

  it('uncovered: patches declared, none fits the running kernel — not protected, whatever the plan says', () => {
    const h = cover({ patches: [OTHER], want: [want('other', 'loaded')] });
    expect(h.plan).toBe('converged');
    expect(h.state).toBe('uncovered');
    expect(h.cves.map((c) => [c.state, c.reason])).toEqual([['exposed', 'uncovered']]);
  });

  it('one CVE uncovered among covered ones: the host is exposed, the CVE says why', () => {
    const h = cover({
      patches: [V1, OTHER],
      want: [want('fix-v1', 'loaded'), want('other', 'loaded')],
      facts: installedFacts(V1),
    });
    expect(h.state).toBe('exposed');
    expect(h.cves.map((c) => [c.cve, c.state, c.reason])).toEqual([
      ['CVE-2024-0001', 'mitigated', undefined],
      ['CVE-2024-0003', 'exposed', 'uncovered'],
    ]);
  });

  it('blocked: a transition in progress holds the host; its CVE is exposed because blocked', () => {
    const h = cover({
      patches: [V1],
      want: [want('fix-v1', 'loaded')],
      facts: facts({
        transition: { patch: 'something_else', enabling: true, tasks: [], tasksComplete: true },
      }),
    });
    expect(h.plan).toBe('blocked');
    expect(h.cves[0]?.reason).toBe('blocked');
  });

  it('a predecessor the live cumulative patch retired is no gap', () => {
    const h = cover({
      patches: [V1, V2],
      want: [want('fix-v1', 'loaded'), want('fix-v2', 'loaded')],
      facts: installedFacts(V2),
    });
    expect(h.state).toBe('protected');
    expect(h.cves.every((c) => c.state === 'mitigated')).toBe(true);
  });

  it('declared installed only: nothing to mitigate now (none), the file counted as installed', () => {
    const h = cover({
      patches: [V1],
      want: [want('fix-v1', 'installed')],
      facts: facts({ installed: [inst(fileOf(V1))] }),
    });
    expect(h.state).toBe('none');
    expect(h.cves).toEqual([]);
    expect(h.patches[0]).toMatchObject({ declared: 'installed', installed: true, live: false });
  });

  it('a file installed for another kernel is not installed for this one', () => {
    const h = cover({
      patches: [V1],
      want: [want('fix-v1', 'loaded')],
      facts: facts({
        ...loaded(V1.module),
        installed: [inst(fileOf(V1), { kernel: NEXT_KERNEL })],
      }),
    });
    expect(h.patches[0]).toMatchObject({ live: true, installed: false });
  });

  it('a file of the patch’s name but other content is not installed (plan installs it again)', () => {
    const stale = facts({
      ...loaded(V1.module),
      installed: [inst(fileOf(V1), { sha256: 'e'.repeat(64) })],
    });
    const s = { patches: [V1], want: [want('fix-v1', 'loaded')], facts: stale };
    expect(plan(s).findings.map((f) => f.kind)).toContain('checksum');
    expect(cover(s).patches[0]).toMatchObject({ live: true, installed: false });
  });

  it('an RPM patch is installed when its package is, and its %post put the module in /var/lib/kpatch', () => {
    const names = rhel(1, 3);
    const p = rpmPatch('el9', names, { cves: ['CVE-2024-0005'] });
    const h = cover({
      patches: [p],
      want: [want('el9', 'loaded')],
      facts: facts({ ...loaded(p.module), packages: [names.nvra], installed: [inst(names.file)] }),
    });
    expect(h.patches[0]).toMatchObject({ live: true, installed: true });
    expect(h.state).toBe('protected');
  });

  it('an RPM patch whose module is not in /var/lib/kpatch is not installed (plan: lost at boot)', () => {
    const names = rhel(1, 3);
    const p = rpmPatch('el9', names, { cves: ['CVE-2024-0005'] });
    const s = {
      patches: [p],
      want: [want('el9', 'loaded')],
      facts: facts({
        ...loaded(p.module),
        packages: [names.nvra],
        rpmInstalled: [rpmInst(names.file)],
      }),
    };
    const installs = plan(s).changes.filter((c) => c.action === 'install');
    expect(installs.map((c) => c.reason)).toEqual([
      expect.stringMatching(/would not load at boot/) as string,
    ]);
    expect(cover(s).patches[0]).toMatchObject({ live: true, installed: false });
  });

  it('unreachable and error: every declared CVE unknown, and why', () => {
    for (const unreachable of [true, false]) {
      const patches = catalogue(V1);
      const h = hostCoverage({
        desired: desired([want('fix-v1', 'loaded')]),
        facts: undefined,
        plan: hostFailure(
          'web1',
          ['all', 'web'],
          { code: 'E_UNREACHABLE', message: 'no route' },
          unreachable,
        ),
        patches,
        catalogue: catalogueCoverage(patches, {}),
      });
      expect(h.state).toBe(unreachable ? 'unreachable' : 'error');
      expect(h.cves).toEqual([
        expect.objectContaining({
          state: 'unknown',
          reason: unreachable ? 'unreachable' : 'error',
        }),
      ]);
      expect(h.patches[0]).toMatchObject({ live: false, installed: false, fits: false });
    }
  });

  it('nothing declared: none', () => {
    expect(cover({ patches: [V1] }).state).toBe('none');
  });
});

describe('the fleet’s coverage', () => {
  it('counts hosts by state per group, each patch live / not live / unfit / unknown, CVEs across hosts', () => {
    const patches = catalogue(V1, OTHER);
    const covered = catalogueCoverage(patches, {});
    const one = (host: string, f: HostFacts | undefined, groups = ['all', 'web']) => {
      const d = desired([want('fix-v1', 'loaded'), want('other', 'installed')], { host, groups });
      const p = f
        ? plan({ patches: [V1, OTHER], want: d.patches, facts: f })
        : hostFailure(host, groups, { code: 'E_UNREACHABLE', message: 'x' }, true);
      return hostCoverage({ desired: d, facts: f, plan: p, patches, catalogue: covered });
    };
    const hosts = [
      one('web1', installedFacts(V1)),
      one('web2', facts()),
      one('web3', facts({ kernel: NEXT_KERNEL, kernels: [NEXT_KERNEL] })),
      one('web4', undefined),
    ];
    const r = buildStatus(
      hosts,
      [
        { name: 'web', loaded: ['fix-v1'], installed: ['other'], absent: [] },
        { name: 'db', loaded: ['fix-v1'], installed: [], absent: [] },
      ],
      { createdAt: '2024-03-01T00:00:00.000Z', kpfleetVersion: 't', config: 'kpfleet.yml' },
    );
    expect(r.hosts.map((h) => h.state)).toEqual(['protected', 'exposed', 'exposed', 'unreachable']);
    expect(r.groups).toEqual([
      {
        group: 'web',
        hosts: 4,
        states: { protected: 1, exposed: 2, unreachable: 1 },
        patches: [
          { patch: 'fix-v1', declared: 'loaded', live: 1, notLive: 1, unfit: 1, unknown: 1 },
          // built for NEXT_KERNEL: only web3 runs it
          { patch: 'other', declared: 'installed', live: 0, notLive: 1, unfit: 2, unknown: 1 },
        ],
      },
    ]);
    expect(r.cves).toEqual([
      { cve: 'CVE-2024-0001', patches: ['fix-v1'], mitigated: 1, exposed: 2, unknown: 1 },
    ]);
    expect(r.summary).toEqual({
      hosts: 4,
      states: { protected: 1, exposed: 2, unreachable: 1 },
      rebootDue: 0,
      cves: { mitigated: 1, exposed: 2, unknown: 1 },
    });
    expect(KERNEL).not.toBe(NEXT_KERNEL);
  });
});
