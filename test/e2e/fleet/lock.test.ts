/**
 * The host lock on the real-SSH fleet (issue 15 §3, src/apply/lock.ts): a run killed with SIGKILL
 * mid-apply leaves no lock, and the next apply converges with no manual step; a second run is
 * refused while the first works, naming it; `kpfleet unlock` shows the holder, asks, and ends it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { EL9, kpfleetIn, makePatchFile, writeProject } from '../../project.ts';
import type { PatchEntry } from '../../project.ts';
import { fleetDown, fleetUp } from '../../../lab/fleet.ts';
import type { Fleet, FleetHost } from '../../../lab/fleet.ts';
import { TMP_BASE } from '../../../lab/host-dir.ts';
import { lockHeld } from '../../../lab/sim-host.ts';

const DIR = join(TMP_BASE, `e2e-lock-${String(process.pid)}`);
const MODS = ['livepatch_lock_a', 'livepatch_lock_b'];
let fleet: Fleet;

const kpfleet = kpfleetIn(DIR);
const PATCHES: PatchEntry[] = MODS.map((m) => ({
  name: m.replaceAll('_', '-'),
  module: m,
  file: `patches/${m}.ko`,
}));

/** Two patches for every host; the health check waits while the host's /tmp/hold exists. */
function project(): void {
  writeProject(DIR, {
    rollout: [
      'forks: 1',
      'health_check: "touch /tmp/health-started; while [ -e /tmp/hold ]; do sleep 0.1; done"',
      'health_check_timeout: 2m',
    ],
    patches: PATCHES,
    groups: { rhel9: { loaded: PATCHES.map((p) => p.name) } },
  });
}

const state = (h: FleetHost, m: string) => h.sim.readSysfs().patches[m];
const loaded = (h: FleetHost, m: string): boolean =>
  state(h, m)?.enabled === '1' && state(h, m)?.transition === '0';
const hostTmp = (h: FleetHost, f: string) => join(h.sim.root, 'tmp', f);

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function reset(): Promise<void> {
  for (const h of fleet.hosts) {
    h.clearFaults();
    h.sim.setProfile({ TIME_SCALE: 0.01, TRANSITION_SECONDS: 0 });
    for (const m of MODS) {
      const s = h.sim.readSysfs();
      if (s.patches[m] || s.modules[m]) await h.sim.run(['kpatch', 'force', 'unload', m]);
      if (s.installed.some((i) => i.file === `${m}.ko`))
        await h.sim.run(['kpatch', 'uninstall', '-k', EL9, m]);
    }
    for (const f of ['hold', 'health-started']) rmSync(hostTmp(h, f), { force: true });
  }
}

beforeAll(async () => {
  fleet = await fleetUp({
    hosts: 3,
    dir: DIR,
    subnet: 97,
    profiles: ['rhel9'],
    simProfile: { TIME_SCALE: '0.01' },
  });
  // two patches side by side
  for (const p of PATCHES) makePatchFile(fleet.hosts[0], DIR, p, { replace: false });
  project();
}, 120_000);
afterAll(async () => {
  await fleetDown(DIR);
});
beforeEach(reset);

it('kpfleet killed with SIGKILL mid-load: no lock is left, the next apply converges with no manual step', async () => {
  const h = fleet.host('h001');
  // a slow transition: the first load is in flight for about 2 s
  h.sim.setProfile({ TIME_SCALE: 1, TRANSITION_SECONDS: 2 });
  let killed = false;
  const first = kpfleet(['apply', '--yes', '--limit', 'h001'], (_out, kill) => {
    void (async () => {
      if (killed) return;
      killed = true;
      await until(
        'the first load is in transition',
        () => state(h, MODS[0] ?? '')?.transition === '1',
      );
      kill('SIGKILL');
    })();
  });
  const r = await first;
  expect(r.signal, r.output).toBe('SIGKILL');
  // the lock died with the connection (sshd closed the holder's stdin)
  await until('the lock of the killed run is free', () => !lockHeld(h.sim.root), 10_000);
  // the load the killed run started goes on and finishes on its own; then the host is read again
  await until('the transition settled', () => state(h, MODS[0] ?? '')?.transition !== '1', 30_000);
  h.sim.setProfile({ TIME_SCALE: 0.01, TRANSITION_SECONDS: 0 });
  const again = await kpfleet(['apply', '--yes', '--limit', 'h001']);
  expect(again.code, again.output).toBe(0);
  expect(again.output).not.toMatch(/locked by/);
  for (const m of MODS) expect(loaded(h, m), m).toBe(true);
  expect(lockHeld(h.sim.root)).toBe(false);
}, 120_000);

it('a second run is refused while the first works, naming it; kpfleet unlock shows the holder, asks, and ends it', async () => {
  const h = fleet.host('h002');
  writeFileSync(hostTmp(h, 'hold'), '');
  const first = kpfleet(['apply', '--yes', '--limit', 'h002', '--report', 'first.json']);
  await until('the first run is in its health check', () =>
    existsSync(hostTmp(h, 'health-started')),
  );
  expect(lockHeld(h.sim.root)).toBe(true);
  // someone unloads a patch meanwhile: work for a second run, which must wait its turn
  await h.sim.run(['kpatch', 'force', 'unload', MODS[1] ?? '']);
  const second = await kpfleet(['apply', '--yes', '--limit', 'h002', '--report', 'second.json']);
  expect(second.code, second.output).toBe(1);
  const report = JSON.parse(readFileSync(join(DIR, 'second.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; message: string }[];
  };
  expect(report.hosts[0]).toMatchObject({
    outcome: 'locked',
    message: expect.stringMatching(
      /locked by \S+@\S+ since \S+ \(run \S+\).*kpfleet unlock --limit h002/,
    ) as string,
  });
  // unlock: no terminal and no --yes is a usage error, nothing ended
  const asked = await kpfleet(['unlock', '--limit', 'h002']);
  expect(asked.code, asked.output).toBe(64);
  expect(asked.stdout).toMatch(/h002 {2}locked by \S+@\S+ since \S+ \(run \S+, pid \d+, boot /);
  expect(lockHeld(h.sim.root)).toBe(true);
  // --limit is required
  expect((await kpfleet(['unlock', '--yes'])).code).toBe(64);
  const unlocked = await kpfleet(['unlock', '--limit', 'h002', '--yes']);
  expect(unlocked.code, unlocked.output).toBe(0);
  expect(unlocked.stdout).toMatch(/h002 {2}unlocked/);
  expect(lockHeld(h.sim.root)).toBe(false);
  rmSync(hostTmp(h, 'hold'), { force: true });
  await first;
  // now the host is free: the next run converges
  const again = await kpfleet(['apply', '--yes', '--limit', 'h002']);
  expect(again.code, again.output).toBe(0);
  for (const m of MODS) expect(loaded(h, m), m).toBe(true);
  // and unlock on a free host says so
  const free = await kpfleet(['unlock', '--limit', 'h002']);
  expect(free.code, free.output).toBe(0);
  expect(free.stdout).toMatch(/h002 {2}free[\s\S]*No lock to end/);
}, 180_000);

it('a run whose lock kpfleet unlock ended stops before its next change, and says so', async () => {
  const h = fleet.host('h001');
  // a slow transition (within kpatch's 15 s wait): the first load is in flight for about 10 s,
  // time enough for kpfleet unlock (about 2 to 5 s here) to end the lock meanwhile
  h.sim.setProfile({ TIME_SCALE: 1, TRANSITION_SECONDS: 10 });
  let started = false;
  let unlocked: ReturnType<typeof kpfleet> | undefined;
  const first = kpfleet(['apply', '--yes', '--limit', 'h001', '--report', 'ended.json'], () => {
    if (started) return;
    started = true;
    unlocked = (async () => {
      await until(
        'the first load is in transition',
        () => state(h, MODS[0] ?? '')?.transition === '1',
      );
      return kpfleet(['unlock', '--limit', 'h001', '--yes']);
    })();
  });
  const r = await first;
  const u = await unlocked;
  expect(u?.code, u?.output).toBe(0);
  expect(u?.stdout).toMatch(/h001 {2}locked by \S+@\S+ since \S+ \(run \S+, pid \d+/);
  expect(r.code, r.output).toBe(1);
  const report = JSON.parse(readFileSync(join(DIR, 'ended.json'), 'utf8')) as {
    hosts: { host: string; outcome: string; message: string }[];
  };
  expect(report.hosts[0]).toMatchObject({
    outcome: 'failed',
    message: expect.stringMatching(/its lock on the host ended after \d+ of \d+ changes/) as string,
  });
  // the load in flight finished and was verified; the second was never started
  expect(loaded(h, MODS[0] ?? '')).toBe(true);
  expect(state(h, MODS[1] ?? '')).toBeUndefined();
  expect(lockHeld(h.sim.root)).toBe(false);
  h.sim.setProfile({ TIME_SCALE: 0.01, TRANSITION_SECONDS: 0 });
  const again = await kpfleet(['apply', '--yes', '--limit', 'h001']);
  expect(again.code, again.output).toBe(0);
  for (const m of MODS) expect(loaded(h, m), m).toBe(true);
}, 120_000);

it('the lock folder of an older kpfleet: refused, shown by unlock, and removed by it', async () => {
  const h = fleet.host('h003');
  const legacy = join(h.sim.root, 'var/lib/kpfleet/lock');
  mkdirSync(legacy, { recursive: true });
  writeFileSync(
    join(legacy, 'info'),
    'owner=carol@old\nsince=2026-11-01T00:00:00.000Z\nrun=old-1\n',
  );
  const r = await kpfleet(['apply', '--yes', '--limit', 'h003']);
  expect(r.code).toBe(1);
  expect(r.output).toMatch(/locked by carol@old since 2026-11-01T00:00:00\.000Z \(run old-1\)/);
  const u = await kpfleet(['unlock', '--limit', 'h003', '--yes']);
  expect(u.code, u.output).toBe(0);
  expect(u.stdout).toMatch(/lock folder.*carol@old/);
  expect(existsSync(legacy)).toBe(false);
  const again = await kpfleet(['apply', '--yes', '--limit', 'h003']);
  expect(again.code, again.output).toBe(0);
}, 120_000);

it('a step of a dead run still running on the host: the next run waits for it before it reads the host', async () => {
  const h = fleet.host('h003');
  const dir = join(h.sim.root, 'var/lib/kpfleet/locks');
  mkdirSync(dir, { recursive: true });
  const done = join(DIR, 'orphan-done');
  rmSync(done, { force: true });
  // what a step of a killed run looks like to the lock: a shared lock on steps.lock (lock.ts)
  const orphan = spawn(
    'flock',
    ['-s', join(dir, 'steps.lock'), 'sh', '-c', `sleep 2; touch ${done}`],
    {
      stdio: 'ignore',
    },
  );
  const ended = new Promise((r) => orphan.on('close', r));
  await until('the orphan holds its lock', () => {
    return spawnSync('flock', ['-n', join(dir, 'steps.lock'), 'true']).status !== 0;
  });
  const r = await kpfleet(['apply', '--yes', '--limit', 'h003']);
  await ended;
  expect(r.code, r.output).toBe(0);
  const installed = join(h.sim.root, 'var/lib/kpatch', EL9, `${MODS[0] ?? ''}.ko`);
  expect(statSync(installed).mtimeMs).toBeGreaterThanOrEqual(statSync(done).mtimeMs);
}, 120_000);
