/**
 * A large status report built from the fixture's host shapes (status-fixture.ts): n hosts, each a
 * copy of one fixture host under a new name, spread over ten groups per shape kind, with the
 * groups' matrix, the CVE rows and the summary counted from the hosts. For renderers' scale
 * tests (the HTML page at 10,000 hosts); the counting here is a test's, not the product's.
 */
import type {
  CoverageState,
  CveCoverage,
  GroupCoverage,
  HostCoverage,
  StatusReport,
} from '../../../src/status/model.ts';
import { statusFixture } from './status-fixture.ts';

type Cell = 'live' | 'notLive' | 'unfit' | 'unknown';

function cellOf(h: HostCoverage, patch: string): Cell | undefined {
  const p = h.patches.find((x) => x.patch === patch);
  if (p === undefined) return undefined;
  if (h.state === 'unreachable' || h.state === 'error') return 'unknown';
  return p.live ? 'live' : p.fits ? 'notLive' : 'unfit';
}

const bump = <K extends string>(m: Partial<Record<K, number>>, k: K) => {
  m[k] = (m[k] ?? 0) + 1;
};

function groupsOf(hosts: HostCoverage[]): GroupCoverage[] {
  const names = [...new Set(hosts.map((h) => h.groups[1] ?? 'all'))].sort();
  return names.map((group) => {
    const members = hosts.filter((h) => h.groups.includes(group));
    const states: Partial<Record<CoverageState, number>> = {};
    for (const h of members) bump(states, h.state);
    const patches = new Map<string, GroupCoverage['patches'][number]>();
    for (const h of members) {
      for (const p of h.patches) {
        let row = patches.get(p.patch);
        if (row === undefined) {
          row = { patch: p.patch, declared: p.declared, live: 0, notLive: 0, unfit: 0, unknown: 0 };
          patches.set(p.patch, row);
        }
        const cell = cellOf(h, p.patch);
        if (cell !== undefined) row[cell]++;
      }
    }
    return { group, hosts: members.length, states, patches: [...patches.values()] };
  });
}

function cvesOf(hosts: HostCoverage[], base: CveCoverage[]): CveCoverage[] {
  return base.map((c) => {
    const row: CveCoverage = {
      cve: c.cve,
      patches: c.patches,
      mitigated: 0,
      exposed: 0,
      unknown: 0,
    };
    for (const h of hosts) {
      for (const hc of h.cves) {
        if (hc.cve !== c.cve) continue;
        row[hc.state]++;
        const until = hc.coveredUntil;
        if (until !== undefined && (row.coveredUntil === undefined || until < row.coveredUntil)) {
          row.coveredUntil = until;
        }
      }
    }
    return row;
  });
}

/** n hosts named `<shape>-<i>`; host i has the shape of fixture host i mod 6. */
export function scaleStatusReport(n: number): StatusReport {
  const base = statusFixture();
  const shapes = base.hosts;
  const hosts: HostCoverage[] = [];
  for (let i = 0; i < n; i++) {
    const s = shapes[i % shapes.length];
    if (s === undefined) throw new Error('the fixture has hosts');
    const kind = s.groups[1] ?? 'all';
    hosts.push({
      ...s,
      host: `${s.host}-${String(i)}`,
      groups: ['all', `${kind}-${String(i % 10)}`],
    });
  }
  const states: Partial<Record<CoverageState, number>> = {};
  const cves = { mitigated: 0, exposed: 0, unknown: 0 };
  let rebootDue = 0;
  let coveredUntil: string | undefined;
  for (const h of hosts) {
    bump(states, h.state);
    for (const c of h.cves) cves[c.state]++;
    if (h.rebootDue) rebootDue++;
    if (
      h.coveredUntil !== undefined &&
      (coveredUntil === undefined || h.coveredUntil < coveredUntil)
    ) {
      coveredUntil = h.coveredUntil;
    }
  }
  return {
    ...base,
    hosts,
    groups: groupsOf(hosts),
    cves: cvesOf(hosts, base.cves),
    summary: {
      hosts: n,
      states,
      rebootDue,
      cves,
      ...(coveredUntil === undefined ? {} : { coveredUntil }),
    },
  };
}
