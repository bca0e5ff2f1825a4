/**
 * A saved plan cannot run what the catalogue does not declare (issue 14 §1, docs/security.md
 * "Saved plans"), shown with the built CLI on the real-SSH fleet:
 * - a hand-edited plan that uploads, installs and loads an undeclared .ko from the controller
 *   under the declared name is refused whole (exit 64) and no host is contacted (sshd's log
 *   shows no login);
 * - a plan made from another configuration is refused, saying what changed, before any login;
 * - a hand-edit the static check cannot see (a load pointed at another module installed on the
 *   host) is refused under the host's lock, before anything changes: the undeclared module is
 *   never loaded.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CVE, EL9, kpfleetIn, makePatchFile, sha256, writeProject } from '../../project.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet, FleetHost } from '../../../lab/fleet.ts';
import { FLEET_READONLY_USER, TMP_BASE } from '../../../lab/host-dir.ts';

const DIR = join(TMP_BASE, `e2e-saved-plan-${String(process.pid)}`);
const MOD = 'livepatch_cve_2024_1086';
const FILE = 'livepatch-cve-2024-1086.ko';
let fleet: Fleet;

const kpfleet = kpfleetIn(DIR);

function project(waves = '[1, 100%]'): void {
  writeProject(DIR, {
    rollout: [`waves: ${waves}`],
    patches: [CVE],
    groups: { rhel9: { loaded: ['cve-2024-1086'] } },
  });
}

/** Logins sshd accepted on each host so far (its VERBOSE log). */
const logins = (): number[] =>
  fleet.hosts.map(
    (h) =>
      (readFileSync(join(h.dir, 'sshd.log'), 'utf8').match(/Accepted publickey for/g) ?? []).length,
  );
const loaded = (h: FleetHost, m: string): boolean => h.sim.readSysfs().patches[m]?.enabled === '1';
const installedFiles = (h: FleetHost): string[] =>
  h.sim.readSysfs().installed.map((i) => `${i.kernel}/${i.file}`);

interface PlanJson {
  hosts: { host: string; changes: Record<string, unknown>[] }[];
}
const readPlan = (f: string): PlanJson =>
  JSON.parse(readFileSync(join(DIR, f), 'utf8')) as PlanJson;

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 2,
    dir: DIR,
    subnet: 89,
    profiles: ['rhel9'],
    logLevel: 'VERBOSE',
    simProfile: { TIME_SCALE: '0.01' },
  });
  makePatchFile(fleet.hosts[0], DIR, CVE);
  // the attacker's build: the declared module name, other code
  makePatchFile(
    fleet.hosts[0],
    DIR,
    { ...CVE, file: `elsewhere/${FILE}` },
    { description: 'not what was reviewed' },
  );
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});

it('a hand-edited plan uploading an undeclared .ko under the declared name is refused (exit 64); no host is contacted', async () => {
  project();
  const made = await kpfleet(['plan', '--limit', 'h001', '--out', 'genuine.json']);
  expect(made.code, made.stderr).toBe(0);
  const plan = readPlan('genuine.json');
  const evil = join(DIR, 'elsewhere', FILE);
  const evilSha = sha256(evil);
  const staged = `~/.kpfleet/stage/${evilSha.slice(0, 16)}/${FILE}`;
  const changes = plan.hosts[0]?.changes ?? [];
  expect(changes.map((c) => c.action)).toEqual(['upload', 'install', 'load']);
  Object.assign(changes[0] ?? {}, { source: evil, sha256: evilSha, destination: staged });
  Object.assign(changes[1] ?? {}, { file: staged, sha256: evilSha });
  writeFileSync(join(DIR, 'forged.json'), JSON.stringify(plan));

  const before = logins();
  const r = await kpfleet(['apply', '--yes', 'forged.json']);
  expect(r.code, r.stdout + r.stderr).toBe(64);
  expect(r.stderr).toContain('forged.json asks for what kpfleet.yml does not declare');
  expect(r.stderr).toContain(`host "h001", change 1 (upload), source: the plan says "${evil}"`);
  expect(r.stderr).toContain('change 2 (install), sha256');
  expect(logins()).toEqual(before);
  const h = fleet.host('h001');
  expect(loaded(h, MOD)).toBe(false);
  expect(installedFiles(h)).toEqual([]);
}, 60_000);

it('a plan made from another configuration is refused, saying what changed, before any login', async () => {
  project();
  const made = await kpfleet(['plan', '--out', 'old.json']);
  expect(made.code, made.stderr).toBe(0);
  project('[100%]');
  const before = logins();
  const r = await kpfleet(['apply', '--yes', 'old.json']);
  expect(r.code, r.stdout + r.stderr).toBe(64);
  expect(r.stderr).toContain('old.json was made from another configuration: rollout changed');
  expect(r.stderr).toContain('kpfleet plan --out FILE');
  expect(logins()).toEqual(before);
}, 60_000);

it('a load pointed at another module installed on the host passes the names but is refused under the lock: nothing changes', async () => {
  project();
  const h = fleet.host('h002');
  const vendor = h.sim.makeModule(join(h.sim.root, 'var/tmp/livepatch-vendor.ko'), {
    name: 'livepatch_vendor',
    kernel: EL9,
  });
  const inst = await h.sim.run(['kpatch', 'install', vendor]);
  expect(inst.code, inst.stderr).toBe(0);
  const made = await kpfleet(['plan', '--limit', 'h002', '--out', 'genuine2.json']);
  expect(made.code, made.stderr).toBe(0);
  const plan = readPlan('genuine2.json');
  const load = plan.hosts[0]?.changes.find((c) => c.action === 'load');
  expect(load?.file).toBe(`/var/lib/kpatch/${EL9}/${FILE}`);
  Object.assign(load ?? {}, { file: `/var/lib/kpatch/${EL9}/livepatch-vendor.ko` });
  writeFileSync(join(DIR, 'forged2.json'), JSON.stringify(plan));

  const r = await kpfleet(['apply', '--yes', 'forged2.json', '--report', 'report2.json']);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const report = JSON.parse(readFileSync(join(DIR, 'report2.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; message: string; steps: unknown[] }[];
  };
  expect(report.hosts[0]).toMatchObject({ host: 'h002', outcome: 'stale', steps: [] });
  expect(report.hosts[0]?.message).toContain(
    `change 3 (load): file is "/var/lib/kpatch/${EL9}/livepatch-vendor.ko" in the plan, kpfleet plans "/var/lib/kpatch/${EL9}/${FILE}"`,
  );
  expect(loaded(h, 'livepatch_vendor')).toBe(false);
  expect(loaded(h, MOD)).toBe(false);
  expect(installedFiles(h)).toEqual([`${EL9}/livepatch-vendor.ko`]);

  // the genuine plan still applies as saved
  const ok = await kpfleet(['apply', '--yes', 'genuine2.json']);
  expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  expect(loaded(h, MOD)).toBe(true);
}, 60_000);

it('a user without sudo plans (--login-user, as the pull-request job does); the deploy user applies that plan; the read-only user cannot apply', async () => {
  project();
  const h = fleet.host('h001');
  await h.sim.run(['kpatch', 'force', 'unload', MOD]).catch(() => undefined);
  if (installedFiles(h).includes(`${EL9}/${FILE}`))
    await h.sim.run(['kpatch', 'uninstall', '-k', EL9, FILE]);
  const ro = await kpfleet([
    'plan',
    '--limit',
    'h001',
    '--login-user',
    FLEET_READONLY_USER,
    '--out',
    'ro.json',
    '--detailed-exitcode',
  ]);
  expect(ro.code, ro.stdout + ro.stderr).toBe(2);
  expect(readFileSync(join(h.dir, 'sshd.log'), 'utf8')).toContain(
    `Accepted publickey for ${FLEET_READONLY_USER}`,
  );
  const denied = await kpfleet(['apply', '--yes', '--login-user', FLEET_READONLY_USER, 'ro.json']);
  expect(denied.code, denied.stdout + denied.stderr).not.toBe(0);
  expect(loaded(h, MOD)).toBe(false);
  expect(h.sim.readSysfs().installed).toEqual([]);

  const ok = await kpfleet(['apply', '--yes', 'ro.json']);
  expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  expect(loaded(h, MOD)).toBe(true);
}, 60_000);
