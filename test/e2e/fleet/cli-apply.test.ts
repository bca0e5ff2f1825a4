/**
 * `kpfleet apply` (the built CLI) on the real-SSH fleet with simulator faults (issue 6 §6):
 * converge, verify from sysfs, apply again is a no-op; a stalled transition in wave 2 halts
 * wave 3 (max_failures 0); a failing health check rolls the host back; a host already locked by
 * another run is refused with who and since; a connection dropped mid-load is reported and the
 * next run converges; SIGINT mid-wave exits 130 with every host's state in the report.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { CVE, EL9, kpfleetIn, makePatchFile, writeProject } from '../../project.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import { lockHeld } from '../../../lab/sim-host.ts';
import type { Fleet, FleetHost } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const DIR = join(TMP_BASE, `e2e-cli-apply-${String(process.pid)}`);
const MOD = 'livepatch_cve_2024_1086';
let fleet: Fleet;

const kpfleet = kpfleetIn(DIR);

function project(rollout: string[]): void {
  writeProject(DIR, {
    ...(rollout.length > 0 ? { rollout } : {}),
    patches: [CVE],
    groups: { rhel9: { loaded: ['cve-2024-1086'] } },
  });
}

const loaded = (h: FleetHost): boolean => {
  const s = h.sim.readSysfs();
  return s.patches[MOD]?.enabled === '1' && s.patches[MOD].transition === '0';
};
const installed = (h: FleetHost): boolean =>
  h.sim
    .readSysfs()
    .installed.some((i) => i.kernel === EL9 && i.file === 'livepatch-cve-2024-1086.ko');

/** Every host back to bare: nothing loaded or installed, no fault, no lock. */
async function reset(): Promise<void> {
  for (const h of fleet.hosts) {
    h.clearFaults();
    if (h.sim.readSysfs().patches[MOD] || h.sim.readSysfs().modules[MOD])
      await h.sim.run(['kpatch', 'force', 'unload', MOD]);
    if (installed(h)) await h.sim.run(['kpatch', 'uninstall', '-k', EL9, MOD]);
    rmSync(join(h.sim.root, 'var/lib/kpfleet/lock'), { recursive: true, force: true });
    rmSync(join(h.sim.root, 'var/tmp/unhealthy'), { force: true });
  }
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 8,
    dir: DIR,
    subnet: 88,
    profiles: ['rhel9'],
    simProfile: { TIME_SCALE: '0.01' },
  });
  makePatchFile(fleet.hosts[0], DIR, CVE);
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});
beforeEach(reset);

it('converges every host in waves, verified from sysfs; a second apply changes nothing (exit 0)', async () => {
  project(['waves: [1, 50%, 100%]']);
  const r = await kpfleet(['apply', '--yes', '--report', 'report.json']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  for (const h of fleet.hosts) {
    expect(loaded(h), h.name).toBe(true);
    expect(installed(h), h.name).toBe(true);
  }
  const report = JSON.parse(readFileSync(join(DIR, 'report.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; wave: number }[];
  };
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  ajv.addSchema(JSON.parse(readFileSync(join(ROOT, 'schemas/plan.schema.json'), 'utf8')) as object);
  const validate = ajv.compile(
    JSON.parse(readFileSync(join(ROOT, 'schemas/report.schema.json'), 'utf8')) as object,
  );
  expect(validate(report), ajv.errorsText(validate.errors)).toBe(true);
  expect(report.hosts.map((h) => h.outcome)).toEqual(Array(8).fill('changed'));
  expect(report.hosts.map((h) => h.wave)).toEqual([1, 2, 2, 2, 3, 3, 3, 3]);
  // the audit log: per host a `started` record before its first change, then how it ended
  const audit = readFileSync(join(DIR, 'state/kpfleet/audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { host: string; result: string });
  expect(audit).toHaveLength(16);
  for (const h of fleet.hosts) {
    expect(
      audit.filter((r) => r.host === h.name).map((r) => r.result),
      h.name,
    ).toEqual(['started', 'changed']);
  }
  // the lock is gone, staging cleaned: what this run staged and the then-empty staging folder
  for (const h of fleet.hosts) {
    expect(lockHeld(h.sim.root), h.name).toBe(false);
    expect(existsSync(join(h.sim.root, 'home/kpfleet/.kpfleet/stage')), h.name).toBe(false);
  }

  const again = await kpfleet(['apply', '--yes']);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/Nothing to apply/);
}, 120_000);

it('without a terminal and without --yes, apply refuses (exit 64) and changes nothing', async () => {
  project([]);
  const r = await kpfleet(['apply']);
  expect(r.code).toBe(64);
  expect(r.stderr).toMatch(/--yes/);
  expect(fleet.hosts.some(loaded)).toBe(false);
});

it('--check changes nothing and says what would change', async () => {
  project([]);
  const r = await kpfleet(['apply', '--check', '--report', 'check.json']);
  expect(r.code).toBe(0);
  expect(fleet.hosts.some(loaded)).toBe(false);
  const report = JSON.parse(readFileSync(join(DIR, 'check.json'), 'utf8')) as {
    hosts: { outcome: string }[];
  };
  expect(new Set(report.hosts.map((h) => h.outcome))).toEqual(new Set(['would-change']));
}, 60_000);

it('a stalled transition on a host of wave 2 fails it (rolled back) and halts wave 3 (max_failures 0)', async () => {
  project(['waves: [1, 50%, 100%]', 'max_failures: 0']);
  const stuck = fleet.host('h003'); // wave 2 is h002..h004
  stuck.fault('stall', 'forever');
  stuck.sim.fault('stall-unload', '0');
  const r = await kpfleet(['apply', '--yes', '--report', 'halt.json']);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const report = JSON.parse(readFileSync(join(DIR, 'halt.json'), 'utf8')) as {
    hosts: { host: string; outcome: string }[];
  };
  expect(report.hosts.map((h) => [h.host, h.outcome])).toEqual([
    ['h001', 'changed'],
    ['h002', 'changed'],
    ['h003', 'failed'],
    ['h004', 'changed'],
    ['h005', 'skipped'],
    ['h006', 'skipped'],
    ['h007', 'skipped'],
    ['h008', 'skipped'],
  ]);
  expect(loaded(stuck)).toBe(false);
  expect(installed(stuck)).toBe(false); // rolled back: as before the run
  expect(loaded(fleet.host('h005'))).toBe(false);
}, 120_000);

it('a failing health check rolls that host back; the others converge', async () => {
  project(["health_check: 'test ! -e /var/tmp/unhealthy'"]);
  const sick = fleet.host('h002');
  writeFileSync(join(sick.sim.root, 'var/tmp/unhealthy'), '');
  const r = await kpfleet(['apply', '--yes', '--report', 'health.json']);
  expect(r.code).toBe(1);
  expect(loaded(sick)).toBe(false);
  expect(installed(sick)).toBe(false);
  expect(loaded(fleet.host('h001'))).toBe(true);
  const report = JSON.parse(readFileSync(join(DIR, 'health.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; message: string }[];
  };
  const h2 = report.hosts.find((h) => h.host === 'h002');
  expect(h2?.outcome).toBe('failed');
  expect(h2?.message).toMatch(/health check failed.*rolled back/);
}, 120_000);

it('a host locked by another run is refused, naming who and since; the lock is left alone', async () => {
  project([]);
  const h = fleet.host('h004');
  const lock = join(h.sim.root, 'var/lib/kpfleet/lock');
  mkdirSync(lock, { recursive: true });
  writeFileSync(
    join(lock, 'info'),
    'owner=alice@ci-7\nsince=2026-11-25T10:00:00.000Z\nrun=other\n',
  );
  const r = await kpfleet(['apply', '--yes', '--limit', 'h004:h005', '--report', 'lock.json']);
  expect(r.code).toBe(1);
  const report = JSON.parse(readFileSync(join(DIR, 'lock.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; message: string }[];
  };
  expect(report.hosts.find((x) => x.host === 'h004')).toMatchObject({
    outcome: 'locked',
    message: expect.stringMatching(
      /locked by alice@ci-7 since 2026-11-25T10:00:00\.000Z/,
    ) as string,
  });
  expect(report.hosts.find((x) => x.host === 'h005')?.outcome).toBe('changed');
  expect(existsSync(join(lock, 'info'))).toBe(true);
  expect(loaded(h)).toBe(false);
}, 60_000);

it('a connection dropped mid-load is reported; the next run converges the host', async () => {
  project([]);
  const h = fleet.host('h006');
  h.fault('drop', 'load'); // the connection is cut by kpatch load's first line
  const r = await kpfleet(['apply', '--yes', '--limit', 'h006', '--report', 'drop.json']);
  expect(r.code).not.toBe(0);
  const report = JSON.parse(readFileSync(join(DIR, 'drop.json'), 'utf8')) as {
    hosts: { host: string; outcome: string }[];
  };
  expect(['failed', 'unreachable', 'rollback-failed']).toContain(report.hosts[0]?.outcome);
  h.clearFaults();
  const again = await kpfleet(['apply', '--yes', '--limit', 'h006']);
  expect(again.code, again.stdout + again.stderr).toBe(0);
  expect(loaded(h)).toBe(true);
  expect(installed(h)).toBe(true);
}, 120_000);

it('SIGINT mid-wave: steps in flight finish, nothing new starts, exit 130, every host reported', async () => {
  project(['waves: [1, 100%]', 'forks: 2']);
  // slow transitions: 3 simulated s at TIME_SCALE 0.01 is short; make them long enough to interrupt
  for (const h of fleet.hosts) h.sim.setProfile({ TIME_SCALE: 0.2, TRANSITION_SECONDS: 3 });
  try {
    let sent = false;
    const r = await kpfleet(['apply', '--yes', '--report', 'int.json'], (text, kill) => {
      if (!sent && /wave 2/.test(text)) {
        sent = true;
        kill();
      }
    });
    expect(r.code, r.stdout + r.stderr).toBe(130);
    const report = JSON.parse(readFileSync(join(DIR, 'int.json'), 'utf8')) as {
      interrupted: boolean;
      hosts: { host: string; outcome: string }[];
    };
    expect(report.interrupted).toBe(true);
    expect(report.hosts).toHaveLength(8);
    const outcomes = report.hosts.map((x) => x.outcome);
    expect(outcomes[0]).toBe('changed');
    expect(outcomes).toContain('skipped');
    for (const o of outcomes) expect(['changed', 'interrupted', 'skipped']).toContain(o);
    // every host is in a known state: changed ones have the patch, skipped ones do not
    report.hosts.forEach((x, i) => {
      const h = fleet.hosts[i];
      if (!h) return;
      if (x.outcome === 'changed') expect(loaded(h), x.host).toBe(true);
      if (x.outcome === 'skipped') expect(installed(h), x.host).toBe(false);
    });
    // and running again converges
    for (const h of fleet.hosts) h.sim.setProfile({ TIME_SCALE: 0.01, TRANSITION_SECONDS: 0 });
    const again = await kpfleet(['apply', '--yes']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    for (const h of fleet.hosts) expect(loaded(h), h.name).toBe(true);
  } finally {
    for (const h of fleet.hosts) h.sim.setProfile({ TIME_SCALE: 0.01, TRANSITION_SECONDS: 0 });
  }
}, 180_000);

it('a saved plan is executed as saved; a host whose facts changed since is refused (stale)', async () => {
  project([]);
  const made = await kpfleet(['plan', '--limit', 'h001:h002', '--out', 'saved.json']);
  expect(made.code).toBe(0);
  // h002 changes behind the plan's back: someone installs another live patch
  const h2 = fleet.host('h002');
  const vendor = h2.sim.makeModule(join(h2.sim.root, 'var/tmp/livepatch-vendor.ko'), {
    name: 'livepatch_vendor',
    kernel: EL9,
  });
  const inst = await h2.sim.run(['kpatch', 'install', vendor]);
  expect(inst.code, inst.stderr).toBe(0);
  const r = await kpfleet(['apply', '--yes', 'saved.json', '--report', 'saved-report.json']);
  expect(r.code).toBe(1);
  const report = JSON.parse(readFileSync(join(DIR, 'saved-report.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; message: string }[];
  };
  expect(report.hosts.map((x) => [x.host, x.outcome])).toEqual([
    ['h001', 'changed'],
    ['h002', 'stale'],
  ]);
  expect(report.hosts[1]?.message).toMatch(/facts changed since the plan/);
  expect(loaded(fleet.host('h001'))).toBe(true);
  expect(loaded(h2)).toBe(false);
  await h2.sim.run(['kpatch', 'uninstall', 'livepatch-vendor.ko']);
}, 60_000);

it('an rpm: patch is installed with dnf at that exact version, its module checked, then loaded (§4.3)', async () => {
  const h = fleet.host('h007');
  const nvra = h.sim.addPackage({ version: '1', release: '1' });
  h.sim.addPackage({ version: '2', release: '1' }); // newer in the repository: not wanted
  const mod = 'kpatch_5_14_0_362_8_1_1_1';
  writeProject(
    DIR,
    {
      patches: [{ name: 'el9-1', module: mod, rpm: 'kpatch-patch-5_14_0-362_8_1-1-1' }],
      groups: { rhel9: { loaded: ['el9-1'] } },
    },
    'rpm.yml',
  );
  try {
    const r = await kpfleet(['apply', '--yes', '-c', 'rpm.yml', '--limit', 'h007']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\+ package kpatch-patch-5_14_0-362_8_1-1-1\b/);
    const q = await h.sim.run(['rpm', '-qa', 'kpatch-patch*']);
    expect(q.stdout.trim()).toBe(nvra);
    expect(h.sim.readSysfs().patches[mod]).toMatchObject({ enabled: '1', transition: '0' });
    const again = await kpfleet([
      'plan',
      '-c',
      'rpm.yml',
      '--limit',
      'h007',
      '--detailed-exitcode',
    ]);
    expect(again.code).toBe(0);
  } finally {
    await h.sim.run(['kpatch', 'force', 'unload', mod]);
    await h.sim.run(['dnf', 'remove', '-y', nvra]);
  }
}, 60_000);

it('two atomic-replace builds declared as independent: the second retires the first, so the host fails and is rolled back (docs/kpatch-behaviour.md §5.3)', async () => {
  // kpatch-build makes replace-mode modules by default; loading one disables every patch loaded
  // before it. Each load verifies on its own; only the facts read after the run show the loss.
  const other = 'livepatch_nf_tables';
  fleet.hosts[0]?.sim.makeModule(join(DIR, 'patches/livepatch-nf-tables.ko'), {
    name: other,
    kernel: EL9,
  });
  writeProject(DIR, {
    patches: [CVE, { name: 'nf-tables', module: other, file: 'patches/livepatch-nf-tables.ko' }],
    groups: { rhel9: { loaded: ['cve-2024-1086', 'nf-tables'] } },
  });
  const h = fleet.host('h003');
  try {
    const r = await kpfleet(['apply', '--yes', '--limit', 'h003', '--report', 'replace.json']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const report = JSON.parse(readFileSync(join(DIR, 'replace.json'), 'utf8')) as {
      hosts: { host: string; outcome: string; message: string }[];
    };
    expect(report.hosts).toEqual([
      expect.objectContaining({
        host: 'h003',
        outcome: 'failed',
        message: expect.stringMatching(
          new RegExp(
            `${MOD} was loaded and verified, then no longer enabled.*atomic-replace.*replaces.*rolled back`,
          ),
        ) as unknown,
      }),
    ]);
    // rolled back: neither patch is loaded or installed, as before the run
    const s = h.sim.readSysfs();
    expect(s.patches[MOD]?.enabled ?? '0').toBe('0');
    expect(s.patches[other]).toBeUndefined();
    expect(installed(h)).toBe(false);
  } finally {
    for (const m of [other, MOD])
      if (h.sim.readSysfs().patches[m] || h.sim.readSysfs().modules[m])
        await h.sim.run(['kpatch', 'force', 'unload', m]);
    await h.sim.run(['kpatch', 'uninstall', '-k', EL9, other]);
  }
}, 120_000);
