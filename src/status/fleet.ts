/**
 * The fleet's coverage from its hosts': per group of kpfleet.yml (hosts by state, each declared
 * patch live or not), per CVE (hosts mitigated, exposed, unknown; the earliest covered-until), and
 * the summary a pipeline reads. Pure: every count is made from the hosts' `HostCoverage`, which
 * `status/host.ts` classified.
 */
import type { GroupSpec } from '../config-model.ts';
import { earliest } from './host.ts';
import type {
  CoverageState,
  CveCoverage,
  CveState,
  GroupCoverage,
  HostCoverage,
  StatusReport,
  StatusSummary,
} from './model.ts';
import { STATUS_FORMAT, STATUS_VERSION } from './model.ts';

const count = <K extends string>(into: Partial<Record<K, number>>, key: K): void => {
  into[key] = (into[key] ?? 0) + 1;
};

/** Whether a host's facts were read (its coverage is known). */
export function isKnown(h: Pick<HostCoverage, 'state'>): boolean {
  return h.state !== 'unreachable' && h.state !== 'error';
}

function groupCoverage(spec: GroupSpec, hosts: readonly HostCoverage[]): GroupCoverage {
  const members = hosts.filter((h) => h.groups.includes(spec.name));
  const states: Partial<Record<CoverageState, number>> = {};
  for (const h of members) count(states, h.state);
  const declared = [
    ...spec.loaded.map((patch) => ({ patch, declared: 'loaded' as const })),
    ...spec.installed.map((patch) => ({ patch, declared: 'installed' as const })),
  ];
  return {
    group: spec.name,
    hosts: members.length,
    states,
    patches: declared.map(({ patch, declared: d }) => {
      const row = { patch, declared: d, live: 0, notLive: 0, unfit: 0, unknown: 0 };
      for (const h of members) {
        const pc = h.patches.find((x) => x.patch === patch);
        if (!isKnown(h)) row.unknown++;
        else if (pc === undefined || !pc.fits) row.unfit++;
        else if (pc.live) row.live++;
        else row.notLive++;
      }
      return row;
    }),
  };
}

function cveCoverage(hosts: readonly HostCoverage[]): CveCoverage[] {
  const byCve = new Map<string, CveCoverage & { until: (string | undefined)[] }>();
  for (const h of hosts) {
    for (const c of h.cves) {
      let row = byCve.get(c.cve);
      if (!row) {
        row = { cve: c.cve, patches: [], mitigated: 0, exposed: 0, unknown: 0, until: [] };
        byCve.set(c.cve, row);
      }
      for (const p of c.patches) if (!row.patches.includes(p)) row.patches.push(p);
      row[c.state]++;
      if (c.state === 'mitigated') row.until.push(c.coveredUntil);
    }
  }
  return [...byCve.values()]
    .sort((a, b) => (a.cve < b.cve ? -1 : a.cve > b.cve ? 1 : 0))
    .map(({ until, ...row }) => {
      const first = earliest(until);
      return { ...row, patches: row.patches.sort(), ...(first ? { coveredUntil: first } : {}) };
    });
}

function summarize(hosts: readonly HostCoverage[]): StatusSummary {
  const states: Partial<Record<CoverageState, number>> = {};
  const cves: Record<CveState, number> = { mitigated: 0, exposed: 0, unknown: 0 };
  for (const h of hosts) {
    count(states, h.state);
    for (const c of h.cves) cves[c.state]++;
  }
  const first = earliest(hosts.map((h) => h.coveredUntil));
  return {
    hosts: hosts.length,
    states,
    rebootDue: hosts.filter((h) => h.rebootDue).length,
    cves,
    ...(first !== undefined ? { coveredUntil: first } : {}),
  };
}

export function buildStatus(
  hosts: HostCoverage[],
  groups: Iterable<GroupSpec>,
  meta: { createdAt: string; kpfleetVersion: string; config: string; limit?: string | undefined },
): StatusReport {
  return {
    format: STATUS_FORMAT,
    version: STATUS_VERSION,
    createdAt: meta.createdAt,
    kpfleetVersion: meta.kpfleetVersion,
    config: meta.config,
    ...(meta.limit !== undefined ? { limit: meta.limit } : {}),
    hosts,
    groups: [...groups].map((g) => groupCoverage(g, hosts)).filter((g) => g.hosts > 0),
    cves: cveCoverage(hosts),
    summary: summarize(hosts),
  };
}
