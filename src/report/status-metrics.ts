/**
 * The status report as metrics (`kpfleet status --format openmetrics`): Prometheus text that
 * node_exporter's textfile collector and a pushgateway read, and valid OpenMetrics too (HELP and
 * TYPE for every family, no blank line, `# EOF` at the end, which the Prometheus parser takes
 * for a comment). All families are gauges (no name ends in _total); no sample carries a
 * timestamp (the textfile collector refuses them); families, hosts, groups, patches and CVEs in
 * a fixed order. docs/status-metrics.md says what each family means and how to collect it.
 *
 * Host names and kernel releases come from hosts and inventories: every string is made safe
 * first (safe-text: no terminal control when the text is printed), then a label value has its
 * backslashes, double quotes and line feeds escaped, so it cannot end its label or its line.
 */
import { MANAGER_NAMES } from '../config-model.ts';
import { COVERAGE_STATES } from '../status/model.ts';
import type { HostCoverage, StatusReport } from '../status/model.ts';
import { safeData } from './safe-text.ts';

interface Sample {
  labels: readonly (readonly [string, string])[];
  value: number;
}

interface Family {
  name: string;
  help: string;
  samples: Sample[];
}

const DAY_SECONDS = 86_400;

const NO_FACTS = 'no sample for a host whose facts are unknown (unreachable or error)';

/** Reached, and its facts read: what it runs is known. */
function factsRead(h: HostCoverage): boolean {
  return h.state !== 'unreachable' && h.state !== 'error';
}

const bit = (b: boolean): number => (b ? 1 : 0);

/** UTC midnight at the end of a YYYY-MM-DD day, in seconds; undefined when not such a day. */
export function endOfDaySeconds(day: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const start = new Date(Date.UTC(y, mo - 1, d));
  if (start.getUTCFullYear() !== y || start.getUTCMonth() !== mo - 1 || start.getUTCDate() !== d) {
    return undefined;
  }
  return start.getTime() / 1000 + DAY_SECONDS;
}

/** A label value as the text format writes it: `\` `"` and line feed escaped. */
function labelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** Per host and kpfleet.yml group, each patch that group declares and the host runs. */
function patchLive(report: StatusReport): Sample[] {
  const declared = new Map(
    report.groups.map((g) => [g.group, new Set(g.patches.map((p) => p.patch))]),
  );
  return report.hosts.filter(factsRead).flatMap((h) =>
    [...new Set(h.groups)].flatMap((group) =>
      h.patches
        .filter((p) => declared.get(group)?.has(p.patch) === true)
        .map((p) => ({
          labels: [
            ['host', h.host],
            ['group', group],
            ['patch', p.patch],
          ] as const,
          value: bit(p.live),
        })),
    ),
  );
}

function families(report: StatusReport): Family[] {
  const known = report.hosts.filter(factsRead);
  const perHost = (value: (h: HostCoverage) => number | undefined, hosts = report.hosts) =>
    hosts.flatMap((h) => {
      const v = value(h);
      return v === undefined ? [] : [{ labels: [['host', h.host]] as const, value: v }];
    });
  const created = Date.parse(report.createdAt) / 1000;
  return [
    {
      name: 'kpfleet_patch_live',
      help: `1 when the patch is enabled on the host and not in transition (its fixes are live), else 0; one sample per host, kpfleet.yml group of the host and patch that group declares; ${NO_FACTS}`,
      samples: patchLive(report),
    },
    {
      name: 'kpfleet_patch_installed',
      help: `1 when the declared patch is in place for the running kernel's next boot, else 0; ${NO_FACTS}`,
      samples: known.flatMap((h) =>
        h.patches.map((p) => ({
          labels: [
            ['host', h.host],
            ['patch', p.patch],
          ] as const,
          value: bit(p.installed),
        })),
      ),
    },
    {
      name: 'kpfleet_cve_mitigated',
      help: `1 when a live patch mitigates the CVE declared for the host, 0 when the CVE is exposed; ${NO_FACTS}`,
      samples: report.hosts.flatMap((h) =>
        h.cves
          .filter((c) => c.state !== 'unknown')
          .map((c) => ({
            labels: [
              ['host', h.host],
              ['cve', c.cve],
            ] as const,
            value: bit(c.state === 'mitigated'),
          })),
      ),
    },
    {
      name: 'kpfleet_host_reboot_due',
      help: `1 when a live patch on the host is past its support window (reboot into a fixed kernel), else 0; ${NO_FACTS}`,
      samples: perHost((h) => bit(h.rebootDue), known),
    },
    {
      name: 'kpfleet_host_covered_until_timestamp_seconds',
      help: "When the host's live protection runs out, as a Unix time: UTC midnight at the end of its covered-until day (the earliest support end of its live patches); no sample for a host without one",
      samples: perHost((h) => (h.coveredUntil ? endOfDaySeconds(h.coveredUntil) : undefined)),
    },
    {
      name: 'kpfleet_host_facts_ok',
      help: "1 when the host's facts were read, 0 when it was unreachable or they could not be read",
      samples: perHost((h) => bit(factsRead(h))),
    },
    {
      name: 'kpfleet_host_state',
      help: `1 for the host's coverage state, 0 for the others (${COVERAGE_STATES.join(', ')})`,
      samples: report.hosts.flatMap((h) =>
        COVERAGE_STATES.map((s) => ({
          labels: [
            ['host', h.host],
            ['state', s],
          ] as const,
          value: bit(h.state === s),
        })),
      ),
    },
    {
      name: 'kpfleet_host_manager',
      help: `1 for the manager that handles the host's live patches (${MANAGER_NAMES.join(', ')}: docs/klp-behaviour.md), 0 for the other; ${NO_FACTS}`,
      samples: known.flatMap((h) =>
        h.manager === undefined
          ? []
          : MANAGER_NAMES.map((m) => ({
              labels: [
                ['host', h.host],
                ['manager', m],
              ] as const,
              value: bit(h.manager === m),
            })),
      ),
    },
    {
      name: 'kpfleet_status_timestamp_seconds',
      help: 'When kpfleet read the facts, as a Unix time: an alert on its age catches a stale file',
      samples: Number.isFinite(created) ? [{ labels: [], value: created }] : [],
    },
  ];
}

function sampleLine(name: string, s: Sample): string {
  const labels = s.labels.map(([k, v]) => `${k}="${labelValue(v)}"`).join(',');
  return `${name}${labels ? `{${labels}}` : ''} ${String(s.value)}\n`;
}

export function renderStatusMetrics(report: StatusReport): string {
  const out: string[] = [];
  for (const f of families(safeData(report))) {
    out.push(`# HELP ${f.name} ${f.help}\n`, `# TYPE ${f.name} gauge\n`);
    for (const s of f.samples) out.push(sampleLine(f.name, s));
  }
  out.push('# EOF\n');
  return out.join('');
}
