/**
 * `kpfleet status` (the built CLI) against the real-SSH fleet (issue 17): hosts put in each state
 * for real (converged by `kpfleet apply`, one left out of the apply, one booted into a kernel no
 * patch fits, one inventory host nobody answers for, one running a patch past its support
 * window), then one `status` run writing every format, each read by the program that consumes it:
 * the JSON by ajv against schemas/status.schema.json, the CSV by Python's csv module, the OpenVEX
 * document by the OpenVEX checker, the metrics by promtool and prometheus_client, the page by
 * Chromium. Read-only: one SSH session per host, nothing under /var/lib/kpatch touched. Exit
 * codes: 4 with an unreachable host, 1 with an exposed one, 0 when every declared CVE is
 * mitigated.
 */
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StatusReport } from '../../../src/status/model.ts';
import { CVE, kpfleetIn, makePatchFile, writeProject } from '../../project.ts';
import type { PatchEntry } from '../../project.ts';
import { parseCsvWithPython } from '../../consumers/csv.ts';
import { parseOpenMetrics, promtoolCheck } from '../../consumers/prometheus.ts';
import { validateOpenVex } from '../../consumers/openvex.ts';
import { launchChromium } from '../../consumers/chromium.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { PROFILES } from '../../../lab/profiles.ts';

// ajv-formats is CommonJS: its default export is the plugin function (or wraps it).
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

const ROOT = new URL('../../../', import.meta.url).pathname;
const DIR = join(TMP_BASE, `e2e-cli-status-${String(process.pid)}`);
const NEWER = PROFILES['rhel9-cve'].KERNEL_RELEASE ?? '';
let fleet: Fleet;

const kpfleet = kpfleetIn(DIR);

/** Supported for a year from 2026-11-01: covered until 2027-10-31. */
const FIX: PatchEntry = { ...CVE, released: '2026-11-01', support: '365d' };
/** An older patch, 90 days from 2024-03-01: past its window (reboot due), until 2024-05-29. */
const OLD: PatchEntry = {
  name: 'old-fix',
  module: 'livepatch_old_fix',
  file: 'patches/livepatch-old-fix.ko',
  cves: ['CVE-2023-4623'],
  released: '2024-03-01',
  support: '90d',
};
/** An inventory host on an address where nothing listens: refused, unreachable. */
const GONE = 'h099';
const CONVERGED = ['h001', 'h002', 'h003', 'h005', 'h007'];

/**
 * What each host is made to be: h001..h007 from lab profiles (h006 boots the newer kernel), h005
 * also in group legacy (the old patch), h004 left out of the apply, h099 not there at all.
 */
const EXPECTED: Record<string, { state: string; cves: [string, string, string?][] }> = {
  h001: { state: 'protected', cves: [['CVE-2024-1086', 'mitigated', '2027-10-31']] },
  h002: { state: 'protected', cves: [['CVE-2024-1086', 'mitigated', '2027-10-31']] },
  h003: { state: 'protected', cves: [['CVE-2024-1086', 'mitigated', '2027-10-31']] },
  h004: { state: 'exposed', cves: [['CVE-2024-1086', 'exposed']] },
  h005: {
    state: 'protected',
    cves: [
      ['CVE-2023-4623', 'mitigated', '2024-05-29'],
      ['CVE-2024-1086', 'mitigated', '2027-10-31'],
    ],
  },
  h006: { state: 'uncovered', cves: [['CVE-2024-1086', 'exposed']] },
  h007: { state: 'protected', cves: [['CVE-2024-1086', 'mitigated', '2027-10-31']] },
  [GONE]: { state: 'unreachable', cves: [['CVE-2024-1086', 'unknown']] },
};

/** Every file under each host's /var/lib/kpatch, with its size and mtime. */
function kpatchListing(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const walk = (dir: string, acc: string[]): string[] => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const st = statSync(p);
      acc.push(`${p} ${String(st.size)} ${String(st.mtimeMs)} ${String(st.mode)}`);
      if (e.isDirectory()) walk(p, acc);
    }
    return acc;
  };
  for (const h of fleet.hosts) out[h.name] = walk(join(h.sim.root, 'var/lib/kpatch'), []);
  return out;
}

const logOffsets = () =>
  new Map(fleet.hosts.map((h) => [h.name, statSync(join(h.dir, 'sshd.log')).size]));
/** [host, logins, sessions] of each host's sshd log (LogLevel VERBOSE) since `offsets`. */
function sessionsSince(offsets: Map<string, number>): [string, number, number][] {
  return fleet.hosts.map((h) => {
    const text = readFileSync(join(h.dir, 'sshd.log'))
      .subarray(offsets.get(h.name) ?? 0)
      .toString('utf8');
    return [
      h.name,
      (text.match(/Accepted publickey for kpfleet/g) ?? []).length,
      (text.match(/Starting session: command/g) ?? []).length,
    ];
  });
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 7,
    dir: DIR,
    subnet: 108,
    profiles: ['rhel9', 'rhel9', 'rhel9', 'rhel9', 'rhel9', 'rhel9-cve', 'rhel9'],
    simProfile: { TIME_SCALE: '0.01' },
    logLevel: 'VERBOSE',
  });
  // independent builds (kpatch-build --no-replace): the old patch and the fix stack on h005
  makePatchFile(fleet.hosts[0], DIR, FIX, { replace: false });
  makePatchFile(fleet.hosts[0], DIR, OLD, { replace: false });
  appendFileSync(
    join(DIR, 'inventory.ini'),
    [
      '',
      '[legacy]',
      'h005',
      '',
      '[gone]',
      `${GONE} ansible_host=127.108.200.200`,
      '',
      '[gone:vars]',
      `ansible_user=${fleet.state.user}`,
      `ansible_ssh_private_key_file=${fleet.state.key}`,
      '',
    ].join('\n'),
  );
  writeProject(DIR, {
    // the run's logins are counted: a set-up timed out on a busy machine is retried, a second login
    connectTimeout: '60s',
    patches: [FIX, OLD],
    groups: {
      rhel9: { loaded: ['cve-2024-1086'] },
      rhel9_cve: { loaded: ['cve-2024-1086'] },
      legacy: { loaded: ['old-fix'] },
      gone: { loaded: ['cve-2024-1086'] },
    },
  });
  const applied = await kpfleet(['apply', '--yes', '--limit', CONVERGED.join(':')]);
  if (applied.code !== 0) throw new Error(`apply: ${applied.output}`);
}, 180_000);
afterAll(async () => {
  await fleetDown(DIR);
});

it('one run, every format, each read by its consumer; read-only; exit 4 with a host unreachable', async () => {
  expect(NEWER).not.toBe('');
  const before = kpatchListing();
  const offsets = logOffsets();
  const outs = ['json:status.json', 'csv:status.csv', 'openvex:status.vex.json'];
  outs.push('openmetrics:status.prom', 'html:status.html', 'text:status.txt');
  const r = await kpfleet(['status', '--format', 'json', ...outs.flatMap((o) => ['--out', o])]);
  expect(r.code, r.stderr).toBe(4);

  // read-only: one login and one command per host, nothing under /var/lib/kpatch changed
  expect(sessionsSince(offsets)).toEqual(fleet.hosts.map((h) => [h.name, 1, 1]));
  expect(kpatchListing()).toEqual(before);

  const read = (f: string) => readFileSync(join(DIR, f), 'utf8');
  // JSON: stdout and the file are the same report, valid against the schema
  const report = JSON.parse(r.stdout) as StatusReport;
  expect(JSON.parse(read('status.json'))).toEqual(report);
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  const validate = ajv.compile(
    JSON.parse(readFileSync(join(ROOT, 'schemas/status.schema.json'), 'utf8')) as object,
  );
  expect(validate(report), ajv.errorsText(validate.errors)).toBe(true);

  // the facts: each host in the state it was put in
  const byHost = new Map(report.hosts.map((h) => [h.host, h]));
  expect([...byHost.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
  for (const [host, want] of Object.entries(EXPECTED)) {
    const h = byHost.get(host);
    expect(h?.state, host).toBe(want.state);
    expect(
      h?.cves.map((c) => [c.cve, c.state, ...(c.coveredUntil ? [c.coveredUntil] : [])]),
      host,
    ).toEqual(want.cves);
  }
  expect(byHost.get('h004')).toMatchObject({ plan: 'changes', rebootDue: false });
  expect(byHost.get('h004')?.cves[0]).toMatchObject({
    reason: 'not-converged',
    patches: ['cve-2024-1086'],
    by: [],
  });
  expect(byHost.get('h006')).toMatchObject({ kernel: NEWER });
  expect(byHost.get('h006')?.cves[0]?.reason).toBe('uncovered');
  expect(byHost.get(GONE)).toMatchObject({
    plan: 'unreachable',
    error: { code: 'E_UNREACHABLE' },
  });
  expect(byHost.get(GONE)?.kernel).toBeUndefined();
  expect(byHost.get('h001')).toMatchObject({
    coveredUntil: '2027-10-31',
    rebootDue: false,
    arch: 'x86_64',
  });
  // the lab's hosts share this machine's /etc/os-release (it is not simulated per profile): the
  // distribution is whatever that says, so only its presence is checked here
  expect(byHost.get('h001')?.os).toMatch(/^[a-z0-9._-]+$/);
  expect(byHost.get('h005')).toMatchObject({ coveredUntil: '2024-05-29', rebootDue: true });
  expect(report.summary).toMatchObject({
    hosts: 8,
    states: { protected: 5, exposed: 1, uncovered: 1, unreachable: 1 },
    rebootDue: 1,
    cves: { mitigated: 6, exposed: 2, unknown: 1 },
    coveredUntil: '2024-05-29',
  });
  /** host|cve → the CVE's state, from the JSON: what every other format must say. */
  const cveState = new Map(
    report.hosts.flatMap((h) => h.cves.map((c) => [`${h.host}|${c.cve}`, c.state] as const)),
  );
  expect(cveState.size).toBe(9);

  // CSV: one row per host × CVE, as Python's csv module reads it, matching the JSON
  const rows = await parseCsvWithPython(read('status.csv'));
  expect(rows).toHaveLength(9);
  for (const row of rows) {
    const h = byHost.get(row.host ?? '');
    expect(row.state, row.host).toBe(h?.state);
    expect(row.cve_state, row.host).toBe(cveState.get(`${row.host ?? ''}|${row.cve ?? ''}`));
    expect(row.host_covered_until, row.host).toBe(h?.coveredUntil ?? '');
    expect(row.reboot_due, row.host).toBe(String(h?.rebootDue));
  }

  // OpenVEX: valid, and one statement per host × CVE with the status its state means
  const vex = JSON.parse(read('status.vex.json')) as {
    statements: {
      vulnerability: { name: string };
      status: string;
      products: { '@id': string }[];
    }[];
  };
  expect(validateOpenVex(vex)).toEqual([]);
  const VEX_STATUS = {
    mitigated: 'not_affected',
    exposed: 'affected',
    unknown: 'under_investigation',
  };
  const said = vex.statements.map((s) => {
    const host = decodeURIComponent(
      (s.products[0]?.['@id'] ?? '').replace('urn:kpfleet:host:', ''),
    );
    return [`${host}|${s.vulnerability.name}`, s.status];
  });
  expect(new Map(said.map(([k, v]) => [k, v]))).toEqual(
    new Map([...cveState].map(([k, v]) => [k, VEX_STATUS[v]])),
  );
  expect(said).toHaveLength(9);
  // the product names the kernel's package where a scanner may match it: h004's `affected`
  // does; h001's `not_affected` does not, since h004 runs the same kernel exposed (a scanner
  // matching by purl would otherwise take h001's word for h004)
  const product = (host: string) =>
    JSON.stringify(
      vex.statements.find((s) => s.products[0]?.['@id'] === `urn:kpfleet:host:${host}`)?.products,
    );
  expect(product('h004')).toContain('5.14.0-362.8.1.el9_3');
  expect(product('h001')).not.toContain('purl');

  // OpenMetrics: promtool finds no problem; prometheus_client reads kpfleet_cve_mitigated
  const metrics = read('status.prom');
  expect(await promtoolCheck(metrics)).toEqual({ status: 0, output: '' });
  const families = await parseOpenMetrics(metrics);
  const mitigated = families.find((f) => f.name === 'kpfleet_cve_mitigated');
  expect(
    new Map(
      mitigated?.samples.map((s) => [`${s.labels.host ?? ''}|${s.labels.cve ?? ''}`, s.value]),
    ),
  ).toEqual(
    new Map(
      [...cveState]
        .filter(([, v]) => v !== 'unknown')
        .map(([k, v]) => [k, v === 'mitigated' ? 1 : 0]),
    ),
  );

  // text: a line per host with its state word
  const text = read('status.txt');
  for (const [host, want] of Object.entries(EXPECTED))
    expect(text).toMatch(new RegExp(`^${host} +\\S+ ${want.state}\\b`, 'm'));
  expect(text).toMatch(/^Reboot due \(1\): h005 \(covered until 2024-05-29\)$/m);
  expect(text).toMatch(/^Uncovered \(1\): h006 \(5\.14\.0-570\.12\.1\.el9_6\.x86_64\)$/m);

  // the page in Chromium: every host with its state word, no error, nothing fetched
  const chromium = await launchChromium();
  try {
    const p = await chromium.open(join(DIR, 'status.html'), undefined, 'html[data-ready]');
    try {
      const shown = await p.eval<[string, string][]>(
        `[...document.querySelectorAll('#l-hosts li.host')].map((li) =>
          [li.querySelector('.name').textContent, li.querySelector('.badge').textContent])`,
      );
      expect(shown).toHaveLength(8);
      for (const [host, want] of Object.entries(EXPECTED))
        expect(shown.find(([n]) => n === host)?.[1], host).toContain(want.state);
      expect(p.consoleErrors).toEqual([]);
      expect(p.pageErrors).toEqual([]);
      expect(p.otherRequests).toEqual([]);
    } finally {
      await p.close();
    }
  } finally {
    await chromium.close();
  }
}, 120_000);

it('exit 1 when the unreachable host is left out (h004 exposed, h006 uncovered); 0 on the protected hosts only', async () => {
  const without = await kpfleet(['status', '--limit', `!${GONE}`]);
  expect(without.code, without.stderr).toBe(1);
  expect(without.stdout).toMatch(/^h004 +\S+ exposed\b/m);
  expect(without.stdout).not.toMatch(/unreachable/);

  const exposedOnly = await kpfleet(['status', '--limit', 'h001:h004']);
  expect(exposedOnly.code).toBe(1);

  const ok = await kpfleet(['status', '--limit', CONVERGED.join(':'), '--format', 'json']);
  expect(ok.code, ok.stderr).toBe(0);
  const report = JSON.parse(ok.stdout) as StatusReport;
  expect(report.limit).toBe(CONVERGED.join(':'));
  // (in the inventory's order, which is Ansible's: by group, so h005 of group legacy comes first)
  expect(report.hosts.map((h) => [h.host, h.state]).sort()).toEqual(
    CONVERGED.map((h) => [h, 'protected']),
  );
}, 60_000);
