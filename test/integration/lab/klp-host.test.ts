/**
 * A host without the kpatch utility (issue 21, the klp profiles), driven over SSH as kpfleet's klp
 * manager will drive it: insmod, poll sysfs, raw `echo 0|1 > /sys/kernel/livepatch/<m>/enabled`
 * (lab/SPEC.md "Raw sysfs writes": the sysfs watcher applies them as the kernel's enabled_store),
 * rmmod, and its own oneshot unit run by a reboot (SPEC.md "systemctl", "reboot").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../../lab/lab.ts';
import { labRoot, labSsh } from './ssh.ts';

let lab: Lab;

const ssh = (host: string, command: string) => labSsh(lab, host, command);
/** Runs `command` as root on the host (the lab's sudo shim, as kpfleet would). */
const root = (host: string, command: string) => labRoot(lab, host, command);

const LP = '/sys/kernel/livepatch';

/** What a script reading sysfs sees: each patch with its enabled and transition; modules' refcnt. */
async function sysfs(host: string): Promise<string> {
  const r = await ssh(
    host,
    `for d in ${LP}/*/; do [ -d "$d" ] && echo "$(basename "$d") $(cat "$d/enabled") $(cat "$d/transition")"; done; ` +
      'for m in /sys/module/livepatch_*; do [ -e "$m/refcnt" ] && echo "mod $(basename "$m") $(cat "$m/refcnt")"; done; true',
  );
  return r.stdout;
}

/** Polls as a script would until `pred` holds (or 10 s). */
async function waitFor(host: string, pred: (s: string) => boolean): Promise<string> {
  const end = Date.now() + 10_000;
  let s = await sysfs(host);
  while (!pred(s) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    s = await sysfs(host);
  }
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until the host's sysfs watcher has judged `n` raw writes in all (its log, SPEC.md), or 10 s. */
async function judged(host: string, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  const count = async () =>
    Number((await ssh(host, 'cat /var/lib/kpsim/sysfsd.log 2>/dev/null | wc -l')).stdout.trim());
  while ((await count()) < n && Date.now() < end) await sleep(100);
}

beforeAll(async () => {
  lab = await Lab.start({
    hosts: 2,
    profiles: ['debian-klp', 'fedora-klp'],
    simProfile: { TIME_SCALE: '0.1' },
  });
  for (const h of ['lab001', 'lab002'])
    for (const m of ['a', 'b'])
      expect(
        (
          await root(
            h,
            `kpsim mkko --name livepatch_${m} -o /var/lib/kpfleet/klp/livepatch-${m}.ko`,
          )
        ).code,
      ).toBe(0);
}, 60_000);
afterAll(async () => {
  await lab.close();
});

describe('a klp host (no kpatch utility)', () => {
  it('debian-klp: no kpatch on PATH, no /var/lib/kpatch, no rpm; Debian 12 kernel and os-release', async () => {
    const r = await ssh(
      'lab001',
      'for c in kpatch rpm dnf; do command -v $c || echo "no $c"; done; ls -d /var/lib/kpatch /usr/lib/kpatch 2>&1; uname -r; . /etc/os-release; echo "$ID $VERSION_ID"; command -v insmod systemctl >/dev/null && echo tools',
    );
    expect(r.stdout).toBe(
      [
        'no kpatch',
        'no rpm',
        'no dnf',
        "ls: cannot access '/var/lib/kpatch': No such file or directory",
        "ls: cannot access '/usr/lib/kpatch': No such file or directory",
        '6.1.0-56-amd64',
        'debian 12',
        'tools',
        '',
      ].join('\n'),
    );
    expect(
      (await ssh('lab002', 'command -v kpatch || echo "no kpatch"; command -v rpm')).stdout,
    ).toBe('no kpatch\n/usr/local/bin/rpm\n');
  });

  it('insmod, enabled=1 after the transition; echo 0 > enabled: the directory goes, the module stays (refcnt 0) until rmmod', async () => {
    expect((await root('lab001', 'insmod /var/lib/kpfleet/klp/livepatch-a.ko')).code).toBe(0);
    expect(await waitFor('lab001', (s) => s.includes('livepatch_a 1 0'))).toBe(
      'livepatch_a 1 0\nmod livepatch_a 1\n',
    );
    const w = await root('lab001', `echo 0 > ${LP}/livepatch_a/enabled`);
    expect([w.code, w.stderr]).toEqual([0, '']);
    expect(await waitFor('lab001', (s) => !/^livepatch_a /m.test(s))).toBe('mod livepatch_a 0\n');
    // a leftover: rmmod removes it
    expect((await root('lab001', 'rmmod livepatch_a')).code).toBe(0);
    expect(await sysfs('lab001')).toBe('');
  });

  it('echo 0 while another patch is in transition does not take (EBUSY); an endless transition is reversed by echo 0', async () => {
    expect((await root('lab001', 'insmod /var/lib/kpfleet/klp/livepatch-a.ko')).code).toBe(0);
    await waitFor('lab001', (s) => s.includes('livepatch_a 1 0'));
    expect((await root('lab001', 'kpsim fault stall forever')).code).toBe(0);
    expect((await root('lab001', 'insmod /var/lib/kpfleet/klp/livepatch-b.ko')).code).toBe(0);
    await root('lab001', 'kpsim fault clear stall');
    expect(await waitFor('lab001', (s) => s.includes('livepatch_b 1 1'))).toContain(
      'livepatch_b 1 1',
    );
    // b is in transition: a's disable is refused, and a read-back shows the old value
    const before = Number(
      (await ssh('lab001', 'cat /var/lib/kpsim/sysfsd.log 2>/dev/null | wc -l')).stdout.trim(),
    );
    await root('lab001', `echo 0 > ${LP}/livepatch_a/enabled`);
    await judged('lab001', before + 1);
    expect(await sysfs('lab001')).toBe(
      'livepatch_a 1 0\nlivepatch_b 1 1\nmod livepatch_a 1\nmod livepatch_b 1\n',
    );
    // not a bool: EINVAL, the old value stays
    await root('lab001', `echo maybe > ${LP}/livepatch_a/enabled`);
    await judged('lab001', before + 2);
    expect((await ssh('lab001', `cat ${LP}/livepatch_a/enabled`)).stdout).toBe('1\n');
    const judgedLines = (await ssh('lab001', 'tail -n 2 /var/lib/kpsim/sysfsd.log')).stdout
      .replace(/^\d+ /gm, '')
      .split('\n');
    expect(judgedLines).toEqual([
      'livepatch_a enabled 0 -> busy',
      'livepatch_a enabled maybe -> inval',
      '',
    ]);
    // b never completes: writing 0 reverses its transition, and the reversal completes
    await root('lab001', `echo 0 > ${LP}/livepatch_b/enabled`);
    expect(await waitFor('lab001', (s) => !/^livepatch_b /m.test(s))).toBe(
      'livepatch_a 1 0\nmod livepatch_a 1\nmod livepatch_b 0\n',
    );
    expect((await root('lab001', 'rmmod livepatch_b')).code).toBe(0);
    // the first disable can now go through
    await root('lab001', `echo 0 > ${LP}/livepatch_a/enabled`);
    await waitFor('lab001', (s) => !/^livepatch_a /m.test(s));
    expect((await root('lab001', 'rmmod livepatch_a')).code).toBe(0);
    expect(await sysfs('lab001')).toBe('');
  });

  it('fedora-klp: replace and stack_order in sysfs; a disabling transition is reversed by echo 1', async () => {
    expect((await root('lab002', 'insmod /var/lib/kpfleet/klp/livepatch-a.ko')).code).toBe(0);
    await waitFor('lab002', (s) => s.includes('livepatch_a 1 0'));
    expect(
      (await ssh('lab002', `cat ${LP}/livepatch_a/replace ${LP}/livepatch_a/stack_order`)).stdout,
    ).toBe('1\n1\n');
    await root('lab002', 'kpsim fault stall-unload forever');
    await root('lab002', `echo 0 > ${LP}/livepatch_a/enabled`);
    expect(await waitFor('lab002', (s) => s.includes('livepatch_a 0 1'))).toContain(
      'livepatch_a 0 1',
    );
    await root('lab002', 'kpsim fault clear stall-unload');
    await root('lab002', `echo 1 > ${LP}/livepatch_a/enabled`);
    expect(await waitFor('lab002', (s) => s.includes('livepatch_a 1 0'))).toBe(
      'livepatch_a 1 0\nmod livepatch_a 1\n',
    );
  });

  const UNIT = [
    '[Unit]',
    'Description=Load kpfleet live patches',
    'ConditionKernelCommandLine=!kpatch.enable=0',
    'ConditionKernelCommandLine=!kpfleet.enable=0',
    'Before=network-pre.target',
    'Wants=network-pre.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    'ExecStart=/bin/sh /var/lib/kpfleet/klp/boot.sh',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');

  it('systemctl enable + reboot runs the unit ExecStart; kpfleet.enable=0 on the command line skips it', async () => {
    const setup = await root(
      'lab001',
      `printf '%s' '${UNIT}' > /etc/systemd/system/kpfleet-klp.service && ` +
        `printf 'insmod /var/lib/kpfleet/klp/livepatch-a.ko\\necho "boot $(cat /proc/sys/kernel/random/boot_id)" >> /var/lib/kpfleet/klp/boot.log\\n' > /var/lib/kpfleet/klp/boot.sh && ` +
        'systemctl is-enabled kpfleet-klp.service; systemctl daemon-reload && systemctl enable kpfleet-klp.service && systemctl is-enabled kpfleet-klp.service',
    );
    expect(setup).toEqual({
      code: 0,
      stdout: 'disabled\nenabled\n',
      stderr:
        'Created symlink /etc/systemd/system/multi-user.target.wants/kpfleet-klp.service → /etc/systemd/system/kpfleet-klp.service.\n',
    });
    expect((await ssh('lab001', 'systemctl is-active kpfleet-klp.service')).stdout).toBe(
      'inactive\n',
    );
    expect((await root('lab001', 'reboot')).code).toBe(0);
    const boot = (await ssh('lab001', 'cat /proc/sys/kernel/random/boot_id')).stdout;
    expect((await ssh('lab001', 'cat /var/lib/kpfleet/klp/boot.log')).stdout).toBe(`boot ${boot}`);
    expect(await waitFor('lab001', (s) => s.includes('livepatch_a 1 0'))).toBe(
      'livepatch_a 1 0\nmod livepatch_a 1\n',
    );
    expect(await ssh('lab001', 'systemctl is-active kpfleet-klp.service')).toMatchObject({
      code: 0,
      stdout: 'active\n',
    });

    expect((await root('lab001', 'kpsim set CMDLINE=kpfleet.enable=0 && reboot')).code).toBe(0);
    expect(await sysfs('lab001')).toBe('');
    expect((await ssh('lab001', 'wc -l < /var/lib/kpfleet/klp/boot.log')).stdout.trim()).toBe('1');
    expect(await ssh('lab001', 'systemctl is-active kpfleet-klp.service')).toMatchObject({
      code: 3,
      stdout: 'inactive\n',
    });
    expect((await ssh('lab001', 'systemctl status kpfleet-klp.service')).stdout).toContain(
      'start condition unmet: ConditionKernelCommandLine=!kpfleet.enable=0',
    );
    // and without it, the next boot loads again
    expect((await root('lab001', 'kpsim set CMDLINE= && reboot')).code).toBe(0);
    expect(await waitFor('lab001', (s) => s.includes('livepatch_a 1 0'))).toBe(
      'livepatch_a 1 0\nmod livepatch_a 1\n',
    );
  });
});
