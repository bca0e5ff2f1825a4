/**
 * The crash guard on the real-SSH fleet (issue 15 point 4): a host that resets while kpfleet loads
 * a patch (the simulator's reset-on-load fault: new boot id, sysfs emptied, the session killed)
 * is reported, the others converge; the next plan marks the patch "suspected of crashing this
 * host" there and blocks it (exit 1) in text, JSON and markdown, and apply does not load it
 * there; after `kpfleet clear-suspect`, plan loads it again and apply converges.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CVE, kpfleetIn, makePatchFile, writeProject } from '../../project.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet, FleetHost } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const DIR = join(TMP_BASE, `e2e-crash-guard-${String(process.pid)}`);
const MOD = 'livepatch_cve_2024_1086';
let fleet: Fleet;

const kpfleet = kpfleetIn(DIR);

const loaded = (h: FleetHost): boolean => {
  const s = h.sim.readSysfs();
  return s.patches[MOD]?.enabled === '1' && s.patches[MOD].transition === '0';
};
const bootId = (h: FleetHost): string =>
  readFileSync(join(h.sim.root, 'proc/sys/kernel/random/boot_id'), 'utf8').trim();
const recordOf = (h: FleetHost): string => join(h.sim.root, 'var/lib/kpfleet/loading', MOD);

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 3,
    dir: DIR,
    subnet: 98,
    profiles: ['rhel9'],
    simProfile: { TIME_SCALE: '0.01' },
  });
  makePatchFile(fleet.hosts[0], DIR, CVE);
  writeProject(DIR, { patches: [CVE], groups: { rhel9: { loaded: ['cve-2024-1086'] } } });
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});

it('a host that went down during a load is reported; the patch is not loaded there again until cleared', async () => {
  const h = fleet.host('h002');
  // kpatch.enable=0: its boot after the reset does not load the installed patch again
  // (kpatch.service would; the plan then only warns, planner unit tests)
  h.sim.setProfile({ CMDLINE: 'kpatch.enable=0' });
  h.fault('reset-on-load', MOD);
  const before = bootId(h);

  const first = await kpfleet(['apply', '--yes', '--report', 'crash.json']);
  expect(first.code, first.stdout + first.stderr).not.toBe(0);
  const report = JSON.parse(readFileSync(join(DIR, 'crash.json'), 'utf8')) as {
    hosts: { host: string; outcome: string }[];
  };
  const outcomes = Object.fromEntries(report.hosts.map((x) => [x.host, x.outcome]));
  expect(['failed', 'unreachable', 'rollback-failed']).toContain(outcomes.h002);
  expect([outcomes.h001, outcomes.h003]).toEqual(['changed', 'changed']);
  expect([loaded(fleet.host('h001')), loaded(h), loaded(fleet.host('h003'))]).toEqual([
    true,
    false,
    true,
  ]);
  // the host reset: a new boot id; the record written before the load names the old one
  expect(bootId(h)).not.toBe(before);
  const record = readFileSync(recordOf(h), 'utf8');
  expect(record).toContain(`module=${MOD}\npatch=cve-2024-1086\nboot=${before}\n`);
  expect(record).toMatch(/\nrun=\S+\ntime=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
  // the hosts that loaded it have no record left
  expect(existsSync(recordOf(fleet.host('h001')))).toBe(false);

  // plan: blocked, exit 1, in every format
  const text = await kpfleet(['plan']);
  expect(text.code, text.stdout + text.stderr).toBe(1);
  expect(text.stdout).toMatch(/h002[^\n]*blocked/);
  expect(text.stdout).toContain('suspected of crashing this host');
  expect(text.stdout).toContain('kpfleet clear-suspect --limit h002 --patch cve-2024-1086');
  const json = await kpfleet(['plan', '--format', 'json']);
  expect(json.code).toBe(1);
  const plan = JSON.parse(json.stdout) as {
    hosts: {
      host: string;
      status: string;
      changes: unknown[];
      findings: { kind: string; severity: string; message: string }[];
    }[];
  };
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(
    JSON.parse(readFileSync(join(ROOT, 'schemas/plan.schema.json'), 'utf8')) as object,
  );
  expect(validate(plan), ajv.errorsText(validate.errors)).toBe(true);
  const h2 = plan.hosts.find((x) => x.host === 'h002');
  expect(h2?.status).toBe('blocked');
  expect(h2?.changes).toEqual([]);
  expect(h2?.findings).toContainEqual(
    expect.objectContaining({
      kind: 'suspect',
      severity: 'error',
      message: expect.stringContaining(before) as string,
    }),
  );
  const facts = await kpfleet(['facts', '--limit', 'h002']);
  expect(facts.code, facts.stdout + facts.stderr).toBe(0);
  expect(facts.stdout).toContain('is suspected of crashing this host');
  const md = await kpfleet(['plan', '--format', 'markdown']);
  expect(md.code).toBe(1);
  expect(md.stdout).toMatch(
    /\*\*error\*\* \(suspect\): `cve-2024-1086 \(livepatch_cve_2024_1086\) is suspected of crashing this host/,
  );

  // apply does not load it there
  const refused = await kpfleet(['apply', '--yes', '--limit', 'h002', '--report', 'refused.json']);
  expect(refused.code, refused.stdout + refused.stderr).toBe(1);
  expect(loaded(h)).toBe(false);
  expect(readFileSync(recordOf(h), 'utf8')).toBe(record);
  const refusedReport = JSON.parse(readFileSync(join(DIR, 'refused.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; message: string }[];
  };
  expect(refusedReport.hosts[0]).toMatchObject({ host: 'h002', outcome: 'blocked' });
  expect(refusedReport.hosts[0]?.message).toMatch(
    /^not changed: suspected of crashing this host: cve-2024-1086 \(loading at .*\); once someone has looked: kpfleet clear-suspect --limit h002$/,
  );
  expect(refused.stdout).toContain('suspected of crashing this host');

  // clear-suspect: without a terminal it needs --yes; then the record is gone
  const noTty = await kpfleet(['clear-suspect', '--limit', 'h002']);
  expect(noTty.code, noTty.stdout + noTty.stderr).toBe(64);
  expect(noTty.stdout).toContain(
    'cve-2024-1086 (livepatch_cve_2024_1086) is suspected of crashing this host',
  );
  expect(existsSync(recordOf(h))).toBe(true);
  const cleared = await kpfleet(['clear-suspect', '--limit', 'h002', '--yes']);
  expect(cleared.code, cleared.stdout + cleared.stderr).toBe(0);
  expect(cleared.stdout).toContain('h002: cleared cve-2024-1086');
  expect(existsSync(recordOf(h))).toBe(false);
  const nothing = await kpfleet(['clear-suspect', '--limit', 'h002', '--yes']);
  expect(nothing.code).toBe(0);
  expect(nothing.stdout).toContain('nothing to clear');

  // plan loads it again; apply converges
  const again = await kpfleet(['plan', '--detailed-exitcode', '--limit', 'h002']);
  expect(again.code, again.stdout + again.stderr).toBe(2);
  expect(again.stdout).toContain(`+ load`);
  const fixed = await kpfleet(['apply', '--yes']);
  expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
  expect(fleet.hosts.map(loaded)).toEqual([true, true, true]);
  expect(existsSync(recordOf(h))).toBe(false);
}, 240_000);
