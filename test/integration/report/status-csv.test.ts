/**
 * The status CSV as a consumer reads it: Python's csv module (strict) parses the text, and the
 * rows it gets are compared with the fixture: every host × declared CVE once, a host without
 * CVEs once, names that a spreadsheet would take for a formula defused with a leading quote (and
 * only those), terminal controls shown as escapes, and RFC 4180's quoting and CRLF line ends.
 */
import { describe, expect, it } from 'vitest';
import { csvField, renderStatusCsv, STATUS_CSV_COLUMNS } from '../../../src/report/status-csv.ts';
import { safeText } from '../../../src/report/safe-text.ts';
import type { HostCoverage, StatusReport } from '../../../src/status/model.ts';
import { parseCsvWithPython } from '../../consumers/csv.ts';
import { lacks } from '../../consumers/machine.ts';
import { TERMINAL_CORPUS } from '../../unit/report/hostile-corpus.ts';
import { fixtureHost, statusFixture } from '../../unit/report/status-fixture.ts';

/** What a spreadsheet would evaluate: a cell starting with one of these. */
const FORMULA = /^[=+\-@\t\r]/;

/** Host names that are formulas in a spreadsheet, and the kernel release of one of them. */
const FORMULA_NAMES = ['=1+2', '+SUM(A1:A9)', '-2+3', '@SUM(A1)', '=HYPERLINK("http://x","y")'];
const [FIRST_FORMULA] = FORMULA_NAMES;
const FORMULA_KERNEL = "=cmd|' /C calc'!A0";

/** The fixture with hosts named by a hostile inventory, each a copy of the fixture's web02. */
function hostileReport(): StatusReport {
  const report = statusFixture();
  const web02 = fixtureHost(report, 'web02');
  const names = [...FORMULA_NAMES, ...TERMINAL_CORPUS.map((c) => c.raw), '\t=tab', '\r=cr'];
  const extra: HostCoverage[] = names.map((host, i) => ({
    ...web02,
    host,
    ...(i === 0 ? { kernel: FORMULA_KERNEL } : {}),
  }));
  return { ...report, hosts: [...report.hosts, ...extra] };
}

describe.skipIf(lacks.python)('renderStatusCsv, read by Python csv', () => {
  it('has the header, then one row per host × declared CVE and per host without one', async () => {
    const report = statusFixture();
    const rows = await parseCsvWithPython(renderStatusCsv(report));
    expect(Object.keys(rows[0] ?? {})).toEqual([...STATUS_CSV_COLUMNS]);
    const expected = report.hosts.flatMap((h) =>
      h.cves.length === 0 ? [`${h.host}|`] : h.cves.map((c) => `${h.host}|${c.cve}`),
    );
    // every pair once, in the report's order (hosts, then each host's CVEs)
    expect(rows.map((r) => `${r.host}|${r.cve}`)).toEqual(expected);
    expect(new Set(expected).size).toBe(expected.length);
    expect(rows.map((r) => r.host)).toContain('db01');
    expect(rows.filter((r) => r.host === 'odd-<b>"x",=1')).toHaveLength(2);
  });

  it('says, per row, what the fixture says of the host and the CVE', async () => {
    const rows = await parseCsvWithPython(renderStatusCsv(statusFixture()));
    const at = (host: string, cve: string) => rows.find((r) => r.host === host && r.cve === cve);
    expect(at('web01', 'CVE-2023-4623')).toEqual({
      host: 'web01',
      groups: 'all web',
      state: 'protected',
      kernel: '5.14.0-362.8.1.el9_3.x86_64',
      cve: 'CVE-2023-4623',
      cve_state: 'mitigated',
      reason: '',
      mitigated_by: 'el9-cumulative-3',
      patches: 'el9-cumulative-3',
      covered_until: '2027-03-01',
      host_covered_until: '2027-03-01',
      reboot_due: 'false',
      plan: 'converged',
      manager: 'kpatch',
    });
    expect(at('web02', 'CVE-2023-5178')).toMatchObject({
      state: 'exposed',
      cve_state: 'exposed',
      reason: 'not-converged',
      mitigated_by: '',
      patches: 'el9-cumulative-3',
      covered_until: '',
      host_covered_until: '',
      plan: 'changes',
    });
    expect(at('web03', 'CVE-2023-4623')).toMatchObject({
      reboot_due: 'true',
      covered_until: '2026-11-01',
      host_covered_until: '2026-11-01',
    });
    expect(at('batch04', 'CVE-2023-4623')).toMatchObject({
      state: 'uncovered',
      reason: 'uncovered',
    });
    expect(at('db01', '')).toMatchObject({
      groups: 'all db',
      state: 'none',
      cve_state: '',
      reason: '',
      patches: '',
    });
    // the unreachable host: no kernel, its CVEs unknown; its name round-trips, not a formula
    expect(at('odd-<b>"x",=1', 'CVE-2023-4623')).toMatchObject({
      state: 'unreachable',
      kernel: '',
      cve_state: 'unknown',
      reason: 'unreachable',
      plan: 'unreachable',
    });
  });

  it('lists an unreachable host without declared CVEs once, with an empty cve', async () => {
    const report = statusFixture();
    const odd = fixtureHost(report, 'odd-<b>"x",=1');
    const rows = await parseCsvWithPython(
      renderStatusCsv({ ...report, hosts: [{ ...odd, host: 'gone', cves: [] }] }),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ host: 'gone', cve: '', state: 'unreachable' });
  });

  it('defuses formulas with a leading quote, only where a cell would be one', async () => {
    const report = hostileReport();
    const rows = await parseCsvWithPython(renderStatusCsv(report));
    for (const r of rows) {
      for (const [col, cell] of Object.entries(r)) {
        expect(FORMULA.test(cell), `${col}: ${cell}`).toBe(false);
      }
    }
    const hosts = new Set(rows.map((r) => r.host));
    for (const name of FORMULA_NAMES) expect(hosts).toContain(`'${name}`);
    expect(rows.find((r) => r.host === `'${FIRST_FORMULA}`)?.kernel).toBe(`'${FORMULA_KERNEL}`);
    // not a formula: unchanged, though it holds = , and "
    expect(hosts).toContain('odd-<b>"x",=1');
    expect(hosts).toContain('web01');
    // a leading tab or CR is shown as its escape, which no spreadsheet evaluates
    expect(hosts).toContain('\\t=tab');
    expect(hosts).toContain('\\r=cr');
  });

  it('shows what a host sends to a terminal as visible escapes', async () => {
    const text = renderStatusCsv(hostileReport());
    // nothing raw but the record separators
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\p{Cc}\p{Cf}\u2028\u2029]/u);
    const hosts = new Set((await parseCsvWithPython(text)).map((r) => r.host));
    for (const c of TERMINAL_CORPUS) expect(hosts).toContain(safeText(c.raw));
  });

  it('ends every record with CRLF', () => {
    const text = renderStatusCsv(statusFixture());
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text).not.toMatch(/[^\r]\n/);
    // the header, 11 rows (five hosts with two CVEs, db01 alone), and nothing after the last CRLF
    expect(text.split('\r\n')).toHaveLength(1 + 11 + 1);
  });
});

describe.skipIf(lacks.python)('csvField, read by Python csv', () => {
  it('quotes commas, quotes, CR and LF as RFC 4180 says, and they read back as they were', async () => {
    const fields = ['plain', 'a,b', 'say "hi"', 'two\r\nlines', 'lf\nonly', 'cr\ronly', '', ' sp '];
    const text = `${fields.map((_, i) => csvField(`c${i}`)).join(',')}\r\n${fields.map(csvField).join(',')}\r\n`;
    const rows = await parseCsvWithPython(text);
    expect(rows).toEqual([Object.fromEntries(fields.map((f, i) => [`c${i}`, f]))]);
  });

  it('keeps the defused formula inside the quotes when the field needs them', async () => {
    const text = `a,b\r\n${csvField('=1,2')},${csvField('-"x"')}\r\n`;
    expect(await parseCsvWithPython(text)).toEqual([{ a: "'=1,2", b: `'-"x"` }]);
    // a tab or CR that reaches csvField raw (the renderer escapes them before) is defused too
    const raw = `a,b\r\n${csvField('\t=1')},${csvField('\r@x')}\r\n`;
    expect(await parseCsvWithPython(raw)).toEqual([{ a: "'\t=1", b: "'\r@x" }]);
  });
});
