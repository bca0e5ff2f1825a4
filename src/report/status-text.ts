/**
 * `kpfleet status` as terminal text: a compact table of the hosts (every host up to a screenful,
 * beyond it only those that are not protected), the CVEs across the fleet with their covered-until,
 * the reboot-due and uncovered hosts by name, and one summary line. Host-supplied text (kernel
 * releases, messages) goes through safe-text. The JSON form (`statusJson`, in pieces
 * `statusJsonParts`) is here too.
 */
import type { CoverageState, HostCoverage, StatusReport } from '../status/model.ts';
import { COVERAGE_STATES } from '../status/model.ts';
import { maxOf, pushAll } from '../util/arrays.ts';
import { plural } from '../util/text.ts';
import { HostsJsonWriter } from './json-stream.ts';
import { oneLine, safeData } from './safe-text.ts';
import type { Style } from './style.ts';

/** Up to this many hosts, every host has a row; beyond it only the ones that are not protected. */
const ALL_ROWS_MAX = 40;
/** At most this many rows of hosts that need attention; the rest are counted (see --format csv). */
const ROWS_MAX = 60;

const MARK: Record<CoverageState, string> = {
  protected: '✓',
  exposed: '✗',
  uncovered: '⚠',
  none: '·',
  unreachable: '?',
  error: '?',
};

/** The report as JSON (schemas/status.schema.json), host text stripped of control characters. */
export function statusJson(report: StatusReport): string {
  return statusJsonParts(report).join('');
}

/**
 * `statusJson`'s text in pieces of about 64 KiB, made a host at a time (`json-stream.ts`): no
 * cleaned copy of the whole report is made, nor one string of it, each as large as the report.
 */
export function statusJsonParts(report: StatusReport): string[] {
  const parts: string[] = [];
  const json = new HostsJsonWriter<StatusReport>(
    (text) => parts.push(text),
    (value) => JSON.stringify(safeData(value), null, 2),
  );
  json.begin(report);
  for (const h of report.hosts) json.host(h);
  json.end(report);
  return parts;
}

/** A cell: its text, and how to paint it once padded (widths are measured without colour). */
type Cell = string | { text: string; paint: (s: string) => string };

function table(rows: Cell[][]): string[] {
  const text = (c: Cell | undefined) => (c === undefined ? '' : typeof c === 'string' ? c : c.text);
  const widths = (rows[0] ?? []).map((_, i) => maxOf(rows.map((r) => text(r[i]).length)));
  return rows.map((r) =>
    r
      .map((c, i) => {
        const padded = i === r.length - 1 ? text(c) : text(c).padEnd(widths[i] ?? 0);
        return typeof c === 'string' ? padded : c.paint(padded);
      })
      .join('  ')
      .trimEnd(),
  );
}

/** What the host's row says of its CVEs: `2/2`, or `0/2 not-converged`. */
function cveCell(h: HostCoverage): string {
  if (h.cves.length === 0) return '-';
  const ok = h.cves.filter((c) => c.state === 'mitigated').length;
  const reasons = [...new Set(h.cves.flatMap((c) => (c.reason !== undefined ? [c.reason] : [])))];
  return `${ok}/${h.cves.length}${reasons.length > 0 ? ` ${reasons.join(',')}` : ''}`;
}

function hostRow(h: HostCoverage, style: Style): Cell[] {
  const live = h.patches.filter((p) => p.live).map((p) => p.patch);
  const paint = h.state === 'protected' ? style.green : h.state === 'none' ? style.dim : style.red;
  return [
    oneLine(h.host),
    { text: `${MARK[h.state]} ${h.state}`, paint },
    oneLine(h.kernel ?? '-'),
    h.manager ?? '-',
    live.length > 0 ? live.join(',') : '-',
    cveCell(h),
    (h.coveredUntil ?? '-') + (h.rebootDue ? ' reboot due' : ''),
  ];
}

export function renderStatusText(report: StatusReport, style: Style): string {
  const out: string[] = [];
  const { hosts, summary } = report;
  out.push(
    `${style.bold('kpfleet status')}: ${plural(hosts.length, 'host')}, facts read ${report.createdAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
  );
  const shown = hosts.length <= ALL_ROWS_MAX ? hosts : hosts.filter((h) => h.state !== 'protected');
  if (shown.length > 0) {
    const rows = shown.slice(0, ROWS_MAX).map((h) => hostRow(h, style));
    pushAll(
      out,
      table([['HOST', 'STATE', 'KERNEL', 'MANAGER', 'LIVE', 'CVES', 'COVERED UNTIL'], ...rows]),
    );
    if (shown.length < hosts.length)
      out.push(style.dim(`(${plural(hosts.length - shown.length, 'protected host')} not listed)`));
    if (shown.length > ROWS_MAX)
      out.push(
        style.dim(`… and ${plural(shown.length - ROWS_MAX, 'more host')}: --format csv lists all`),
      );
    out.push('');
  }

  if (report.cves.length > 0) {
    const rows = report.cves.map((c) => [
      c.cve,
      String(c.mitigated),
      String(c.exposed),
      String(c.unknown),
      c.coveredUntil ?? '-',
    ]);
    pushAll(out, table([['CVE', 'MITIGATED', 'EXPOSED', 'UNKNOWN', 'COVERED UNTIL'], ...rows]));
    out.push('');
  }

  const named = (label: string, list: HostCoverage[], detail: (h: HostCoverage) => string) => {
    if (list.length === 0) return;
    const names = list.slice(0, 10).map((h) => `${oneLine(h.host)}${detail(h)}`);
    const more = list.length > 10 ? `, and ${String(list.length - 10)} more` : '';
    out.push(`${label} (${String(list.length)}): ${names.join(', ')}${more}`);
  };
  named(
    style.yellow('Reboot due'),
    hosts.filter((h) => h.rebootDue),
    (h) => (h.coveredUntil !== undefined ? ` (covered until ${h.coveredUntil})` : ''),
  );
  named(
    style.red('Uncovered'),
    hosts.filter((h) => h.state === 'uncovered'),
    (h) => (h.kernel !== undefined ? ` (${oneLine(h.kernel)})` : ''),
  );
  named(
    style.red('Unreachable'),
    hosts.filter((h) => h.state === 'unreachable' || h.state === 'error'),
    (h) => (h.error !== undefined ? ` (${oneLine(h.error.code)})` : ''),
  );

  const parts = COVERAGE_STATES.flatMap((s) => {
    const n = summary.states[s] ?? 0;
    return n > 0 ? [`${MARK[s]} ${String(n)} ${s}`] : [];
  });
  const c = summary.cves;
  out.push(
    `${style.bold('Status:')} ${parts.join(' · ')}; CVEs on hosts: ${String(c.mitigated)} mitigated, ${String(c.exposed)} exposed, ${String(c.unknown)} unknown` +
      (summary.coveredUntil !== undefined ? `; covered until ${summary.coveredUntil}` : ''),
  );
  return out.join('\n');
}
