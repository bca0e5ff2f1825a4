/**
 * `kpfleet status --format json` made a host at a time (`statusJsonParts`, report/json-stream.ts):
 * byte for byte what the whole report's cleaned copy gives (`JSON.stringify(safeData(report),
 * null, 2)`, what `statusJson` was), whatever its hosts, and in pieces for a large fleet.
 */
import { describe, expect, it } from 'vitest';
import { safeData } from '../../../src/report/safe-text.ts';
import { maxOf } from '../../../src/util/arrays.ts';
import { statusJson, statusJsonParts } from '../../../src/report/status-text.ts';
import type { StatusReport } from '../../../src/status/model.ts';
import { statusFixture } from './status-fixture.ts';
import { scaleStatusReport } from './status-scale.ts';

/** The report's JSON as one string made from one cleaned copy of it. */
const wholeJson = (r: StatusReport): string => JSON.stringify(safeData(r), null, 2) + '\n';

/** The fixture with host text that looks like the report's own keys and drives a terminal. */
function hostile(): StatusReport {
  const r = statusFixture();
  const [first, second] = r.hosts;
  if (first === undefined || second === undefined) throw new Error('fixture');
  first.host = 'evil\n  "hosts": [],\u001b[31m"\\';
  first.kernel = '5.14\u001b[2J\u001b]0;pwned\u0007\r\n  "summary": {}\u2028\u202e';
  second.reason = 'line one\nline two\r\n  "groups": []\ud800';
  return r;
}

describe('statusJsonParts', () => {
  const reports: [string, StatusReport][] = [
    ['a host in every state', statusFixture()],
    ['no host at all', { ...statusFixture(), hosts: [], groups: [], cves: [] }],
    ['one host', { ...statusFixture(), hosts: statusFixture().hosts.slice(0, 1) }],
    ['with --limit', { ...statusFixture(), limit: 'web*:!web3' }],
    ['host text that looks like the report’s keys, and control characters', hostile()],
    ['10,000 hosts', scaleStatusReport(10_000)],
  ];
  it.each(reports)('is the whole report’s JSON byte for byte: %s', (_, report) => {
    const parts = statusJsonParts(report);
    expect(parts.join('')).toBe(wholeJson(report));
    expect(statusJson(report)).toBe(wholeJson(report));
    if (report.hosts.length >= 10_000) {
      expect(parts.length).toBeGreaterThan(10);
      expect(maxOf(parts.map((p) => p.length))).toBeLessThan(2 << 16);
    }
  });

  it('leaves the report as it was', () => {
    const r = hostile();
    const before = structuredClone(r);
    statusJsonParts(r);
    expect(r).toEqual(before);
  });
});
