// The simulator's companions: rpm/dnf with kpatch-patch scriptlets (§4.3), systemctl and
// kpatch.service (§4.2), reboot, uname, and the drop fault against an sshd ancestor.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { cleanup, expectConsistent, expectRun, host, K9, lines } from './helpers.ts';

afterAll(cleanup);

const PKG = 'kpatch-patch-5_14_0-362_8_1';

describe('kpatch-patch RPMs (§4.3)', () => {
  it('naming, %post installs + loads, rpm -q / -qa, dnf list installed', async () => {
    const h = host();
    expect(h.addPackage({ version: '1', release: '1' })).toBe(`${PKG}-1-1.el9_3.x86_64`);
    expectRun(await h.run(['rpm', '-q', PKG]), 1, [`package ${PKG} is not installed`], []);
    const r = await h.run(['dnf', 'install', '-y', `${PKG}-1-1.el9_3`]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain(`installing /usr/lib/kpatch/${K9}/kpatch-5_14_0-362_8_1-1-1.ko (${K9})`);
    expect(out).toContain(
      `loading patch module: /var/lib/kpatch/${K9}/kpatch-5_14_0-362_8_1-1-1.ko`,
    );
    expect(out.at(-1)).toBe('Complete!');
    expect(r.stderr).toContain(
      'Created symlink /etc/systemd/system/multi-user.target.wants/kpatch.service',
    );
    const s = h.readSysfs();
    expect(s.patches.kpatch_5_14_0_362_8_1_1_1).toMatchObject({ enabled: '1', transition: '0' });
    expect(s.installed).toEqual([{ kernel: K9, file: 'kpatch-5_14_0-362_8_1-1-1.ko' }]);
    expectRun(await h.run(['rpm', '-q', PKG]), 0, [`${PKG}-1-1.el9_3.x86_64`], []);
    expectRun(await h.run(['rpm', '-qa', 'kpatch-patch*']), 0, [`${PKG}-1-1.el9_3.x86_64`], []);
    expectRun(
      await h.run(['rpm', '-ql', PKG]),
      0,
      [`/usr/lib/kpatch/${K9}/kpatch-5_14_0-362_8_1-1-1.ko`],
      [],
    );
    expect(lines((await h.run(['dnf', 'list', 'installed', 'kpatch-patch*'])).stdout)).toEqual([
      'Installed Packages',
      expect.stringMatching(new RegExp(`^${PKG}\\.x86_64 +1-1\\.el9_3 +@`)) as unknown as string,
    ]);
    expect((await h.run(['rpm', '-q', 'kpatch'])).stdout).toBe('kpatch-0.9.7-1.el9.noarch\n');
    expectConsistent(h);
  });

  it('upgrade 1-1 → 1-2: atomic replace, old module resident with refcnt 0, old file uninstalled', async () => {
    const h = host();
    h.addPackage({ version: '1', release: '1' });
    h.addPackage({ version: '1', release: '2' });
    await h.run(['dnf', 'install', '-y', `${PKG}-1-1.el9_3`]);
    const up = await h.run(['dnf', 'install', '-y', PKG]); // newest
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`uninstalling kpatch-5_14_0-362_8_1-1-1.ko (${K9})`);
    const s = h.readSysfs();
    expect(Object.keys(s.patches)).toEqual(['kpatch_5_14_0_362_8_1_1_2']);
    expect(s.modules.kpatch_5_14_0_362_8_1_1_1).toEqual({ refcnt: '0' });
    expect(s.installed.map((i) => i.file)).toEqual(['kpatch-5_14_0-362_8_1-1-2.ko']);
    expectRun(await h.run(['rpm', '-qa', 'kpatch-patch*']), 0, [`${PKG}-1-2.el9_3.x86_64`], []);
    expectConsistent(h);
  });

  it('a stalled load never fails the transaction: Loaded keeps 1-1, Installed shows 1-2', async () => {
    const h = host({ TRANSITION_SECONDS: 1, TIME_SCALE: 0.002 });
    h.addPackage({ version: '1', release: '1' });
    h.addPackage({ version: '1', release: '2' });
    await h.run(['dnf', 'install', '-y', `${PKG}-1-1.el9_3`]);
    h.fault('stall', 'forever');
    const up = await h.run(['dnf', 'install', '-y', PKG]);
    expect(up.code).toBe(0);
    expect(up.stderr).toContain(
      'kpatch: error: failed to load module kpatch_5_14_0_362_8_1_1_2 (transition stalled)',
    );
    h.clearFaults();
    const list = lines((await h.run(['kpatch', 'list'])).stdout);
    expect(list).toEqual([
      'Loaded patch modules:',
      'kpatch_5_14_0_362_8_1_1_1 [enabled]',
      '',
      'Installed patch modules:',
      `kpatch_5_14_0_362_8_1_1_2 (${K9})`,
    ]);
    expectConsistent(h);
  });

  it('downgrade warns instead of loading; remove uninstalls without unloading; 0-0 is empty', async () => {
    const h = host();
    h.addPackage({ version: '1', release: '1' });
    h.addPackage({ version: '1', release: '2' });
    h.addPackage({ version: '0', release: '0' });
    await h.run(['dnf', 'install', '-y', `${PKG}-1-2.el9_3`]);
    const down = await h.run(['dnf', 'install', '-y', `${PKG}-1-1.el9_3`]);
    expect(lines(down.stdout)).toContain(
      'WARNING: at least one loaded kpatch-patch (kpatch_5_14_0_362_8_1_1_2) has a newer version than the one being installed.',
    );
    expect(lines(down.stdout)).toContain(
      'WARNING: You will have to reboot to load a downgraded kpatch-patch',
    );
    expect(Object.keys(h.readSysfs().patches)).toEqual(['kpatch_5_14_0_362_8_1_1_2']);
    const rm = await h.run(['dnf', 'remove', '-y', PKG]);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toContain(`uninstalling kpatch-5_14_0-362_8_1-1-1.ko (${K9})`);
    expect(h.readSysfs().installed).toEqual([]);
    expect(Object.keys(h.readSysfs().patches)).toEqual(['kpatch_5_14_0_362_8_1_1_2']);
    expectRun(await h.run(['rpm', '-q', PKG]), 1, [`package ${PKG} is not installed`], []);
    await h.run(['dnf', 'install', '-y', `${PKG}-0-0.el9_3`]);
    expectRun(await h.run(['rpm', '-ql', PKG]), 0, ['(contains no files)'], []);
  });

  it('dnf errors: no match, non-root, missing kernel, no -y without a tty, disk full', async () => {
    const h = host();
    h.addPackage({ version: '1', release: '1' });
    h.addPackage({ version: '1', release: '1', kernel: '5.14.0-427.13.1.el9_4.x86_64' });
    const nm = await h.run(['dnf', 'install', '-y', 'nope']);
    expect(nm.code).toBe(1);
    expect(lines(nm.stdout)[0]).toMatch(/^Last metadata expiration check/);
    expect(lines(nm.stderr)).toEqual([
      'No match for argument: nope',
      'Error: Unable to find a match: nope',
    ]);
    const nr = await h.run(['dnf', 'install', '-y', PKG], { env: { KPSIM_UID: '1000' } });
    expect(nr.code).toBe(1);
    expect(nr.stdout).toContain('Error: This command has to be run with superuser privileges');
    const nk = await h.run(['dnf', 'install', '-y', 'kpatch-patch = 5.14.0-427.13.1.el9_4.x86_64']);
    expect(nk.code).toBe(1);
    expect(nk.stderr).toContain('nothing provides kernel-uname-r = 5.14.0-427.13.1.el9_4.x86_64');
    const ask = await h.run(['dnf', 'install', PKG]);
    expect(ask.code).toBe(1);
    expect(ask.stdout).toMatch(/Is this ok \[y\/N\]: Operation aborted\.\n$/);
    h.fault('disk-full');
    const full = await h.run(['dnf', 'install', '-y', `kpatch-patch = ${K9}`]);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain('needs 1MB more space on the / filesystem');
    expect(h.readSysfs().patches).toEqual({});
  });
});

describe('the post-fail fault (SPEC.md)', () => {
  it('a %post that fails: rpm warns, dnf says so and exits 0, the package is installed and nothing else', async () => {
    const h = host();
    const nvra = h.addPackage({ version: '1', release: '1' });
    h.fault('post-fail', '1');
    const r = await h.run(['dnf', 'install', '-y', PKG]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).at(-1)).toBe('Complete!');
    expect(lines(r.stderr)).toEqual([
      'kpsim: post-fail fault: %post exits 1',
      `warning: %post(${nvra}) scriptlet failed, exit status 1`,
      `Error in POSTIN scriptlet in rpm package ${PKG}`,
    ]);
    expectRun(await h.run(['rpm', '-q', PKG]), 0, [nvra], []);
    expect(existsSync(join(h.root, `usr/lib/kpatch/${K9}/kpatch-5_14_0-362_8_1-1-1.ko`))).toBe(
      true,
    );
    const s = h.readSysfs();
    expect(s.installed).toEqual([]);
    expect(s.patches).toEqual({});
    // once (the count is used up): removed and installed again, the %post does its work
    await h.run(['dnf', 'remove', '-y', PKG]);
    const again = await h.run(['dnf', 'install', '-y', PKG]);
    expect(again.stderr).not.toContain('scriptlet failed');
    expect(h.readSysfs().patches.kpatch_5_14_0_362_8_1_1_1).toMatchObject({ enabled: '1' });
  });
});

describe('kpatch.service and reboot (§4.2)', () => {
  it('systemctl is-enabled / enable / disable / is-active, other units', async () => {
    const h = host();
    expectRun(await h.run(['systemctl', 'is-enabled', 'kpatch']), 1, ['disabled'], []);
    expectRun(await h.run(['systemctl', 'is-active', 'kpatch.service']), 3, ['inactive'], []);
    expectRun(
      await h.run(['systemctl', 'enable', 'kpatch']),
      0,
      [],
      [
        'Created symlink /etc/systemd/system/multi-user.target.wants/kpatch.service → /usr/lib/systemd/system/kpatch.service.',
      ],
    );
    expectRun(await h.run(['systemctl', 'enable', 'kpatch']), 0, [], []);
    expectRun(
      await h.run(['systemctl', 'disable', 'kpatch']),
      0,
      [],
      ['Removed "/etc/systemd/system/multi-user.target.wants/kpatch.service".'],
    );
    expectRun(await h.run(['systemctl', 'is-system-running']), 0, ['running'], []);
    const none = host({ KPATCH_INSTALLED: 0 });
    expectRun(
      await none.run(['systemctl', 'is-enabled', 'kpatch']),
      1,
      [],
      ['Failed to get unit file state for kpatch.service: No such file or directory'],
    );
  });

  it('reboot clears everything loaded and replays load --all when the service is enabled', async () => {
    const h = host({ TRANSITION_SECONDS: 1 });
    h.makeModule('livepatch-foo.ko');
    h.makeModule('livepatch-stuck.ko', { replace: false });
    await h.run(['kpatch', 'install', 'livepatch-foo.ko']);
    await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    h.fault('stall', 'forever');
    await h.run(['insmod', 'livepatch-stuck.ko']); // a transition in flight
    h.clearFaults();
    expectRun(await h.run(['reboot']), 0, [], []);
    let s = h.readSysfs();
    expect(Object.keys(s.patches)).toEqual(['livepatch_foo']);
    expect(Object.keys(s.modules)).toEqual(['livepatch_foo']);
    expectRun(await h.run(['systemctl', 'is-active', 'kpatch']), 0, ['active'], []);
    await new Promise((r) => setTimeout(r, 50)); // stale completers must not resurrect anything
    expect(h.readSysfs().patches.livepatch_foo?.transition).toBe('0');
    expectConsistent(h);

    await h.run(['systemctl', 'disable', 'kpatch']);
    await h.run(['reboot']);
    s = h.readSysfs();
    expect([s.patches, s.modules, s.tainted]).toEqual([{}, {}, 0]);
    expectRun(await h.run(['systemctl', 'is-active', 'kpatch']), 3, ['inactive'], []);
    expect(s.installed).toHaveLength(1); // §6 #33 skew: installed, not loaded

    await h.run(['systemctl', 'enable', 'kpatch']);
    h.setProfile({ CMDLINE: 'kpatch.enable=0' });
    await h.run(['reboot']);
    expect(h.readSysfs().patches).toEqual({});
  });

  it('§6 #34 a failing module fails the unit and stops load --all', async () => {
    const h = host();
    h.makeModule('a.ko', { name: 'livepatch_a' });
    await h.run(['kpatch', 'install', 'a.ko']);
    await h.run(['cp', 'a.ko', `var/lib/kpatch/${K9}/b.ko`]);
    await h.run(`echo junk > var/lib/kpatch/${K9}/0bad.ko`);
    await h.run(['reboot']);
    expectRun(await h.run(['systemctl', 'is-failed', 'kpatch']), 0, ['failed'], []);
    expect(h.readSysfs().patches).toEqual({});
  });

  it('uname reports the profile', async () => {
    const h = host({ KERNEL_RELEASE: '4.18.0-477.10.1.el8_8.x86_64', HOSTNAME_SIM: 'web01' });
    expectRun(await h.run(['uname', '-r']), 0, ['4.18.0-477.10.1.el8_8.x86_64'], []);
    expectRun(await h.run(['uname', '-m']), 0, ['x86_64'], []);
    expectRun(await h.run(['uname', '-sr']), 0, ['Linux 4.18.0-477.10.1.el8_8.x86_64'], []);
    expect((await h.run(['uname', '-a'])).stdout).toMatch(
      /^Linux web01 4\.18\.0-477\.10\.1\.el8_8\.x86_64 #1 .* x86_64 GNU\/Linux\n$/,
    );
  });
});

describe('drop fault', () => {
  it('kills the closest sshd ancestor after the first line', async () => {
    const h = host();
    const sshd = join(h.root, 'sshd');
    copyFileSync('/bin/bash', sshd); // comm = sshd
    await h.run(['chmod', '+x', sshd]);
    h.fault('drop');
    const r = await h.run([sshd, '-c', 'kpatch list; echo after']);
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('Loaded patch modules:\n');
  });
});

describe('reset-on-load fault (the crash guard, issue 15 point 4)', () => {
  const bootId = (h: { root: string }) =>
    readFileSync(join(h.root, 'proc/sys/kernel/random/boot_id'), 'utf8');

  it('every boot has its own boot id', async () => {
    const h = host();
    const first = bootId(h);
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
    await h.run(['reboot']);
    expect(bootId(h)).not.toBe(first);
  });

  it('during kpatch load of its module the host resets: new boot id, sysfs emptied, kpatch.service replayed, the sshd session killed; once', async () => {
    const h = host();
    h.makeModule('livepatch-foo.ko');
    h.makeModule('livepatch-bar.ko');
    await h.run(['kpatch', 'install', 'livepatch-foo.ko']);
    await h.run(['kpatch', 'load', 'livepatch-bar.ko']);
    expect(Object.keys(h.readSysfs().patches)).toEqual(['livepatch_bar']);
    const before = bootId(h);
    h.fault('reset-on-load', 'livepatch_foo');
    // another module's load is not the one
    expect((await h.run(['kpatch', 'load', 'livepatch-bar.ko'])).code).toBe(0);
    expect(bootId(h)).toBe(before);

    const sshd = join(h.root, 'sshd');
    copyFileSync('/bin/bash', sshd); // comm = sshd
    await h.run(['chmod', '+x', sshd]);
    // a shell between sshd and kpatch (as sudo's) runs nothing more: the host went down
    const r = await h.run([sshd, '-c', "sh -c 'kpatch load livepatch-foo.ko; touch after'; :"]);
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(h.root, 'after'))).toBe(false);
    expect(r.stdout).toBe('loading patch module: livepatch-foo.ko\n');
    expect(bootId(h)).not.toBe(before);
    // as reboot: bar (loaded, not installed) is gone; kpatch.service loaded foo (installed) at boot
    const s = h.readSysfs();
    expect(Object.keys(s.patches)).toEqual(['livepatch_foo']);
    expectRun(await h.run(['systemctl', 'is-active', 'kpatch']), 0, ['active'], []);
    expect(existsSync(join(h.root, 'var/lib/kpsim/faults/reset-on-load'))).toBe(false);
    expectConsistent(h);
  });

  it('without an sshd ancestor it says so on stderr and exits 255 (the host reset all the same)', async () => {
    const h = host();
    h.makeModule('livepatch-foo.ko');
    const before = bootId(h);
    h.fault('reset-on-load');
    const r = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expectRun(
      r,
      255,
      ['loading patch module: livepatch-foo.ko'],
      ['kpsim: reset-on-load: the host reset'],
    );
    expect(bootId(h)).not.toBe(before);
    expect(h.readSysfs().patches).toEqual({});
  });
});
