/**
 * The klp manager's real scripts (docs/klp-behaviour.md §K.2–§K.4, §K.7) over real SSH on a lab
 * host without kpatch (profile debian-klp): each change's step as `stepFor` builds it, run as
 * root, judged by `judgeStep` as apply judges it; the probe reading the store and the unit back;
 * a reboot loading the store through kpfleet-klp.service; a cumulative patch replacing another
 * and its leftover removed; and a stalled transition reversed and reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeStep, stepFor } from '../../../src/apply/steps.ts';
import { parseFacts } from '../../../src/facts/parse/facts.ts';
import { probeScript } from '../../../src/facts/probe.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import type { Change, InstallChange, LoadChange } from '../../../src/plan/model.ts';
import { Lab } from '../../../lab/lab.ts';
import { labRoot, labSsh } from './ssh.ts';

let lab: Lab;
const H = 'lab001';
const K = '6.1.0-56-amd64';
const STORE = `/var/lib/kpfleet/klp/${K}`;

const ssh = (command: string, timeoutMs?: number) => labSsh(lab, H, command, timeoutMs);
const root = (command: string, timeoutMs?: number) => labRoot(lab, H, command, timeoutMs);

async function facts(): Promise<HostFacts> {
  const r = parseFacts((await ssh(probeScript())).stdout);
  if (!r.ok) throw new Error(r.error);
  return r.facts;
}

/** Runs one change's klp step on the host as apply would, and judges it. */
async function run(
  c: Change,
  timeoutMs?: number,
): Promise<{ ok: boolean; error?: string; out: string }> {
  const f = await facts();
  const s = stepFor(c, { facts: f, staging: '/tmp', runId: 'lab-run-1', manager: 'klp' });
  const r = await root(s.script, timeoutMs);
  return { ...judgeStep(c, r.stdout, 'klp'), out: r.stdout };
}

const sha = async (path: string) => (await ssh(`sha256sum ${path} | cut -d' ' -f1`)).stdout.trim();
const install = (m: string, sha256: string): InstallChange => ({
  action: 'install',
  patch: m,
  module: `livepatch_${m}`,
  kernel: K,
  file: `/tmp/build/livepatch-${m}.ko`,
  sha256,
  reason: 'test',
});
const load = (m: string, replacesModules: string[] = []): LoadChange => ({
  action: 'load',
  patch: m,
  module: `livepatch_${m}`,
  file: `${STORE}/livepatch_${m}.ko`,
  replacesModules,
  reenable: false,
  cves: [],
  reason: 'test',
});
const sysfs = async () =>
  (
    await ssh(
      'for d in /sys/kernel/livepatch/*/; do [ -d "$d" ] && echo "$(basename "$d") $(cat "$d/enabled")$(cat "$d/transition")"; done; for m in /sys/module/livepatch_*; do [ -e "$m" ] && echo "mod $(basename "$m") $(cat "$m/refcnt")"; done; true',
    )
  ).stdout;

beforeAll(async () => {
  lab = await Lab.start({ hosts: 1, profiles: ['debian-klp'], simProfile: { TIME_SCALE: '0.1' } });
  for (const [m, opt] of [
    ['a', '--no-replace'],
    ['b', '--replace'],
  ] as const)
    expect(
      (await root(`kpsim mkko --name livepatch_${m} ${opt} -o /tmp/build/livepatch-${m}.ko`)).code,
    ).toBe(0);
}, 60_000);
afterAll(async () => {
  await lab.close();
});

describe('the klp manager on a host without kpatch', () => {
  it('install, the boot unit, load: each judged as apply judges it; the probe reads them back', async () => {
    const a = await sha('/tmp/build/livepatch-a.ko');
    expect(await run(install('a', a))).toMatchObject({ ok: true });
    expect((await ssh(`stat -c %a ${STORE}/livepatch_a.ko; ls -a ${STORE}`)).stdout).toBe(
      '644\n.\n..\nlivepatch_a.ko\n',
    );
    const before = await facts();
    expect(before.klp?.boot).toMatchObject({ enabled: false, current: false });
    expect(
      await run({ action: 'enable-service', unit: 'kpfleet-klp.service', reason: 't' }),
    ).toMatchObject({ ok: true });
    const l = await run(load('a'));
    expect(l).toMatchObject({ ok: true });
    expect(l.out).toContain(`kpfleet: loading ${STORE}/livepatch_a.ko`);
    const f = await facts();
    expect(f.kpatch.installed).toBe(false);
    expect(f.klp?.store.map((i) => [i.module, i.sha256])).toEqual([['livepatch_a', a]]);
    expect(f.klp?.boot).toEqual({
      systemctl: true,
      enabled: true,
      state: 'enabled',
      current: true,
    });
    expect(f.patches.map((p) => [p.name, p.enabled])).toEqual([['livepatch_a', true]]);
  });

  it('a second load of an enabled patch changes nothing; a module for another kernel is refused by install', async () => {
    expect(await run(load('a'))).toMatchObject({ ok: true });
    await root(
      `kpsim mkko --name livepatch_x --kernel 6.1.0-99-amd64 -o /tmp/build/livepatch-x.ko`,
    );
    const x = await run(install('x', await sha('/tmp/build/livepatch-x.ko')));
    expect(x.ok).toBe(false);
    expect(x.out).toContain('is built for 6.1.0-99-amd64, not 6.1.0-56-amd64');
    expect((await ssh(`ls ${STORE}`)).stdout).toBe('livepatch_a.ko\n');
  });

  it('a reboot loads the store through kpfleet-klp.service (the sim runs the unit as systemd would)', async () => {
    // a file not named after its module (left by hand, or by a run cut short) is not loaded at
    // boot: here a cumulative build that would retire livepatch_a if it were
    expect((await root(`cp /tmp/build/livepatch-b.ko ${STORE}/livepatch-b.ko`)).code).toBe(0);
    expect((await root('reboot')).code).toBe(0);
    for (let i = 0; i < 50 && !(await sysfs()).includes('livepatch_a 10'); i++)
      await new Promise((r) => setTimeout(r, 200));
    expect(await sysfs()).toBe('livepatch_a 10\nmod livepatch_a 1\n');
    expect((await ssh('systemctl is-active kpfleet-klp.service')).stdout).toBe('active\n');
    // its load record is gone once the load returned (the crash guard, §K.2)
    expect((await ssh('ls /var/lib/kpfleet/loading')).stdout).toBe('');
    expect((await root(`rm ${STORE}/livepatch-b.ko`)).code).toBe(0);
  });

  it('a cumulative patch replaces a; a is then a leftover, unloaded by rmmod alone; b unloads', async () => {
    expect(await run(install('b', await sha('/tmp/build/livepatch-b.ko')))).toMatchObject({
      ok: true,
    });
    expect(await run(load('b', ['livepatch_a']))).toMatchObject({ ok: true });
    expect(await sysfs()).toBe('livepatch_b 10\nmod livepatch_a 0\nmod livepatch_b 1\n');
    expect(
      await run({ action: 'unload', module: 'livepatch_a', leftover: true, reason: 't' }),
    ).toMatchObject({ ok: true });
    expect(
      await run({
        action: 'uninstall',
        module: 'livepatch_a',
        kernel: K,
        file: 'livepatch_a.ko',
        store: 'klp',
        reason: 't',
      }),
    ).toMatchObject({ ok: true });
    // a again over nothing: loads (and b, not a replace of a in sysfs terms, is retired by nothing)
    const u = await run({ action: 'unload', module: 'livepatch_b', leftover: false, reason: 't' });
    expect(u).toMatchObject({ ok: true });
    expect(u.out).toContain('kpfleet: disabling livepatch_b');
    expect(await sysfs()).toBe('');
  });

  it('a transition that never ends: the load names it stalled, reverses it, and nothing is left loaded', async () => {
    await root('kpsim fault stall forever');
    const r = await run(load('b'), 120_000);
    await root('kpsim fault clear stall');
    expect(r.ok).toBe(false);
    expect(r.out).toContain('kpfleet: the transition of livepatch_b has stalled');
    expect(r.out).toContain('transition stalled: livepatch_b was reversed and is not loaded');
    expect(r.error).toMatch(/livepatch_b is not in \/sys\/kernel\/livepatch/);
    expect(await sysfs()).toBe('');
  }, 150_000);
});
