/**
 * The status report as CSV (`kpfleet status --format csv`), for a spreadsheet or a script: one
 * row per host and declared CVE, and one row with an empty `cve` for a host that has none, so
 * every selected host appears. Hosts and CVEs in the report's order.
 *
 * RFC 4180: CRLF after every record, a field quoted when it holds a comma, a double quote, CR or
 * LF, its quotes doubled. Host names and kernel releases come from hosts and inventories: every
 * string is made safe first (safe-text: no terminal control when the file is printed), and a
 * field that a spreadsheet would read as a formula (starting with = + - @, tab or CR) gets a
 * single quote in front, as OWASP's "CSV injection" advice says.
 */
import type { HostCoverage, HostCve, StatusReport } from '../status/model.ts';
import { safeData } from './safe-text.ts';

export const STATUS_CSV_COLUMNS = [
  'host',
  'groups',
  'state',
  'kernel',
  'cve',
  'cve_state',
  'reason',
  'mitigated_by',
  'patches',
  'covered_until',
  'host_covered_until',
  'reboot_due',
  'plan',
  'manager',
] as const;

type Row = Record<(typeof STATUS_CSV_COLUMNS)[number], string>;

/** What a spreadsheet takes for the start of a formula (OWASP, CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** What makes RFC 4180 quote a field. */
const NEEDS_QUOTES = /[",\r\n]/;

/** One field: defused as a formula, then quoted as RFC 4180 says. */
export function csvField(value: string): string {
  const defused = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(defused) ? `"${defused.replace(/"/g, '""')}"` : defused;
}

function row(h: HostCoverage, c: HostCve | undefined): Row {
  return {
    host: h.host,
    groups: h.groups.join(' '),
    state: h.state,
    kernel: h.kernel ?? '',
    cve: c?.cve ?? '',
    cve_state: c?.state ?? '',
    reason: c?.reason ?? '',
    mitigated_by: c?.by.join(' ') ?? '',
    patches: c?.patches.join(' ') ?? '',
    covered_until: c?.coveredUntil ?? '',
    host_covered_until: h.coveredUntil ?? '',
    reboot_due: String(h.rebootDue),
    plan: h.plan,
    // kpatch or klp (docs/klp-behaviour.md); empty where the host's facts were not read
    manager: h.manager ?? '',
  };
}

/** The rows, header first: host × declared CVE, or the host alone. */
function rows(report: StatusReport): Row[] {
  return report.hosts.flatMap((h) =>
    h.cves.length === 0 ? [row(h, undefined)] : h.cves.map((c) => row(h, c)),
  );
}

export function renderStatusCsv(report: StatusReport): string {
  const safe = safeData(report);
  const records = [
    STATUS_CSV_COLUMNS.map(csvField),
    ...rows(safe).map((r) => STATUS_CSV_COLUMNS.map((col) => csvField(r[col]))),
  ];
  return records.map((fields) => `${fields.join(',')}\r\n`).join('');
}
