/** `kpfleet status` as terminal text: the table, the lists by name, the summary; host text made safe. */
import { describe, expect, it } from 'vitest';
import { renderStatusText } from '../../../src/report/status-text.ts';
import { plainStyle } from '../../../src/report/style.ts';
import type { StatusReport } from '../../../src/status/model.ts';
import { statusFixture } from './status-fixture.ts';

describe('renderStatusText', () => {
  it('a row per host with its state, kernel, live patches, CVEs and covered until; then CVEs and lists', () => {
    const text = renderStatusText(statusFixture(), plainStyle);
    const row = (host: string) => text.split('\n').find((l) => l.startsWith(host + ' ')) ?? '';
    expect(row('web01')).toMatch(
      /✓ protected +5\.14\.0-362\.8\.1\.el9_3\.x86_64 +kpatch +el9-cumulative-3 +2\/2 +2027-03-01$/,
    );
    expect(row('web02')).toMatch(/✗ exposed .* 0\/2 not-converged +-$/);
    expect(row('web03')).toMatch(/2026-11-01 reboot due$/);
    expect(row('batch04')).toMatch(/⚠ uncovered .* 0\/2 uncovered/);
    expect(text).toMatch(/^CVE-2023-4623 +2 +2 +1 +2026-11-01$/m);
    expect(text).toContain('Reboot due (1): web03 (covered until 2026-11-01)');
    expect(text).toContain('Uncovered (1): batch04 (5.14.0-284.11.1.el9_2.x86_64)');
    expect(text).toContain('Unreachable (1): odd-<b>"x",=1 (E_UNREACHABLE)');
    expect(text).toMatch(
      /Status: ✓ 2 protected · ✗ 1 exposed · ⚠ 1 uncovered · · 1 none · \? 1 unreachable; CVEs on hosts: 4 mitigated, 4 exposed, 2 unknown; covered until 2026-11-01$/,
    );
  });

  it('a large fleet lists only the hosts that need attention, and says how many it left out', () => {
    const base = statusFixture();
    const web01 = base.hosts[0];
    if (web01 === undefined) throw new Error('fixture');
    const many: StatusReport = {
      ...base,
      hosts: [
        ...Array.from({ length: 500 }, (_, i) => ({ ...web01, host: `web${String(i)}` })),
        ...base.hosts.slice(1),
      ],
    };
    const text = renderStatusText(many, plainStyle);
    expect(text).not.toMatch(/^web1 /m);
    expect(text).toMatch(/^web02 +✗ exposed/m);
    expect(text).toContain('(501 protected hosts not listed)');
    expect(text.split('\n').length).toBeLessThan(30);
  });

  it('host-supplied text cannot drive the terminal', () => {
    const r = statusFixture();
    const h = r.hosts[1];
    if (h === undefined) throw new Error('fixture');
    h.kernel = '5.14\u001b[2J\u001b]0;pwned\u0007';
    const text = renderStatusText(r, plainStyle);
    expect(text.includes('\u001b') || text.includes('\u0007')).toBe(false);
  });
});
