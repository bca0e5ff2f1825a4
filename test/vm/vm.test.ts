/**
 * Issue 7: kpfleet live-patches a real Linux kernel. A stock Debian 12 kernel boots under QEMU
 * (test/vm/vm.ts) with systemd as init, the `kpatch` flavour of the root disk: sshd, sudo, kmod,
 * our kpatch-compatible script and upstream's kpatch.service, enabled; livepatch modules
 * written in this project (test/vm/modules) are built against Debian's headers for exactly that
 * kernel. Everything below goes through the kpfleet CLI (the built one, as a user runs it) and
 * checks the effect over SSH: validate → plan → apply → the patched /proc output → plan empty →
 * the cumulative successor replaces the first without a moment unpatched → absent restores the
 * original → a module built for another kernel is refused and the host keeps its patches → the
 * VM reboots and kpatch.service, run by systemd at boot, loads the installed patch again → booted
 * with kpatch.enable=0, the unit is skipped → a patch applied just before a hard reset (QMP
 * system_reset, no flush) is loaded at boot.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PATCHES, vmProject } from './project.ts';
import type { VmProject } from './project.ts';
import type { Vm } from './vm.ts';

let p: VmProject;
let vm: Vm;
let dir: string;
let abi: string;
let prevAbi: string;
const kpfleet = (args: string[]) => p.kpfleet(args);
const project = (file: string, groups: string[], patches: string[]) =>
  p.project(file, groups, patches);
const cmdline = () => p.cmdline();
const version = () => p.version();
const sysfs = (m: string) => p.sysfs(m);
/** kpatch.service after this boot, and what its `kpatch load --all` printed (the journal). */
const kpatchService = async (): Promise<{ state: string; log: string }> => ({
  state: (
    await vm.ssh(
      'for p in ActiveState Result ExecMainStatus; do printf "%s=%s " $p "$(systemctl show --value -p $p kpatch.service)"; done',
    )
  ).stdout.trim(),
  log: (await vm.ssh('sudo -n journalctl -b -o cat --no-pager -u kpatch.service')).stdout,
});
const SERVICE_RAN = 'ActiveState=active Result=success ExecMainStatus=0';

beforeAll(async () => {
  p = await vmProject('kpatch');
  ({ vm, dir, abi, prevAbi } = p);
}, 240_000);

afterAll(async () => {
  await p.stop();
});

it('validate → plan shows the loads → apply → /proc shows the patched output, sysfs enabled=1 transition=0 → plan is empty', async () => {
  expect(prevAbi, 'the previous ABI modules were built').not.toBe('');
  const original = await cmdline();
  expect(original).toContain('console=ttyS0');
  project('kpfleet.yml', ['loaded: [lp-cmdline, lp-version]'], ['lp-cmdline', 'lp-version']);

  const v = await kpfleet(['validate']);
  expect(v.code, v.stdout + v.stderr).toBe(0);

  const p = await kpfleet(['plan', '--detailed-exitcode']);
  expect(p.code, p.stdout + p.stderr).toBe(2);
  expect(p.stdout).toMatch(/\+ load lp-cmdline \(kpfleet_lp_cmdline\)/);
  expect(p.stdout).toMatch(/\+ load lp-version \(kpfleet_lp_version\)/);

  const a = await kpfleet(['apply', '--yes']);
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await cmdline()).toBe('kpfleet-livepatched v1');
  expect(await version()).toBe('kpfleet-livepatched version');
  expect(await sysfs('kpfleet_lp_cmdline')).toBe('1 0');
  expect(await sysfs('kpfleet_lp_version')).toBe('1 0');

  const again = await kpfleet(['plan', '--detailed-exitcode']);
  expect(again.code, again.stdout).toBe(0);
}, 120_000);

it('the cumulative successor replaces the first without a moment unpatched (§5.3)', async () => {
  project(
    'kpfleet.yml',
    ['loaded: [lp-cmdline-v2, lp-version]'],
    ['lp-cmdline', 'lp-cmdline-v2', 'lp-version'],
  );
  // watch /proc/cmdline on the VM while apply runs: every read must be a patched one
  await vm.ssh(
    'rm -f /tmp/watch; (while [ ! -e /tmp/stop ]; do cat /proc/cmdline; done > /tmp/watch) >/dev/null 2>&1 &',
  );
  const a = await kpfleet(['apply', '--yes']);
  await vm.ssh('touch /tmp/stop; sleep 0.3; rm -f /tmp/stop');
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await cmdline()).toBe('kpfleet-livepatched v2');
  expect(await sysfs('kpfleet_lp_cmdline_v2')).toBe('1 0');
  expect(await sysfs('kpfleet_lp_cmdline')).toBe(''); // retired and removed
  const seen = (await vm.ssh('sort /tmp/watch | uniq -c')).stdout;
  expect(seen).toMatch(/kpfleet-livepatched v2/);
  for (const line of seen.trim().split('\n')) {
    expect(line, 'no read of /proc/cmdline was unpatched').toMatch(/kpfleet-livepatched v[12]$/);
  }
}, 120_000);

it('absent removes it and the original output returns; the other patch stays', async () => {
  project(
    'kpfleet.yml',
    ['loaded: [lp-version]', 'absent: [lp-cmdline-v2, lp-cmdline]'],
    ['lp-cmdline', 'lp-cmdline-v2', 'lp-version'],
  );
  const a = await kpfleet(['apply', '--yes']);
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await cmdline()).toContain('console=ttyS0');
  expect(await sysfs('kpfleet_lp_cmdline_v2')).toBe('');
  expect(await version()).toBe('kpfleet-livepatched version');
  const ls = await vm.ssh(`ls /var/lib/kpatch/${abi}/`);
  expect(ls.stdout.trim()).toBe('kpfleet-lp-version.ko');
}, 120_000);

it('a module built for another kernel is refused with a clear error; the host keeps its patches', async () => {
  project(
    'wrong.yml',
    ['loaded: [lp-version, lp-wrong-kernel]'],
    ['lp-version', 'lp-wrong-kernel'],
  );
  const a = await kpfleet(['apply', '--yes', '-c', 'wrong.yml', '--report', 'wrong.json']);
  expect(a.code).toBe(1);
  const report = JSON.parse(readFileSync(join(dir, 'wrong.json'), 'utf8')) as {
    hosts: { outcome: string; message: string }[];
  };
  expect(report.hosts[0]?.outcome).toBe('failed');
  expect(a.stdout + JSON.stringify(report)).toContain(
    `invalid module version ${prevAbi} for kernel ${abi}`,
  );
  expect(await version()).toBe('kpfleet-livepatched version');
  expect(await sysfs('kpfleet_lp_version')).toBe('1 0');
  expect(await cmdline()).toContain('console=ttyS0');
}, 120_000);

it('the VM reboots and kpatch.service, run by systemd, loads the installed patch again (kpatch load --all)', async () => {
  await vm.reboot();
  const service = await kpatchService();
  expect(service.state, service.log).toBe(SERVICE_RAN);
  expect(service.log).toContain(`loading patch module: /var/lib/kpatch/${abi}/${PATCHES.version}`);
  expect(await version()).toBe('kpfleet-livepatched version');
  expect(await sysfs('kpfleet_lp_version')).toBe('1 0');
  project(
    'kpfleet.yml',
    ['loaded: [lp-version]', 'absent: [lp-cmdline-v2, lp-cmdline]'],
    ['lp-cmdline', 'lp-cmdline-v2', 'lp-version'],
  );
  const p = await kpfleet(['plan', '--detailed-exitcode']);
  expect(p.code, p.stdout + p.stderr).toBe(0);
}, 180_000);

it('booted with kpatch.enable=0, systemd skips kpatch.service and the installed patch stays unloaded (§4.2)', async () => {
  await vm.reboot({ kernelArgs: ['kpatch.enable=0'] });
  expect(await cmdline()).toMatch(/(^| )kpatch\.enable=0( |$)/);
  const show = async (p: string): Promise<string> =>
    (await vm.ssh(`systemctl show --value -p ${p} kpatch.service`)).stdout.trim();
  expect(await show('ConditionResult')).toBe('no');
  expect(await show('ActiveState')).toBe('inactive');
  expect(await sysfs('kpfleet_lp_version')).toBe('');
  expect(await version()).not.toContain('kpfleet-livepatched');
  // still installed: the next boot (the hard reset below, without the switch) loads it
  const ls = await vm.ssh(`ls /var/lib/kpatch/${abi}/`);
  expect(ls.stdout.trim()).toBe(PATCHES.version);
}, 180_000);

it('an installed patch survives a hard reset right after apply: loaded at boot, plan empty (issue 15 §2)', async () => {
  project(
    'kpfleet.yml',
    ['loaded: [lp-version, lp-cmdline-v2]', 'absent: [lp-cmdline]'],
    ['lp-cmdline', 'lp-cmdline-v2', 'lp-version'],
  );
  // v2 is not installed whichever cases ran before: this apply installs it
  const a = await kpfleet(['apply', '--yes']);
  expect(a.code, a.stdout + a.stderr).toBe(0);
  expect(await cmdline()).toBe('kpfleet-livepatched v2');
  // at once, as a power cut: the guest flushes nothing (its page cache holds dirty data for up
  // to 30 s, dirty_expire_centisecs), so what apply wrote is on the disk only if it synced it
  await vm.hardReset();
  const service = await kpatchService();
  expect(service.state, `kpatch.service at boot: ${service.log}`).toBe(SERVICE_RAN);
  expect(service.log).toContain(
    `loading patch module: /var/lib/kpatch/${abi}/${PATCHES.cmdlineV2}`,
  );
  expect(await cmdline()).toBe('kpfleet-livepatched v2');
  expect(await sysfs('kpfleet_lp_cmdline_v2')).toBe('1 0');
  expect(await version()).toBe('kpfleet-livepatched version');
  const p = await kpfleet(['plan', '--detailed-exitcode']);
  expect(p.code, p.stdout + p.stderr).toBe(0);
}, 180_000);
