/**
 * A status report written by hand for the renderers' unit tests: one host in every coverage
 * state, a CVE mitigated on some hosts and exposed on others, a reboot-due host, an unreachable
 * one, and names a renderer must escape. Tests of real fleets build theirs from facts
 * (test/e2e/fleet/cli-status.test.ts); this one pins what each renderer does with each case.
 */
import type { HostCoverage, PatchCoverage, StatusReport } from '../../../src/status/model.ts';

const el9Cumulative3: PatchCoverage = {
  patch: 'el9-cumulative-3',
  module: 'kpatch_5_14_0_362_8_1_1_3',
  declared: 'loaded',
  fits: true,
  live: true,
  installed: true,
  cves: ['CVE-2023-4623', 'CVE-2023-5178'],
  supportedUntil: '2027-03-01',
};

const web01: HostCoverage = {
  host: 'web01',
  groups: ['all', 'web'],
  state: 'protected',
  kernel: '5.14.0-362.8.1.el9_3.x86_64',
  arch: 'x86_64',
  os: 'rhel',
  manager: 'kpatch',
  managerReason: 'auto: kpatch 0.9.9 is installed',
  plan: 'converged',
  reason: 'as declared: 1 patch loaded and installed',
  patches: [el9Cumulative3],
  cves: [
    {
      cve: 'CVE-2023-4623',
      state: 'mitigated',
      by: ['el9-cumulative-3'],
      patches: ['el9-cumulative-3'],
      coveredUntil: '2027-03-01',
    },
    {
      cve: 'CVE-2023-5178',
      state: 'mitigated',
      by: ['el9-cumulative-3'],
      patches: ['el9-cumulative-3'],
      coveredUntil: '2027-03-01',
    },
  ],
  coveredUntil: '2027-03-01',
  rebootDue: false,
};

const web02: HostCoverage = {
  ...web01,
  host: 'web02',
  state: 'exposed',
  plan: 'changes',
  reason: '2 changes to reach the declared state',
  patches: [{ ...el9Cumulative3, live: false, installed: false }],
  cves: web01.cves.map((c) => ({
    cve: c.cve,
    patches: c.patches,
    state: 'exposed' as const,
    by: [],
    reason: 'not-converged' as const,
  })),
  rebootDue: false,
};
delete web02.coveredUntil;

const web03: HostCoverage = {
  ...web01,
  host: 'web03',
  coveredUntil: '2026-11-01',
  patches: [{ ...el9Cumulative3, supportedUntil: '2026-11-01' }],
  cves: web01.cves.map((c) => ({ ...c, coveredUntil: '2026-11-01' })),
  rebootDue: true,
};

const batch04: HostCoverage = {
  host: 'batch04',
  groups: ['all', 'web'],
  state: 'uncovered',
  kernel: '5.14.0-284.11.1.el9_2.x86_64',
  arch: 'x86_64',
  os: 'rhel',
  manager: 'kpatch',
  managerReason: 'auto: kpatch 0.9.9 is installed',
  plan: 'converged',
  reason: 'nothing declared fits kernel 5.14.0-284.11.1.el9_2.x86_64',
  patches: [{ ...el9Cumulative3, fits: false, live: false, installed: false }],
  cves: web02.cves.map((c) => ({ ...c, reason: 'uncovered' as const })),
  rebootDue: false,
};

const db01: HostCoverage = {
  host: 'db01',
  groups: ['all', 'db'],
  state: 'none',
  kernel: '4.18.0-477.10.1.el8_8.x86_64',
  arch: 'x86_64',
  os: 'rhel',
  manager: 'klp',
  managerReason: 'auto: no kpatch utility',
  plan: 'converged',
  reason: 'as declared: 1 patch installed',
  patches: [
    {
      patch: 'cve-2024-1086',
      module: 'livepatch_cve_2024_1086',
      declared: 'installed',
      fits: true,
      live: false,
      installed: true,
      cves: ['CVE-2024-1086'],
    },
  ],
  cves: [],
  rebootDue: false,
};

/** A host name a renderer must escape in every format (HTML, CSV, label values). */
const odd: HostCoverage = {
  host: 'odd-<b>"x",=1',
  groups: ['all', 'web'],
  state: 'unreachable',
  plan: 'unreachable',
  reason: 'not reached',
  patches: [{ ...el9Cumulative3, live: false, installed: false, fits: false }],
  cves: web02.cves.map((c) => ({
    ...c,
    state: 'unknown' as const,
    reason: 'unreachable' as const,
  })),
  rebootDue: false,
  error: {
    code: 'E_UNREACHABLE',
    message: 'connect ECONNREFUSED 127.0.0.1:22',
  },
};

/** The report; `createdAt` fixed so a renderer's output is stable. */
export function statusFixture(): StatusReport {
  const hosts = [web01, web02, web03, batch04, db01, odd];
  return {
    format: 'kpfleet-status',
    version: 1,
    createdAt: '2026-12-04T12:00:00.000Z',
    kpfleetVersion: '0.0.0-test',
    config: 'kpfleet.yml',
    hosts,
    groups: [
      {
        group: 'web',
        hosts: 5,
        states: { protected: 2, exposed: 1, uncovered: 1, unreachable: 1 },
        patches: [
          {
            patch: 'el9-cumulative-3',
            declared: 'loaded',
            live: 2,
            notLive: 1,
            unfit: 1,
            unknown: 1,
          },
        ],
      },
      {
        group: 'db',
        hosts: 1,
        states: { none: 1 },
        patches: [
          {
            patch: 'cve-2024-1086',
            declared: 'installed',
            live: 0,
            notLive: 1,
            unfit: 0,
            unknown: 0,
          },
        ],
      },
    ],
    cves: [
      {
        cve: 'CVE-2023-4623',
        patches: ['el9-cumulative-3'],
        mitigated: 2,
        exposed: 2,
        unknown: 1,
        coveredUntil: '2026-11-01',
      },
      {
        cve: 'CVE-2023-5178',
        patches: ['el9-cumulative-3'],
        mitigated: 2,
        exposed: 2,
        unknown: 1,
        coveredUntil: '2026-11-01',
      },
    ],
    summary: {
      hosts: 6,
      states: { protected: 2, exposed: 1, uncovered: 1, none: 1, unreachable: 1 },
      rebootDue: 1,
      cves: { mitigated: 4, exposed: 4, unknown: 2 },
      coveredUntil: '2026-11-01',
    },
  };
}

/** The host of `report` named `name`; throws when there is none (a test written wrong). */
export function fixtureHost(report: StatusReport, name: string): HostCoverage {
  const h = report.hosts.find((x) => x.host === name);
  if (!h) throw new Error(`no host ${name} in the report`);
  return h;
}
