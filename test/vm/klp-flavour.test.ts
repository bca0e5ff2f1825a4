/**
 * Issue 21: the `klp` flavour of the test VM, a host with no kpatch utility that boots the way a
 * distribution does (test/vm/SPEC.md). systemd is PID 1 and runs what is enabled with
 * `systemctl enable`; a unit with `ConditionKernelCommandLine=!kpfleet.enable=0` (the switch
 * kpfleet's klp boot unit is to honour, as kpatch.service honours kpatch.enable=0) is skipped when the kernel is booted with it.
 * What a host's page cache held is lost in a hard reset on this root file system too, unless it
 * was synced (the premise of issue 15's hard reset case). kpfleet's klp manager is tested on top
 * of this flavour.
 */
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bootVm } from './vm.ts';
import type { Vm } from './vm.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CACHE = resolve(process.env.KPFLEET_VM_CACHE ?? join(ROOT, 'test/.vm-cache'));
let vm: Vm;

/** Runs `cmd` in the VM and returns its stdout; fails the test on a non-zero exit. */
const run = async (cmd: string): Promise<string> => {
  const r = await vm.ssh(cmd);
  expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
};
const bootId = (): Promise<string> => run('cat /proc/sys/kernel/random/boot_id');
/** `systemctl is-system-running --wait`, with the failed units when it is not `running`. */
const systemState = async (): Promise<string> => {
  const r = await vm.ssh('systemctl is-system-running --wait');
  const state = r.stdout.trim();
  if (state === 'running') return state;
  const failed = await vm.ssh('systemctl --failed --no-legend --plain');
  return `${state}: ${failed.stdout.trim() || failed.stderr.trim() || '(no failed unit listed)'}`;
};

/** Each unit writes this boot's id where a test reads it; /run is empty at every boot. */
const unit = (description: string, mark: string, condition?: string): string =>
  [
    '[Unit]',
    `Description=${description}`,
    ...(condition === undefined ? [] : [condition]),
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/bin/sh -c 'cat /proc/sys/kernel/random/boot_id > /run/${mark}'`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');

const UNITS = {
  'kpfleet-vm-smoke.service': unit('kpfleet VM smoke: runs at every boot', 'smoke.ran'),
  'kpfleet-vm-switch.service': unit(
    'kpfleet VM smoke: skipped with kpfleet.enable=0',
    'switch.ran',
    'ConditionKernelCommandLine=!kpfleet.enable=0',
  ),
};

beforeAll(async () => {
  vm = await bootVm({
    cacheDir: CACHE,
    flavor: 'klp',
    log: join(CACHE, 'vm-serial-klp.log'),
  });
}, 240_000);

afterAll(async () => {
  await vm.stop();
});

it('boots systemd with no kpatch anywhere: no utility (even on root’s PATH), no /var/lib/kpatch, no kpatch.service', async () => {
  expect(vm.flavor).toBe('klp');
  expect(await run('cat /proc/1/comm')).toBe('systemd');
  expect(await systemState()).toBe('running');
  for (const cmd of [
    'command -v kpatch',
    'sudo -n sh -c "command -v kpatch"',
    'test -e /var/lib/kpatch',
    'systemctl cat kpatch.service',
  ]) {
    const r = await vm.ssh(cmd);
    expect(r.code, `${cmd}: ${r.stdout}`).not.toBe(0);
  }
  expect(await run('systemctl is-enabled ssh.service')).toBe('enabled');
}, 120_000);

it('a unit enabled with systemctl enable runs at the next boot; booted with kpfleet.enable=0, the one conditioned on it is skipped', async () => {
  for (const [name, text] of Object.entries(UNITS)) {
    const b64 = Buffer.from(text).toString('base64');
    await run(`echo ${b64} | base64 -d | sudo -n tee /etc/systemd/system/${name} >/dev/null`);
  }
  await run(`sudo -n systemctl enable ${Object.keys(UNITS).join(' ')} 2>&1`);
  expect(await run('ls /run')).not.toMatch(/\.ran/); // enabled, not started

  await vm.reboot();
  let boot = await bootId();
  expect(await systemState()).toBe('running');
  expect(await run('cat /run/smoke.ran')).toBe(boot);
  expect(await run('cat /run/switch.ran')).toBe(boot);

  await vm.reboot({ kernelArgs: ['kpfleet.enable=0'] });
  boot = await bootId();
  expect(await run('cat /proc/cmdline')).toMatch(/(^| )kpfleet\.enable=0( |$)/);
  expect(await systemState()).toBe('running');
  expect(await run('cat /run/smoke.ran')).toBe(boot);
  const show = (p: string): Promise<string> =>
    run(`systemctl show --value -p ${p} kpfleet-vm-switch.service`);
  expect(await show('ConditionResult')).toBe('no');
  expect(await show('ActiveState')).toBe('inactive');
  expect((await vm.ssh('test -e /run/switch.ran')).code).not.toBe(0);

  // the next boot's command line is the VM's own again
  await vm.reboot();
  expect(await run('cat /proc/cmdline')).not.toContain('kpfleet.enable');
  expect(await run('cat /run/switch.ran')).toBe(await bootId());
}, 300_000);

it('a hard reset loses what was not synced and keeps what was (ext4 root, issue 15)', async () => {
  // both written in one command, the reset at once: only `sync --` flushed the first
  await run(
    'sudo -n sh -c "echo kept > /var/lib/synced && sync -- /var/lib/synced /var/lib && echo lost > /var/lib/unsynced"',
  );
  await vm.hardReset();
  expect(await run('cat /var/lib/synced')).toBe('kept');
  expect(await run('cat /var/lib/unsynced 2>/dev/null || echo missing')).not.toBe('lost');
}, 180_000);
