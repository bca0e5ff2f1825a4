// What a host without kpatch is driven with (issue 21): raw writes to a patch's `enabled` file,
// applied by the sysfs watcher as the kernel's enabled_store (SPEC.md "Raw sysfs writes"), and
// systemctl for unit files other than kpatch.service, run by reboot (SPEC.md "systemctl").
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { SimHost } from '../../../lab/sim-host.ts';
import { cleanup, expectConsistent, expectRun, host } from './helpers.ts';

afterAll(cleanup);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EN = 'sys/kernel/livepatch/livepatch_a/enabled';

function log(h: SimHost): string[] {
  const f = join(h.root, 'var/lib/kpsim/sysfsd.log');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\d+ /, ''));
}

/** Polls (up to 5 s) until `pred` holds: the watcher looks every SYSFSD_INTERVAL, on a busy machine later. */
async function until(pred: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!pred() && Date.now() < end) await sleep(20);
}
/** Until the watcher has judged `n` writes in all (its log). */
const judged = (h: SimHost, n: number) => until(() => log(h).length >= n);

async function loaded(h: SimHost): Promise<void> {
  h.makeModule('a.ko', { name: 'livepatch_a' });
  expectRun(await h.run(['insmod', 'a.ko']), 0, [], []);
}

describe('raw writes to <patch>/enabled (the sysfs watcher)', () => {
  it('parses as kstrtobool: the current value again is EINVAL, junk is EINVAL, "off" disables', async () => {
    const h = host();
    await loaded(h);
    await h.run(`echo yes > ${EN}`);
    await judged(h, 1);
    expect(readFileSync(join(h.root, EN), 'utf8')).toBe('1\n');
    await h.run(`echo maybe > ${EN}`);
    await judged(h, 2);
    expect(readFileSync(join(h.root, EN), 'utf8')).toBe('1\n');
    await h.run(`echo off > ${EN}`);
    await judged(h, 3);
    const s = h.readSysfs();
    expect([s.patches, s.modules]).toEqual([{}, { livepatch_a: { refcnt: '0' } }]);
    expect(log(h)).toEqual([
      'livepatch_a enabled yes -> inval',
      'livepatch_a enabled maybe -> inval',
      'livepatch_a enabled off -> ok',
    ]);
    expectConsistent(h);
  });

  it('the busy fault refuses a raw write as it refuses kpatch’s; a write of nothing shows the old value again', async () => {
    const h = host();
    await loaded(h);
    h.fault('busy', 1);
    await h.run(`echo 0 > ${EN}`);
    await judged(h, 1);
    expect(readFileSync(join(h.root, EN), 'utf8')).toBe('1\n');
    await h.run(`echo junk > ${EN}`); // EINVAL, whatever the write before was refused for
    await judged(h, 2);
    await h.run(`: > ${EN}`);
    await until(() => readFileSync(join(h.root, EN), 'utf8') !== '');
    expect(readFileSync(join(h.root, EN), 'utf8')).toBe('1\n');
    await h.run(`echo 0 > ${EN}`);
    await judged(h, 3);
    expect(h.readSysfs().patches).toEqual({});
    expect(log(h)).toEqual([
      'livepatch_a enabled 0 -> busy',
      'livepatch_a enabled junk -> inval',
      'livepatch_a enabled 0 -> ok',
    ]);
  });

  it('the watcher runs while a patch is loaded, leaves when none is, and kill-background ends it', async () => {
    const h = host();
    const pidFile = join(h.root, 'var/lib/kpsim/sysfsd.pid');
    // running, not a zombie (this machine's init may reap late)
    const running = (pid: number): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    const alive = (): boolean =>
      existsSync(pidFile) && running(Number(readFileSync(pidFile, 'utf8')));
    await loaded(h);
    await until(alive);
    expect(alive()).toBe(true);
    await h.run(`echo 0 > ${EN}`);
    await until(() => !alive());
    expect([alive(), h.readSysfs().patches]).toEqual([false, {}]);
    await h.run(['rmmod', 'livepatch_a']);
    await h.run(['insmod', 'a.ko']);
    await until(alive);
    expect(alive()).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    h.killBackground();
    await until(() => !running(pid));
    expect(running(pid)).toBe(false);
  });
});

describe('systemctl: units other than kpatch.service', () => {
  function unit(h: SimHost, name: string, body: string, dir = 'etc/systemd/system'): void {
    mkdirSync(join(h.root, dir), { recursive: true });
    writeFileSync(join(h.root, dir, name), body);
  }
  const ONESHOT = (exec: string, extra = ''): string =>
    `[Unit]\nDescription=test unit\n${extra}\n[Service]\nType=oneshot\nRemainAfterExit=yes\n${exec}\n\n[Install]\nWantedBy=multi-user.target\n`;

  it('an unknown unit is not found; a unit without [Install] is static; enabling needs root', async () => {
    const h = host({ KPATCH_INSTALLED: 0 });
    expectRun(
      await h.run(['systemctl', 'is-enabled', 'kpfleet-klp.service']),
      1,
      [],
      ['Failed to get unit file state for kpfleet-klp.service: No such file or directory'],
    );
    expectRun(await h.run(['systemctl', 'is-active', 'kpfleet-klp']), 3, ['inactive'], []);
    expectRun(
      await h.run(['systemctl', 'start', 'kpfleet-klp']),
      5,
      [],
      ['Failed to start kpfleet-klp.service: Unit kpfleet-klp.service not found.'],
    );
    unit(
      h,
      'static.service',
      '[Service]\nType=oneshot\nExecStart=/bin/true\n',
      'usr/lib/systemd/system',
    );
    expectRun(await h.run(['systemctl', 'is-enabled', 'static']), 0, ['static'], []);
    unit(h, 'x.service', ONESHOT('ExecStart=/bin/true'));
    expectRun(
      await h.run(['systemctl', 'enable', 'x'], { env: { KPSIM_UID: '1000' } }),
      1,
      [],
      ['Failed to enable unit: Access denied'],
    );
    expectRun(await h.run(['systemctl', 'is-enabled', 'x']), 1, ['disabled'], []);
  });

  it('a failing ExecStart fails the unit; "-" ignores a failure; without RemainAfterExit it ends inactive; enable --now starts', async () => {
    const h = host({ KPATCH_INSTALLED: 0 });
    unit(h, 'bad.service', ONESHOT('ExecStart=/bin/sh -c "echo out; exit 3"'));
    expectRun(
      await h.run(['systemctl', 'start', 'bad']),
      1,
      [],
      [
        'Job for bad.service failed because the control process exited with error code.',
        'See "systemctl status bad.service" and "journalctl -xeu bad.service" for details.',
      ],
    );
    expectRun(await h.run(['systemctl', 'is-failed', 'bad']), 0, ['failed'], []);
    expect((await h.run(['systemctl', 'status', 'bad'])).stdout).toContain('    out\n');
    unit(
      h,
      'ign.service',
      ONESHOT('ExecStart=-/bin/false\nExecStart=/bin/sh -c "touch $KPSIM_ROOT/ran"'),
    );
    expectRun(
      await h.run(['systemctl', 'enable', '--now', 'ign']),
      0,
      [],
      [
        'Created symlink /etc/systemd/system/multi-user.target.wants/ign.service → /etc/systemd/system/ign.service.',
      ],
    );
    expect(existsSync(join(h.root, 'ran'))).toBe(true);
    expectRun(await h.run(['systemctl', 'is-active', 'ign']), 0, ['active'], []);
    unit(h, 'once.service', ONESHOT('ExecStart=/bin/true').replace('RemainAfterExit=yes\n', ''));
    expectRun(await h.run(['systemctl', 'start', 'once']), 0, [], []);
    expectRun(await h.run(['systemctl', 'is-active', 'once']), 3, ['inactive'], []);
  });

  it('reboot starts the enabled units in name order; a unit whose condition fails is skipped', async () => {
    const h = host({ KPATCH_INSTALLED: 0 });
    const rec = (n: string) => `ExecStart=/bin/sh -c "echo ${n} >> $KPSIM_ROOT/order"`;
    unit(h, 'zz.service', ONESHOT(rec('zz')));
    unit(h, 'aa.service', ONESHOT(rec('aa')));
    unit(h, 'mm.service', ONESHOT(rec('mm'), 'ConditionKernelCommandLine=!kpfleet.enable=0'));
    unit(h, 'off.service', ONESHOT(rec('off')));
    expect((await h.run(['systemctl', 'enable', 'zz', 'aa', 'mm'])).code).toBe(0);
    expectRun(
      await h.run(['systemctl', 'is-enabled', 'off', 'aa']),
      0,
      ['disabled', 'enabled'],
      [],
    );
    expectRun(await h.run(['reboot']), 0, [], []);
    expect(readFileSync(join(h.root, 'order'), 'utf8')).toBe('aa\nmm\nzz\n');
    h.setProfile({ CMDLINE: 'quiet kpfleet.enable=0' });
    expectRun(await h.run(['reboot']), 0, [], []);
    expect(readFileSync(join(h.root, 'order'), 'utf8')).toBe('aa\nmm\nzz\naa\nzz\n');
    expectRun(await h.run(['systemctl', 'is-active', 'mm']), 3, ['inactive'], []);
    expectRun(await h.run(['systemctl', 'is-active', 'zz']), 0, ['active'], []);
  });
});
