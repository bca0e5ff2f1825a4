/**
 * The status metrics as their consumers read them: `promtool check metrics` (Prometheus's text
 * parser and lint) finds nothing to say, prometheus_client's strict OpenMetrics parser reads
 * the text, and the samples it gets are compared with the fixture. Hostile host names must come
 * back as the same label value (escaped, never a label or a line of their own). The example
 * alert rules are checked and unit-tested by promtool. A missing consumer skips its tests with a
 * note, or fails them under CI (test/consumers/machine.ts).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { safeText } from '../../../src/report/safe-text.ts';
import { endOfDaySeconds, renderStatusMetrics } from '../../../src/report/status-metrics.ts';
import { COVERAGE_STATES } from '../../../src/status/model.ts';
import type { HostCoverage, StatusReport } from '../../../src/status/model.ts';
import { parseOpenMetrics, promtoolCheck, promtoolRules } from '../../consumers/prometheus.ts';
import type { ParsedFamily, ParsedSample } from '../../consumers/prometheus.ts';
import { runConsumer } from '../../consumers/run.ts';
import { lacks } from '../../consumers/machine.ts';
import { TERMINAL_CORPUS } from '../../unit/report/hostile-corpus.ts';
import { fixtureHost, statusFixture } from '../../unit/report/status-fixture.ts';

const ODD = 'odd-<b>"x",=1';
const ROOT = new URL('../../../', import.meta.url).pathname;
const EXAMPLES = join(ROOT, 'examples/prometheus');

const FAMILIES = [
  'kpfleet_patch_live',
  'kpfleet_patch_installed',
  'kpfleet_cve_mitigated',
  'kpfleet_host_reboot_due',
  'kpfleet_host_covered_until_timestamp_seconds',
  'kpfleet_host_facts_ok',
  'kpfleet_host_state',
  'kpfleet_host_manager',
  'kpfleet_status_timestamp_seconds',
];

/** Label names and values that try to break out of a label value or a line. */
const LABEL_BREAKERS = [
  'a"} 1\nkpfleet_host_facts_ok{host="x',
  'back\\slash\\',
  'q"uote',
  'x",state="protected',
];

/**
 * The fixture plus: a host whose facts could not be read (`error`), group `all` declaring the
 * patch that `web` declares (a patch declared by two of a host's groups), and hosts named by a
 * hostile inventory.
 */
function widerReport(): StatusReport {
  const report = statusFixture();
  const web02 = fixtureHost(report, 'web02');
  const odd = fixtureHost(report, ODD);
  const broken: HostCoverage = {
    ...odd,
    host: 'broken01',
    state: 'error',
    plan: 'error',
    error: { code: 'E_FACTS', message: 'facts unreadable' },
  };
  const hostile = [...LABEL_BREAKERS, ...TERMINAL_CORPUS.map((c) => c.raw)].map((host) => ({
    ...web02,
    host,
  }));
  return {
    ...report,
    hosts: [...report.hosts, broken, ...hostile],
    groups: [
      ...report.groups,
      ...report.groups.filter((g) => g.group === 'web').map((g) => ({ ...g, group: 'all' })),
    ],
  };
}

function family(families: ParsedFamily[], name: string): ParsedFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name}: ${families.map((x) => x.name).join(', ')}`);
  return f;
}

/** The value of the one sample whose labels are `labels`; undefined when none. */
function valueOf(f: ParsedFamily, labels: Record<string, string>): number | undefined {
  const hits = f.samples.filter((s) => JSON.stringify(s.labels) === JSON.stringify(labels));
  expect(hits.length, `${f.name}${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return hits[0]?.value;
}

const hostsOf = (f: ParsedFamily) => f.samples.map((s: ParsedSample) => s.labels.host);

describe.skipIf(lacks.promtool)('renderStatusMetrics, read by promtool', () => {
  it('passes promtool check metrics: no parse error, no lint', async () => {
    expect(await promtoolCheck(renderStatusMetrics(statusFixture()))).toEqual({
      status: 0,
      output: '',
    });
    expect(await promtoolCheck(renderStatusMetrics(widerReport()))).toEqual({
      status: 0,
      output: '',
    });
  });

  it('is caught by promtool when it is wrong (the check can fail)', async () => {
    const bad = renderStatusMetrics(statusFixture()).replace(
      '# HELP kpfleet_host_reboot_due',
      '# X',
    );
    const r = await promtoolCheck(bad);
    expect(r.output).toMatch(/kpfleet_host_reboot_due.*no help text/);
  });
});

describe.skipIf(lacks.prometheusClient)(
  'renderStatusMetrics, read by the OpenMetrics parser of prometheus_client',
  () => {
    it('has every family, each a gauge with help, and no sample with a timestamp', async () => {
      const families = await parseOpenMetrics(renderStatusMetrics(statusFixture()));
      expect(families.map((f) => f.name)).toEqual(FAMILIES);
      for (const f of families) {
        expect(f.type, f.name).toBe('gauge');
        expect(f.help.length, f.name).toBeGreaterThan(20);
        expect(f.name.endsWith('_total'), f.name).toBe(false);
        for (const s of f.samples) expect(s.timestamp, f.name).toBeNull();
      }
    });

    it('says which CVE is mitigated where, and nothing of the unreachable host', async () => {
      const cve = family(
        await parseOpenMetrics(renderStatusMetrics(statusFixture())),
        'kpfleet_cve_mitigated',
      );
      expect(valueOf(cve, { host: 'web01', cve: 'CVE-2023-4623' })).toBe(1);
      expect(valueOf(cve, { host: 'web02', cve: 'CVE-2023-4623' })).toBe(0);
      expect(valueOf(cve, { host: 'web03', cve: 'CVE-2023-5178' })).toBe(1);
      expect(valueOf(cve, { host: 'batch04', cve: 'CVE-2023-5178' })).toBe(0);
      expect(hostsOf(cve)).not.toContain(ODD);
      // db01 declares no CVE loaded: no sample either
      expect(hostsOf(cve)).not.toContain('db01');
      expect(cve.samples).toHaveLength(8);
    });

    it('has a patch sample per host × kpfleet.yml group declaring it, and installed per host', async () => {
      const families = await parseOpenMetrics(renderStatusMetrics(widerReport()));
      const live = family(families, 'kpfleet_patch_live');
      // web and (in this report) all both declare el9-cumulative-3: one sample for each
      const p = 'el9-cumulative-3';
      expect(valueOf(live, { host: 'web01', group: 'web', patch: p })).toBe(1);
      expect(valueOf(live, { host: 'web01', group: 'all', patch: p })).toBe(1);
      expect(valueOf(live, { host: 'web02', group: 'web', patch: p })).toBe(0);
      // db01 is in all, which does not declare cve-2024-1086: only its db sample
      expect(live.samples.filter((s) => s.labels.host === 'db01')).toEqual([
        expect.objectContaining({
          labels: { host: 'db01', group: 'db', patch: 'cve-2024-1086' },
          value: 0,
        }),
      ]);
      const installed = family(families, 'kpfleet_patch_installed');
      expect(valueOf(installed, { host: 'db01', patch: 'cve-2024-1086' })).toBe(1);
      expect(valueOf(installed, { host: 'web02', patch: p })).toBe(0);
      // hosts whose facts are unknown: no sample in any family built from their facts
      for (const name of [
        'kpfleet_patch_live',
        'kpfleet_patch_installed',
        'kpfleet_cve_mitigated',
        'kpfleet_host_reboot_due',
      ]) {
        const hosts = hostsOf(family(families, name));
        expect(hosts, name).not.toContain(ODD);
        expect(hosts, name).not.toContain('broken01');
      }
    });

    it('says which host is reachable, in which state, reboot due, covered until when', async () => {
      const report = widerReport();
      const families = await parseOpenMetrics(renderStatusMetrics(report));
      const ok = family(families, 'kpfleet_host_facts_ok');
      expect(valueOf(ok, { host: 'web01' })).toBe(1);
      expect(valueOf(ok, { host: ODD })).toBe(0);
      expect(valueOf(ok, { host: 'broken01' })).toBe(0);
      const state = family(families, 'kpfleet_host_state');
      for (const h of report.hosts) {
        const mine = state.samples.filter((s) => s.labels.host === safeText(h.host));
        expect(
          mine.map((s) => s.labels.state),
          h.host,
        ).toEqual([...COVERAGE_STATES]);
        expect(
          mine.filter((s) => s.value === 1).map((s) => s.labels.state),
          h.host,
        ).toEqual([h.state]);
      }
      // the manager of each host whose facts were read; nothing for one whose were not
      const manager = family(families, 'kpfleet_host_manager');
      expect(valueOf(manager, { host: 'web01', manager: 'kpatch' })).toBe(1);
      expect(valueOf(manager, { host: 'web01', manager: 'klp' })).toBe(0);
      expect(hostsOf(manager)).not.toContain('broken01');
      const reboot = family(families, 'kpfleet_host_reboot_due');
      expect(valueOf(reboot, { host: 'web03' })).toBe(1);
      expect(valueOf(reboot, { host: 'web01' })).toBe(0);
      const until = family(families, 'kpfleet_host_covered_until_timestamp_seconds');
      // the end of 2026-11-01: midnight UTC starting 2026-11-02
      expect(valueOf(until, { host: 'web03' })).toBe(Date.UTC(2026, 10, 2) / 1000);
      expect(valueOf(until, { host: 'web01' })).toBe(Date.UTC(2027, 2, 2) / 1000);
      expect(hostsOf(until)).not.toContain('web02');
      expect(hostsOf(until)).not.toContain(ODD);
      const stamp = family(families, 'kpfleet_status_timestamp_seconds');
      expect(stamp.samples).toEqual([
        expect.objectContaining({
          labels: {},
          value: Date.parse('2026-12-04T12:00:00.000Z') / 1000,
        }),
      ]);
    });

    it('brings hostile host names back as the same label value, never a label or line of their own', async () => {
      const report = widerReport();
      const families = await parseOpenMetrics(renderStatusMetrics(report));
      const ok = family(families, 'kpfleet_host_facts_ok');
      expect(hostsOf(ok)).toEqual(report.hosts.map((h) => safeText(h.host)));
      for (const f of families) {
        for (const s of f.samples) {
          expect(
            Object.keys(s.labels).every((k) =>
              ['host', 'group', 'patch', 'cve', 'state', 'manager'].includes(k),
            ),
          ).toBe(true);
        }
      }
      expect(hostsOf(ok)).toContain(ODD);
      expect(hostsOf(ok)).toContain('back\\slash\\');
    });

    it('fails when the text is not OpenMetrics (the parser is strict)', async () => {
      const text = renderStatusMetrics(statusFixture());
      await expect(parseOpenMetrics(text.replace('# EOF\n', ''))).rejects.toThrow(/EOF/);
    });
  },
);

describe('endOfDaySeconds', () => {
  it('is midnight UTC after the day, and nothing for what is not a day', () => {
    expect(endOfDaySeconds('2026-12-31')).toBe(Date.UTC(2027, 0, 1) / 1000);
    expect(endOfDaySeconds('2028-02-29')).toBe(Date.UTC(2028, 2, 1) / 1000);
    for (const bad of ['2026-02-30', '2026-13-01', '2026-1-01', 'soon', '']) {
      expect(endOfDaySeconds(bad), bad).toBeUndefined();
    }
  });
});

describe.skipIf(lacks.promtool)('the example alert rules (examples/prometheus)', () => {
  it('pass promtool check rules', async () => {
    const r = await promtoolRules('check', join(EXAMPLES, 'kpfleet-alerts.yml'));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 4 rules found/);
  });

  it('fire as kpfleet-alerts.test.yml says (promtool test rules)', async () => {
    const r = await promtoolRules('test', join(EXAMPLES, 'kpfleet-alerts.test.yml'));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS/);
  });
});

describe('docs/status-metrics.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/status-metrics.md'), 'utf8');
  const blocks = [...doc.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)];

  it('shows an excerpt of real output: each of its lines is one the fixture renders', () => {
    const lines = new Set(renderStatusMetrics(statusFixture()).split('\n'));
    const excerpt = blocks.find((b) => b[2]?.includes('# TYPE'))?.[2] ?? '';
    const shown = excerpt.split('\n').filter((l) => l !== '' && l !== '...');
    expect(shown.length).toBeGreaterThan(4);
    for (const line of shown) expect(lines, line).toContain(line);
  });

  it('shows alert rules as examples/prometheus/kpfleet-alerts.yml has them', () => {
    const rules = readFileSync(join(EXAMPLES, 'kpfleet-alerts.yml'), 'utf8');
    const yaml = blocks.find((b) => b[1] === 'yaml')?.[2] ?? '';
    const shown = yaml
      .split('\n')
      .filter((l) => /^\s+(- alert|expr|for|summary|severity):/.test(l));
    expect(shown.length).toBeGreaterThan(6);
    for (const line of shown) expect(rules, line).toContain(line);
  });
});

describe('a missing consumer', () => {
  it('fails naming the Debian package to install', async () => {
    await expect(runConsumer('kpfleet-no-such-consumer', [], '', 'prometheus')).rejects.toThrow(
      /apt-get install prometheus/,
    );
  });
});
