/**
 * Issue 21: the klp manager on a real kernel. The `klp` flavour of the test VM (test/vm/SPEC.md)
 * boots Debian 12's stock kernel with systemd and has no kpatch utility at all; kpfleet, through
 * its built CLI, manages our livepatch modules with insmod, sysfs and rmmod
 * (docs/klp-behaviour.md): load → the cumulative successor replaces the first with no moment
 * unpatched → absent restores the original → a reboot loads the store through kpfleet-klp.service,
 * run by systemd → booted with kpfleet.enable=0 the unit is skipped → a patch applied just before
 * a hard reset is loaded at boot (what the klp manager writes is durable).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { vmProject } from './project.ts';
import type { VmProject } from './project.ts';

let p: VmProject;
const UNIT = 'kpfleet-klp.service';
const ALL = ['lp-cmdline', 'lp-cmdline-v2', 'lp-version'];

/** kpfleet-klp.service after this boot, and what its boot script printed (the journal). */
const unit = async (): Promise<{ state: string; log: string }> => ({
  state: (
    await p.vm.ssh(
      `for x in ActiveState Result ExecMainStatus ConditionResult; do printf "%s=%s " $x "$(systemctl show --value -p $x ${UNIT})"; done`,
    )
  ).stdout.trim(),
  log: (await p.vm.ssh(`sudo -n journalctl -b -o cat --no-pager -u ${UNIT}`)).stdout,
});
const RAN = 'ActiveState=active Result=success ExecMainStatus=0 ConditionResult=yes';
const store = async (): Promise<string> =>
  (await p.vm.ssh(`ls /var/lib/kpfleet/klp/${p.abi}/ 2>&1`)).stdout.trim();

beforeAll(async () => {
  p = await vmProject('klp');
}, 240_000);

afterAll(async () => {
  await p.stop();
});

it('no kpatch: plan picks klp; apply loads with insmod from the klp store and sets up the unit; plan is empty', async () => {
  expect((await p.vm.ssh('command -v kpatch; sudo -n sh -c "command -v kpatch"')).stdout).toBe('');
  expect(await p.cmdline()).toContain('console=ttyS0');
  p.project('kpfleet.yml', ['loaded: [lp-cmdline, lp-version]'], ['lp-cmdline', 'lp-version']);
  const plan = await p.kpfleet(['plan', '--detailed-exitcode']);
  expect(plan.code, plan.stdout + plan.stderr).toBe(2);
  expect(plan.stdout).toContain('manager klp (auto: no kpatch utility)');
  expect(plan.stdout).toContain(`set up and enable ${UNIT}`);
  const a = await p.kpfleet(['apply', '--yes']);
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await p.cmdline()).toBe('kpfleet-livepatched v1');
  expect(await p.version()).toBe('kpfleet-livepatched version');
  expect(await p.sysfs('kpfleet_lp_cmdline')).toBe('1 0');
  expect(await store()).toBe('kpfleet_lp_cmdline.ko\nkpfleet_lp_version.ko');
  expect((await p.vm.ssh(`systemctl is-enabled ${UNIT}`)).stdout.trim()).toBe('enabled');
  const again = await p.kpfleet(['plan', '--detailed-exitcode']);
  expect(again.code, again.stdout).toBe(0);
}, 180_000);

it('the cumulative successor replaces the first with no moment unpatched; the leftover is rmmod-ed and its file removed', async () => {
  p.project('kpfleet.yml', ['loaded: [lp-cmdline-v2, lp-version]'], ALL);
  await p.vm.ssh(
    'rm -f /tmp/watch; (while [ ! -e /tmp/stop ]; do cat /proc/cmdline; done > /tmp/watch) >/dev/null 2>&1 &',
  );
  const a = await p.kpfleet(['apply', '--yes']);
  await p.vm.ssh('touch /tmp/stop; sleep 0.3; rm -f /tmp/stop');
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await p.cmdline()).toBe('kpfleet-livepatched v2');
  expect(await p.sysfs('kpfleet_lp_cmdline_v2')).toBe('1 0');
  expect(await p.sysfs('kpfleet_lp_cmdline')).toBe('');
  expect((await p.vm.ssh('test -e /sys/module/kpfleet_lp_cmdline && echo resident')).stdout).toBe(
    '',
  );
  expect(await store()).toBe('kpfleet_lp_cmdline_v2.ko\nkpfleet_lp_version.ko');
  const seen = (await p.vm.ssh('sort /tmp/watch | uniq -c')).stdout;
  expect(seen).toMatch(/kpfleet-livepatched v2/);
  for (const line of seen.trim().split('\n'))
    expect(line, 'no read of /proc/cmdline was unpatched').toMatch(/kpfleet-livepatched v[12]$/);
}, 180_000);

it('absent: disabled through sysfs, rmmod-ed, removed from the store; the original output returns', async () => {
  p.project('kpfleet.yml', ['loaded: [lp-version]', 'absent: [lp-cmdline-v2, lp-cmdline]'], ALL);
  const a = await p.kpfleet(['apply', '--yes']);
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await p.cmdline()).toContain('console=ttyS0');
  expect(await p.sysfs('kpfleet_lp_cmdline_v2')).toBe('');
  expect(await p.version()).toBe('kpfleet-livepatched version');
  expect(await store()).toBe('kpfleet_lp_version.ko');
}, 180_000);

it('the VM reboots and kpfleet-klp.service, run by systemd, loads the store again', async () => {
  await p.vm.reboot();
  const u = await unit();
  expect(u.state, u.log).toBe(RAN);
  expect(u.log).toContain(`kpfleet: loading /var/lib/kpfleet/klp/${p.abi}/kpfleet_lp_version.ko`);
  expect(await p.sysfs('kpfleet_lp_version')).toBe('1 0');
  // its crash guard record was written and removed
  expect((await p.vm.ssh('ls /var/lib/kpfleet/loading')).stdout).toBe('');
  const plan = await p.kpfleet(['plan', '--detailed-exitcode']);
  expect(plan.code, plan.stdout + plan.stderr).toBe(0);
}, 180_000);

it('booted with kpfleet.enable=0, systemd skips the unit: nothing loaded, and the plan says why', async () => {
  await p.vm.reboot({ kernelArgs: ['kpfleet.enable=0'] });
  const u = await unit();
  expect(u.state).toContain('ConditionResult=no');
  expect(u.state).toContain('ActiveState=inactive');
  expect(await p.sysfs('kpfleet_lp_version')).toBe('');
  expect(await store()).toBe('kpfleet_lp_version.ko');
  const plan = await p.kpfleet(['plan']);
  expect(plan.stdout).toContain(
    `kpfleet.enable=0 is on the kernel command line: ${UNIT} loads nothing at boot`,
  );
  expect(plan.stdout).toMatch(/\+ load lp-version/);
}, 180_000);

it('a patch applied just before a hard reset is loaded at boot: everything klp wrote was synced', async () => {
  p.project('kpfleet.yml', ['loaded: [lp-version, lp-cmdline-v2]', 'absent: [lp-cmdline]'], ALL);
  const a = await p.kpfleet(['apply', '--yes']);
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await p.cmdline()).toBe('kpfleet-livepatched v2');
  await p.vm.hardReset();
  const u = await unit();
  expect(u.state, u.log).toBe(RAN);
  expect(await p.cmdline()).toBe('kpfleet-livepatched v2');
  expect(await p.sysfs('kpfleet_lp_cmdline_v2')).toBe('1 0');
  expect(await p.sysfs('kpfleet_lp_version')).toBe('1 0');
  const plan = await p.kpfleet(['plan', '--detailed-exitcode']);
  expect(plan.code, plan.stdout + plan.stderr).toBe(0);
}, 180_000);
