// The simulated `kpatch` against docs/kpatch-behaviour.md (cited per test).
import { afterAll, describe, expect, it } from 'vitest';

import { cleanup, expectConsistent, expectRun, host, K9, lines } from './helpers.ts';

afterAll(cleanup);

const EMPTY_LIST = 'Loaded patch modules:\n\nInstalled patch modules:\n';

describe('version, usage, unknown subcommands (§2.1, §2.2, §2.12)', () => {
  it.each(['0.4.0', '0.6.1', '0.9.7', '0.9.10', '0.9.11'])('§2.2 version %s', async (v) => {
    const h = host({ KPATCH_VERSION: v });
    for (const arg of ['version', '-v', '--version']) {
      expectRun(await h.run(['kpatch', arg, 'extra']), 0, [v], []);
    }
  });

  it('§2.1 help exits 1 with the usage on stderr; RHEL marks unload UNSUPPORTED, no force', async () => {
    const h = host({ KPATCH_FLAVOR: 'rhel' });
    const r = await h.run(['kpatch', 'help']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const u = lines(r.stderr);
    expect(u.slice(0, 3)).toEqual(['usage: kpatch <command> [<args>]', '', 'Valid commands:']);
    expect(u).toContain('   unload --all (UNSUPPORTED)');
    expect(u).toContain('   load --all          ');
    expect(u).toContain('      load patch module into the running kernel');
    expect(r.stderr).not.toMatch(/force/);
    expect(Math.max(...u.map((l) => l.length))).toBeLessThanOrEqual(80);
    const up = await host({ KPATCH_FLAVOR: 'upstream' }).run(['kpatch']);
    expect(up.code).toBe(1);
    expect(up.stderr).not.toMatch(/UNSUPPORTED/);
  });

  it('§2.12/§6 #29 unknown subcommand on stdout, usage on stderr; force only on RHEL', async () => {
    const up = host({ KPATCH_FLAVOR: 'upstream', KPATCH_VERSION: '0.9.11' });
    for (const sub of ['status', 'force', 'replace']) {
      const r = await up.run(['kpatch', sub, 'x']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(`subcommand ${sub} not recognized\n`);
      expect(r.stderr).toMatch(/^usage: kpatch <command>/);
    }
    const rh = host({ KPATCH_FLAVOR: 'rhel' });
    expectRun(await rh.run(['kpatch', 'force', 'version']), 0, ['0.9.7'], []);
  });

  it('§2 argument counts give a usage error', async () => {
    const h = host();
    for (const argv of [['load'], ['load', 'a', 'b'], ['list', 'x'], ['info'], ['signal', 'x']]) {
      const r = await h.run(['kpatch', ...argv]);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^usage: kpatch/);
    }
  });

  it('§6 #1 kpatch not installed: exit 127', async () => {
    const h = host({ KPATCH_INSTALLED: 0 });
    expectRun(await h.run(['kpatch', 'list']), 127, [], ['bash: kpatch: command not found']);
    const g = host();
    g.fault('no-kpatch');
    expect((await g.run(['kpatch', 'version'])).code).toBe(127);
  });
});

describe('load (§2.4) and list (§3)', () => {
  it('§3.2 empty list, exact bytes, also without livepatch', async () => {
    expect((await host().run(['kpatch', 'list'])).stdout).toBe(EMPTY_LIST);
    const n = host({ LIVEPATCH: 0 });
    const r = await n.run(['kpatch', 'list']);
    expect([r.code, r.stdout]).toEqual([0, EMPTY_LIST]);
    expect(n.readSysfs().livepatch).toBe(false);
  });

  it('§2.4 verified transcripts: simple success, already loaded; §3.2 list', async () => {
    const h = host({ KPATCH_VERSION: '0.9.11', KPATCH_FLAVOR: 'upstream' });
    h.makeModule('livepatch-foo.ko');
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo.ko']),
      0,
      ['loading patch module: livepatch-foo.ko'],
      [],
    );
    expectConsistent(h);
    expect(h.readSysfs().patches.livepatch_foo).toMatchObject({ enabled: '1', transition: '0' });
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo.ko']),
      0,
      ['module named livepatch_foo already loaded and enabled'],
      [],
    );
    expect((await h.run(['kpatch', 'list'])).stdout).toBe(
      'Loaded patch modules:\nlivepatch_foo [enabled]\n\nInstalled patch modules:\n',
    );
    expect(h.readSysfs().tainted & 32768).toBe(32768); // §5.4 K
  });

  it('§2.4 success with a slow transition counts polls: transition complete (2 seconds)', async () => {
    // 2 simulated seconds = 0.5 s: long enough to see the transition under a loaded machine.
    const h = host({ TIME_SCALE: 0.25, TRANSITION_SECONDS: 2 });
    h.makeModule('livepatch-foo.ko');
    const p = h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    // the probe's view while the transition runs (§3.1 enabling...): wait for the patch to appear
    for (
      let i = 0;
      i < 100 && (h.readSysfs().patches.livepatch_foo?.transition ?? '') === '';
      i++
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(h.readSysfs().patches.livepatch_foo).toMatchObject({ enabled: '1', transition: '1' });
    expectRun(
      await p,
      0,
      [
        'loading patch module: livepatch-foo.ko',
        'waiting (up to 15 seconds) for patch transition to complete...',
        'transition complete (2 seconds)',
      ],
      [],
    );
    expectConsistent(h);
  });

  it('§3.1/§3.2 list during a transition shows [enabling...] and the Stalled processes block', async () => {
    const h = host({ TRANSITION_SECONDS: 1 });
    h.fault('stall', 'forever');
    h.makeModule('livepatch-foo.ko');
    await h.run(['insmod', 'livepatch-foo.ko']);
    const r = await h.run(['kpatch', 'list']);
    expect(lines(r.stdout)).toEqual([
      'Loaded patch modules:',
      'livepatch_foo [enabling...]',
      '',
      'Stalled processes:',
      '2171 qemu-kvm',
      'stack:',
      '[<0>] kvm_vcpu_block+0x5d/0x90 [kvm]',
      '[<0>] kvm_arch_vcpu_ioctl_run+0x3a8/0x1740 [kvm]',
      '[<0>] kvm_vcpu_ioctl+0x2c5/0x670 [kvm]',
      '[<0>] __x64_sys_ioctl+0x8a/0xc0',
      '[<0>] do_syscall_64+0x5c/0x90',
      '[<0>] entry_SYSCALL_64_after_hwframe+0x63/0xcd',
      '',
      'Installed patch modules:',
    ]);
    // non-root cannot read the stacks (§3.1)
    const nr = await h.run(['kpatch', 'list'], { env: { KPSIM_UID: '1000' } });
    expect(lines(nr.stdout).slice(4, 7)).toEqual(['2171 qemu-kvm', 'stack:', '']);
    expectConsistent(h);
  });

  it('§1.3 name normalisation: file name -> module name, underscore form required', async () => {
    const h = host();
    h.makeModule('src/livepatch-foo.ko', { name: 'livepatch_foo' });
    const i = await h.run(['kpatch', 'install', 'src/livepatch-foo.ko']);
    expect(i.stdout).toBe(`installing src/livepatch-foo.ko (${K9})\n`);
    expect(i.code).toBe(0);
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo']),
      1,
      [],
      ["kpatch: can't find livepatch-foo"],
    );
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch_foo']),
      0,
      [`loading patch module: /var/lib/kpatch/${K9}/livepatch-foo.ko`],
      [],
    );
    expect(lines((await h.run(['kpatch', 'list'])).stdout)).toEqual([
      'Loaded patch modules:',
      'livepatch_foo [enabled]',
      '',
      'Installed patch modules:',
      `livepatch_foo (${K9})`,
    ]);
    // renamed file: Installed and Loaded names differ (§1.3)
    h.makeModule('kpatch-5_14_0-362_8_1-1-2.ko', { name: 'kpatch_5_14_0_362_8_1_1_2' });
    expectRun(
      await h.run(['kpatch', 'force', 'unload', '/x/livepatch-foo.ko']),
      0,
      ['disabling patch module: livepatch_foo', 'unloading patch module: livepatch_foo'],
      [],
    );
    expectConsistent(h);
  });

  it('§2.4 step 6 / §6 #15 stalled load is reversed: transcript, exit 1, state restored', async () => {
    const h = host({
      TIME_SCALE: 0.01,
      TRANSITION_SECONDS: 1,
      KPATCH_VERSION: '0.9.11',
      KPATCH_FLAVOR: 'upstream',
    });
    h.fault('stall', 'forever');
    h.makeModule('livepatch-foo.ko');
    const t0 = Date.now();
    const r = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    const ms = Date.now() - t0;
    expectRun(
      r,
      1,
      [
        'loading patch module: livepatch-foo.ko',
        'waiting (up to 15 seconds) for patch transition to complete...',
        'patch transition has stalled!',
        'waiting (up to 60 seconds) for patch transition to complete...',
        '',
        'Stalled processes:',
        '2171 qemu-kvm',
        'stack:',
        '[<0>] kvm_vcpu_block+0x5d/0x90 [kvm]',
        '[<0>] kvm_arch_vcpu_ioctl_run+0x3a8/0x1740 [kvm]',
        '[<0>] kvm_vcpu_ioctl+0x2c5/0x670 [kvm]',
        '[<0>] __x64_sys_ioctl+0x8a/0xc0',
        '[<0>] do_syscall_64+0x5c/0x90',
        '[<0>] entry_SYSCALL_64_after_hwframe+0x63/0xcd',
        'module livepatch_foo did not complete its transition, unloading...',
        'disabling patch module: livepatch_foo',
        'waiting (up to 15 seconds) for patch transition to complete...',
        'transition complete (1 seconds)',
        'unloading patch module: livepatch_foo',
      ],
      [
        'kpatch: Livepatch process signaling is performed automatically on your system.',
        'kpatch: Skipping manual process signaling.',
        'kpatch: error: failed to load module livepatch_foo (transition stalled)',
      ],
    );
    // 75 + 1 simulated seconds at 10 ms each (§1.5): at least 750 ms
    expect(ms).toBeGreaterThanOrEqual(750);
    expect(h.readSysfs().patches).toEqual({});
    expect(h.readSysfs().modules).toEqual({});
  });

  it('§6 #15 stall N: completes in the second window; 0.6.1 wording and 5 s window in 0.5.0', async () => {
    const h = host({ TIME_SCALE: 0.02 });
    h.fault('stall', 20);
    h.makeModule('livepatch-foo.ko');
    const r = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out.slice(0, 4)).toEqual([
      'loading patch module: livepatch-foo.ko',
      'waiting (up to 15 seconds) for patch transition to complete...',
      'patch transition has stalled!',
      'waiting (up to 60 seconds) for patch transition to complete...',
    ]);
    expect(out[4]).toMatch(/^transition complete \([456] seconds\)$/);
    expectConsistent(h);

    const old = host({
      KPATCH_VERSION: '0.6.1',
      KPATCH_FLAVOR: 'rhel',
      KERNEL_RELEASE: '3.10.0-1160.el7.x86_64',
      TIME_SCALE: 0.004,
    });
    old.fault('stall', 'forever');
    old.makeModule('livepatch-foo.ko');
    const o = await old.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expect(o.code).toBe(1);
    expect(lines(o.stdout).slice(0, 5)).toEqual([
      'loading patch module: livepatch-foo.ko',
      'waiting (up to 15 seconds) for patch transition to complete...',
      'patch transition has stalled, signaling stalled process(es):',
      'signaling pid 2171 qemu-kvm',
      'waiting (up to 60 seconds) for patch transition to complete...',
    ]);
    // 0.6.1 (< 0.9.2): no stack in the Stalled block; <0.9.3: no refcount wait
    expect(lines(o.stdout).slice(5, 8)).toEqual(['', 'Stalled processes:', '2171 qemu-kvm']);
    const v5 = host({
      KPATCH_VERSION: '0.5.0',
      KPATCH_FLAVOR: 'upstream',
      KERNEL_RELEASE: '4.15.0-1.x86_64',
      TRANSITION_SECONDS: 1,
    });
    v5.makeModule('livepatch-foo.ko', { kernel: '4.15.0-1.x86_64' });
    expect(lines((await v5.run(['kpatch', 'load', 'livepatch-foo.ko'])).stdout)[1]).toBe(
      'waiting (up to 5 seconds) for patch transition to complete...',
    );
  });

  it('§6 #16 reversal also stalls: transition stalled for <m>, patch left [disabling...]', async () => {
    const h = host({ TIME_SCALE: 0.002, TRANSITION_SECONDS: 1 });
    h.fault('stall', 'forever');
    h.fault('stall-unload', 'forever');
    h.makeModule('livepatch-foo.ko');
    const r = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr).at(-1)).toBe('kpatch: transition stalled for livepatch_foo');
    expect(r.stderr).not.toMatch(/failed to load module/);
    expect(h.readSysfs().patches.livepatch_foo).toMatchObject({ enabled: '0', transition: '1' });
    expect(lines((await h.run(['kpatch', 'list'])).stdout)[1]).toBe('livepatch_foo [disabling...]');
    // §6 #16 recovery: load again reverses (re-enable) once the stall is gone
    h.clearFaults();
    const again = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expect(lines(again.stdout)[0]).toBe('module already loaded, re-enabling');
    expect(again.code).toBe(0);
    expectConsistent(h);
  });

  it('§2.4 / §6 #14 busy: retries every 2 s up to 5 attempts', async () => {
    const h = host();
    h.makeModule('livepatch-foo.ko');
    const busy = 'insmod: ERROR: could not insert module livepatch-foo.ko: Device or resource busy';
    h.fault('busy', 3);
    const ok = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expectRun(
      ok,
      0,
      ['loading patch module: livepatch-foo.ko'],
      [busy, 'kpatch: retrying...', busy, 'kpatch: retrying...', busy, 'kpatch: retrying...'],
    );
    await h.run(['kpatch', 'force', 'unload', 'livepatch_foo']);
    h.fault('busy', 5);
    const t0 = Date.now();
    const bad = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(80); // 4 × 2 s × 0.01
    expectRun(
      bad,
      1,
      ['loading patch module: livepatch-foo.ko'],
      [
        busy,
        'kpatch: retrying...',
        busy,
        'kpatch: retrying...',
        busy,
        'kpatch: retrying...',
        busy,
        'kpatch: retrying...',
        busy,
        'kpatch: failed to load module livepatch-foo.ko',
      ],
    );
    expect(h.readSysfs().patches).toEqual({});
  });

  it('§2.4 insmod errors: faults, wrong vermagic, foreign file, non-root, signature policy', async () => {
    const h = host();
    h.makeModule('livepatch-foo.ko');
    const fail = (reason: string): string[] => [
      `insmod: ERROR: could not insert module livepatch-foo.ko: ${reason}`,
      'kpatch: failed to load module livepatch-foo.ko',
    ];
    for (const [arg, reason] of [
      ['invalid-format', 'Invalid module format'],
      ['key-rejected', 'Key was rejected by service'],
      ['not-permitted', 'Operation not permitted'],
      ['file-exists', 'File exists'],
    ] as const) {
      h.fault('insmod-error', arg);
      expectRun(
        await h.run(['kpatch', 'load', 'livepatch-foo.ko']),
        1,
        ['loading patch module: livepatch-foo.ko'],
        fail(reason),
      );
    }
    h.clearFaults();
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo.ko'], { env: { KPSIM_UID: '1000' } }),
      1,
      ['loading patch module: livepatch-foo.ko'],
      fail('Operation not permitted'),
    );
    h.makeModule('livepatch-foo.ko', { kernel: '5.14.0-1.el9.x86_64' });
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo.ko']),
      1,
      ['loading patch module: livepatch-foo.ko'],
      fail('Invalid module format'),
    );
    await h.run('echo not a module > livepatch-foo.ko');
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo.ko']),
      1,
      ['loading patch module: livepatch-foo.ko'],
      fail('Invalid module format'),
    );
    const enf = host({ SIG_ENFORCE: 1 });
    enf.makeModule('livepatch-foo.ko');
    expect((await enf.run(['kpatch', 'load', 'livepatch-foo.ko'])).stderr).toContain(
      'Key was rejected by service',
    );
    enf.makeModule('livepatch-foo.ko', { signed: true });
    expect((await enf.run(['kpatch', 'load', 'livepatch-foo.ko'])).code).toBe(0);
    expect(h.readSysfs().modules).toEqual({});
  });

  it("§6 #5 no livepatch: can't find core module; §6 #6 old kpatch on a 5.1+ kernel", async () => {
    const h = host();
    h.fault('no-livepatch');
    h.makeModule('livepatch-foo.ko');
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo.ko']),
      1,
      [],
      ["kpatch: can't find core module"],
    );
    expect(h.readSysfs().livepatch).toBe(false);
    h.clearFaults();
    expect(h.readSysfs().livepatch).toBe(true);
    const old = host({ KPATCH_VERSION: '0.6.1', KPATCH_FLAVOR: 'upstream' });
    old.makeModule('livepatch-foo.ko');
    expectRun(
      await old.run(['kpatch', 'load', 'livepatch-foo.ko']),
      1,
      [],
      ["kpatch: can't find core module"],
    );
  });

  it('§6 #10 already loaded is fatal in upstream ≤0.6.3, not in RHEL 0.6.1', async () => {
    for (const [flavor, code] of [
      ['upstream', 1],
      ['rhel', 0],
    ] as const) {
      const h = host({
        KPATCH_VERSION: '0.6.1',
        KPATCH_FLAVOR: flavor,
        KERNEL_RELEASE: '3.10.0-1160.el7.x86_64',
      });
      h.makeModule('livepatch-foo.ko');
      await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
      const r = await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
      expect(r.code).toBe(code);
      if (code === 1)
        expect(r.stderr).toBe(
          'kpatch: error: module named livepatch_foo already loaded and enabled\n',
        );
      else expect(r.stdout).toBe('module named livepatch_foo already loaded and enabled\n');
    }
  });

  it('§5.3 atomic replace leaves refcnt-0 leftovers; 0.9.4+ load rmmods them, 0.9.3 gets File exists', async () => {
    const h = host({ KPATCH_VERSION: '0.9.7' });
    h.makeModule('a.ko', { name: 'livepatch_a' });
    h.makeModule('b.ko', { name: 'livepatch_b' });
    await h.run(['kpatch', 'load', 'a.ko']);
    expect((await h.run(['kpatch', 'load', 'b.ko'])).code).toBe(0);
    let s = h.readSysfs();
    expect(Object.keys(s.patches)).toEqual(['livepatch_b']);
    expect(s.modules).toEqual({ livepatch_a: { refcnt: '0' }, livepatch_b: { refcnt: '1' } });
    expectConsistent(h);
    expect(lines((await h.run(['kpatch', 'list'])).stdout)[1]).toBe('livepatch_b [enabled]');
    // reloading the replaced patch: silent rmmod of the leftover first
    expectRun(await h.run(['kpatch', 'load', 'a.ko']), 0, ['loading patch module: a.ko'], []);
    s = h.readSysfs();
    expect(s.modules).toEqual({ livepatch_a: { refcnt: '1' }, livepatch_b: { refcnt: '0' } });
    // 0.9.7: unload of an inert leftover succeeds (§2.6)
    expectRun(
      await h.run(['kpatch', 'force', 'unload', 'livepatch_b']),
      0,
      ['unloading patch module: livepatch_b'],
      [],
    );
    expectConsistent(h);

    const o = host({ KPATCH_VERSION: '0.9.3', KPATCH_FLAVOR: 'upstream' });
    o.makeModule('a.ko', { name: 'livepatch_a' });
    o.makeModule('b.ko', { name: 'livepatch_b' });
    await o.run(['kpatch', 'load', 'a.ko']);
    await o.run(['kpatch', 'load', 'b.ko']);
    expectRun(
      await o.run(['kpatch', 'load', 'a.ko']),
      1,
      ['loading patch module: a.ko'],
      [
        'insmod: ERROR: could not insert module a.ko: File exists',
        'kpatch: failed to load module a.ko',
      ],
    );
    // before 0.9.7 the inert module cannot be unloaded with kpatch
    expectRun(
      await o.run(['kpatch', 'unload', 'livepatch_a']),
      1,
      [],
      [
        'kpatch: patch module livepatch_a is not loaded',
        'kpatch: failed to disable module livepatch_a',
      ],
    );
  });

  it('§5.3 non-replace patches stack; §2.11 unload --all output and order', async () => {
    const h = host({ KPATCH_FLAVOR: 'upstream', KPATCH_VERSION: '0.9.11' });
    h.makeModule('livepatch-foo.ko', { replace: false });
    h.makeModule('livepatch-bar.ko', { replace: false });
    await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    await h.run(['kpatch', 'load', 'livepatch-bar.ko']);
    expect(Object.keys(h.readSysfs().patches).sort()).toEqual(['livepatch_bar', 'livepatch_foo']);
    expectRun(
      await h.run(['kpatch', 'unload', '--all'], { env: { LC_ALL: 'C' } }),
      0,
      [
        'disabling patch module: livepatch_bar',
        'unloading patch module: livepatch_bar',
        'disabling patch module: livepatch_foo',
        'unloading patch module: livepatch_foo',
      ],
      [],
    );
    expectRun(await h.run(['kpatch', 'unload', '--all']), 0, [], []);
    expect(h.readSysfs().modules).toEqual({});
  });

  it('§2.6 / §6 #12 unload of a module that is not loaded, per version; §6 #3 non-root', async () => {
    expectRun(
      await host({ KPATCH_FLAVOR: 'upstream', KPATCH_VERSION: '0.9.11' }).run([
        'kpatch',
        'unload',
        'x-y.ko',
      ]),
      1,
      [],
      ['kpatch: patch module x_y is not loaded', 'kpatch: failed to disable module x_y'],
    );
    expectRun(
      await host({
        KPATCH_FLAVOR: 'upstream',
        KPATCH_VERSION: '0.6.1',
        KERNEL_RELEASE: '3.10.0-1.x86_64',
      }).run(['kpatch', 'unload', 'x']),
      1,
      [],
      ['kpatch: patch module x is not loaded'],
    );
    const h = host({ KPATCH_FLAVOR: 'upstream' });
    h.makeModule('livepatch-foo.ko');
    await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    expectRun(
      await h.run(['kpatch', 'unload', 'livepatch_foo'], { env: { KPSIM_UID: '1000' } }),
      1,
      ['disabling patch module: livepatch_foo'],
      [
        'sh: line 1: /sys/kernel/livepatch/livepatch_foo/enabled: Permission denied',
        'kpatch: failed to disable module livepatch_foo',
      ],
    );
    expectConsistent(h);
  });

  it('§2.6 RHEL unload prompt: spins forever at EOF with no output; y proceeds, n exits 1; force skips', async () => {
    const h = host({ KPATCH_FLAVOR: 'rhel' });
    h.makeModule('livepatch-foo.ko');
    await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    const hung = await h.run(['kpatch', 'unload', 'livepatch_foo'], { timeoutMs: 700 });
    expect(hung.signal).toBe('SIGKILL');
    expect([hung.stdout, hung.stderr]).toEqual(['', '']);
    expectRun(await h.run(['kpatch', 'unload', 'livepatch_foo'], { stdin: 'n\n' }), 1, [], []);
    expect(h.readSysfs().patches.livepatch_foo?.enabled).toBe('1');
    const y = await h.run('yes | kpatch unload livepatch_foo');
    expectRun(
      y,
      0,
      ['disabling patch module: livepatch_foo', 'unloading patch module: livepatch_foo'],
      [],
    );
    expect(h.readSysfs().modules).toEqual({});
  });

  it('§2.10 signal: nothing in transition, automatic signalling, sysfs signal file', async () => {
    const h = host({ TRANSITION_SECONDS: 1 });
    expectRun(await h.run(['kpatch', 'signal']), 0, [], []);
    h.fault('stall', 'forever');
    h.makeModule('livepatch-foo.ko');
    await h.run(['insmod', 'livepatch-foo.ko']);
    expectRun(
      await h.run(['kpatch', 'signal']),
      0,
      [],
      [
        'kpatch: Livepatch process signaling is performed automatically on your system.',
        'kpatch: Skipping manual process signaling.',
      ],
    );
    const s = host({
      TRANSITION_SECONDS: 1,
      SIGNAL_ATTR: 1,
      KERNEL_RELEASE: '4.18.0-80.el8.x86_64',
    });
    s.fault('stall', 'forever');
    s.makeModule('livepatch-foo.ko');
    await s.run(['insmod', 'livepatch-foo.ko']);
    expectRun(await s.run(['kpatch', 'signal']), 0, ['signaling stalled process(es):'], []);
  });

  it('§3.3 0.4.0 list: bare enabled names, every installed file', async () => {
    const h = host({
      KPATCH_VERSION: '0.4.0',
      KPATCH_FLAVOR: 'upstream',
      KERNEL_RELEASE: '3.10.0-693.el7.x86_64',
    });
    h.makeModule('livepatch-foo.ko');
    expectRun(
      await h.run(['kpatch', 'load', 'livepatch-foo.ko']),
      0,
      ['loading patch module: livepatch-foo.ko'],
      [],
    );
    await h.run(['kpatch', 'install', 'livepatch-foo.ko']);
    await h.run(`touch var/lib/kpatch/3.10.0-693.el7.x86_64/notes-file`);
    expect(lines((await h.run(['kpatch', 'list'])).stdout)).toEqual([
      'Loaded patch modules:',
      'livepatch_foo',
      '',
      'Installed patch modules:',
      'livepatch_foo (3.10.0-693.el7.x86_64)',
      'notes_file (3.10.0-693.el7.x86_64)',
    ]);
  });

  it('§3.4 RHEL 0.9.10 prints tab-indented CVE lines under loaded modules', async () => {
    const h = host({ KPATCH_VERSION: '0.9.10' });
    h.addPackage({
      version: '1',
      release: '1',
      cves: ['CVE-2024-1086', 'CVE-2023-4623', 'CVE-2024-1086'],
    });
    const d = await h.run(['dnf', 'install', '-y', 'kpatch-patch-5_14_0-362_8_1']);
    expect(d.code).toBe(0);
    expect(lines((await h.run(['kpatch', 'list'])).stdout)).toEqual([
      'Loaded patch modules:',
      'kpatch_5_14_0_362_8_1_1_1 [enabled]',
      '\tCVE-2023-4623',
      '\tCVE-2024-1086',
      '',
      'Installed patch modules:',
      `kpatch_5_14_0_362_8_1_1_1 (${K9})`,
    ]);
    // 0.9.7 has no CVE lines
    h.setProfile({ KPATCH_VERSION: '0.9.7' });
    expect((await h.run(['kpatch', 'list'])).stdout).not.toMatch(/CVE/);
  });

  it('§3.5 0.9.11 functions table with stack_order; (transition) column; column missing → 127', async () => {
    const h = host({
      KPATCH_VERSION: '0.9.11',
      KPATCH_FLAVOR: 'upstream',
      STACK_ORDER: 1,
      REPLACE_ATTR: 1,
    });
    h.makeModule('livepatch-foo.ko', {
      replace: false,
      functions: ['cmdline_proc_show', 'kvm:kvm_vcpu_block'],
    });
    h.makeModule('livepatch-bar.ko', { replace: false, functions: ['cmdline_proc_show'] });
    await h.run(['kpatch', 'load', 'livepatch-foo.ko']);
    await h.run(['kpatch', 'load', 'livepatch-bar.ko']);
    const s = h.readSysfs();
    expect([s.patches.livepatch_foo?.stackOrder, s.patches.livepatch_bar?.stackOrder]).toEqual([
      '1',
      '2',
    ]);
    expect(s.patches.livepatch_foo?.replace).toBe('0');
    const out = lines((await h.run(['kpatch', 'list'])).stdout);
    const i = out.indexOf('Currently livepatched functions:');
    expect(out[i - 1]).toBe('');
    expect(out[i + 1]).toMatch(/^Module\s+Object\s+Function\/Occurrence$/);
    expect(
      out
        .slice(i + 2)
        .map((l) => l.split(/\s+/))
        .sort(),
    ).toEqual([
      ['livepatch_bar', 'vmlinux', 'cmdline_proc_show,1'],
      ['livepatch_foo', 'kvm', 'kvm_vcpu_block,1'],
    ]);
    h.setProfile({ COLUMN: 0 });
    const r = await h.run(['kpatch', 'list']);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('column: command not found');
  });

  it('§5.1 stack_order is the place in the list, counted when read: a patch leaving moves the later ones down', async () => {
    const h = host({ KPATCH_VERSION: '0.9.7', STACK_ORDER: 1 });
    const ok = async (argv: string[]) => {
      const r = await h.run(argv);
      expect(r.code, r.stderr).toBe(0);
    };
    for (const n of ['a', 'b', 'c']) {
      h.makeModule(`livepatch-${n}.ko`, { replace: false });
      await ok(['kpatch', 'load', `livepatch-${n}.ko`]);
    }
    const order = () =>
      Object.fromEntries(Object.entries(h.readSysfs().patches).map(([m, p]) => [m, p.stackOrder]));
    expect(order()).toEqual({ livepatch_a: '1', livepatch_b: '2', livepatch_c: '3' });
    await ok(['kpatch', 'force', 'unload', 'livepatch_b']);
    expect(order()).toEqual({ livepatch_a: '1', livepatch_c: '2' });
    // the next one comes last: 3 again, not 4
    h.makeModule('livepatch-d.ko', { replace: false });
    await ok(['kpatch', 'load', 'livepatch-d.ko']);
    expectConsistent(h);
    expect(order()).toEqual({ livepatch_a: '1', livepatch_c: '2', livepatch_d: '3' });
  });

  it('§2.9 info prints modinfo with the value column at 17', async () => {
    const h = host();
    h.makeModule('livepatch-foo.ko');
    const r = await h.run(['kpatch', 'info', 'livepatch-foo.ko']);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe('Patch information for livepatch-foo.ko:');
    expect(out).toContain('livepatch:      Y');
    expect(out).toContain('name:           livepatch_foo');
    expect(out).toContain(`vermagic:       ${K9} SMP preempt mod_unload modversions `);
    expectRun(await h.run(['kpatch', 'info', 'nope']), 1, [], ["kpatch: can't find nope"]);
  });
});

describe('install / uninstall (§2.7, §2.8)', () => {
  it('§2.7 checks in order, Created symlink on first enable, exit = systemctl', async () => {
    const h = host();
    h.makeModule('livepatch-foo.ko');
    h.makeModule('livepatch-old.ko', { kernel: '5.14.0-1.el9.x86_64' });
    await h.run('echo x > notko.txt');
    expectRun(await h.run(['kpatch', 'install']), 1, [], ['kpatch: no module file specified']);
    expectRun(
      await h.run(['kpatch', 'install', '-k']),
      1,
      [],
      ["getopt: option requires an argument -- 'k'", 'kpatch: getopt failed'],
    );
    expectRun(
      await h.run(['kpatch', 'install', 'nope.ko']),
      1,
      [],
      ["kpatch: nope.ko doesn't exist"],
    );
    expectRun(
      await h.run(['kpatch', 'install', 'notko.txt']),
      1,
      [],
      ["kpatch: notko.txt isn't a .ko file"],
    );
    expectRun(
      await h.run(['kpatch', 'install', 'livepatch-old.ko']),
      1,
      [],
      [`kpatch: invalid module version 5.14.0-1.el9.x86_64 for kernel ${K9}`],
    );
    expectRun(
      await h.run(['kpatch', 'install', 'livepatch-foo.ko']),
      0,
      [`installing livepatch-foo.ko (${K9})`],
      [
        'Created symlink /etc/systemd/system/multi-user.target.wants/kpatch.service → /usr/lib/systemd/system/kpatch.service.',
      ],
    );
    expectRun(
      await h.run(['kpatch', 'install', 'livepatch-foo.ko']),
      1,
      [],
      ['kpatch: livepatch-foo.ko is already installed'],
    );
    expectRun(
      await h.run([
        'kpatch',
        'install',
        '--kernel-version=5.14.0-1.el9.x86_64',
        'livepatch-old.ko',
      ]),
      0,
      ['installing livepatch-old.ko (5.14.0-1.el9.x86_64)'],
      [],
    );
    expect(h.readSysfs().installed).toEqual([
      { kernel: '5.14.0-1.el9.x86_64', file: 'livepatch-old.ko' },
      { kernel: K9, file: 'livepatch-foo.ko' },
    ]);
    expect(h.readSysfs().patches).toEqual({}); // install does not load
    expectRun(await h.run(['systemctl', 'is-enabled', 'kpatch']), 0, ['enabled'], []);
  });

  it('§2.7 / §6 #30 exit 1 with the file in place when the unit or systemctl is missing; disk-full; non-root', async () => {
    const h = host({ KPATCH_UNIT: 0 });
    h.makeModule('a.ko');
    expectRun(
      await h.run(['kpatch', 'install', 'a.ko']),
      1,
      [`installing a.ko (${K9})`],
      ['Failed to enable unit: Unit file kpatch.service does not exist.'],
    );
    expect(h.readSysfs().installed).toHaveLength(1);
    const n = host({ SYSTEMCTL: 0 });
    n.makeModule('a.ko');
    expectRun(await n.run(['kpatch', 'install', 'a.ko']), 1, [`installing a.ko (${K9})`], []);
    const d = host();
    d.makeModule('a.ko');
    d.fault('disk-full');
    expectRun(
      await d.run(['kpatch', 'install', 'a.ko']),
      1,
      [`installing a.ko (${K9})`],
      [
        `cp: error writing '/var/lib/kpatch/${K9}/a.ko': No space left on device`,
        'kpatch: failed to install module a.ko',
      ],
    );
    const u = host();
    u.makeModule('a.ko');
    expectRun(
      await u.run(['kpatch', 'install', 'a.ko'], { env: { KPSIM_UID: '1000' } }),
      1,
      [`installing a.ko (${K9})`],
      [
        `mkdir: cannot create directory '/var/lib/kpatch/${K9}': Permission denied`,
        'kpatch: failed to create install directory',
      ],
    );
  });

  it('§2.8 uninstall: path refused, normalised lookup, not installed, directories', async () => {
    for (const flavor of ['rhel', 'upstream'] as const) {
      const h = host({ KPATCH_FLAVOR: flavor, KPATCH_VERSION: '0.9.7' });
      h.makeModule('livepatch-foo.ko');
      await h.run(['kpatch', 'install', 'livepatch-foo.ko']);
      expectRun(
        await h.run(['kpatch', 'uninstall', 'x/livepatch-foo.ko']),
        1,
        [],
        ['kpatch: please supply patch module name without path'],
      );
      expectRun(
        await h.run(['kpatch', 'uninstall', 'nope']),
        1,
        [],
        [`kpatch: nope is not installed for kernel ${K9}`],
      );
      expectRun(
        await h.run(['kpatch', 'uninstall', 'livepatch_foo']),
        0,
        [`uninstalling livepatch_foo (${K9})`],
        [],
      );
      expect(h.readSysfs().installed).toEqual([]);
      const kept = (await h.run(['test', '-d', 'var/lib/kpatch'])).code === 0;
      expect(kept).toBe(flavor === 'rhel'); // RHEL keeps the RPM-owned directory
      expectRun(await h.run(['systemctl', 'is-enabled', 'kpatch.service']), 0, ['enabled'], []); // not disabled
    }
  });
});

describe('install / uninstall options (getopt, `--`)', () => {
  it('`--` ends the options; a name starting with `-` is options without it, and refused with it (basename)', async () => {
    for (const flavor of ['rhel', 'upstream'] as const) {
      const h = host({ KPATCH_FLAVOR: flavor, KPATCH_VERSION: '0.9.7' });
      h.makeModule('livepatch-foo.ko');
      h.makeModule('-dash.ko', { name: 'dash' });
      const first = await h.run(['kpatch', 'install', '-k', K9, '--', 'livepatch-foo.ko']);
      expect([first.code, lines(first.stdout)]).toEqual([
        0,
        [`installing livepatch-foo.ko (${K9})`],
      ]);
      // kpfleet's form: an absolute path after `--`
      expectRun(
        await h.run(['kpatch', 'install', '-k', K9, '--', '/-dash.ko']),
        0,
        [`installing /-dash.ko (${K9})`],
        [],
      );
      expect(h.readSysfs().installed.map((i) => i.file)).toEqual(['-dash.ko', 'livepatch-foo.ko']);
      // without `--`: `-dash.ko` is `-d`, an option getopt does not know
      expectRun(
        await h.run(['kpatch', 'uninstall', '-k', K9, '-dash.ko']),
        1,
        [],
        [
          "getopt: invalid option -- 'd'",
          "getopt: invalid option -- 'a'",
          "getopt: invalid option -- 's'",
          "getopt: invalid option -- 'h'",
          "getopt: invalid option -- '.'",
          'kpatch: getopt failed',
        ],
      );
      // … or `-k` with an argument, leaving no file at all
      expectRun(
        await h.run(['kpatch', 'uninstall', '-kpatch-dash.ko']),
        1,
        [],
        ['kpatch: no module file specified'],
      );
      // with `--`: kpatch's `basename NAME` reads it as options, and kpatch refuses the name
      expectRun(
        await h.run(['kpatch', 'uninstall', '-k', K9, '--', '-dash.ko']),
        1,
        [],
        [
          "basename: invalid option -- 'd'",
          "Try 'basename --help' for more information.",
          'kpatch: please supply patch module name without path',
        ],
      );
      expectRun(
        await h.run(['kpatch', 'uninstall', '-k', K9, '--', 'livepatch-foo.ko']),
        0,
        [`uninstalling livepatch-foo.ko (${K9})`],
        [],
      );
      expect(h.readSysfs().installed.map((i) => i.file)).toEqual(['-dash.ko']);
    }
  });
});

describe('fault plumbing', () => {
  it('drop with no sshd ancestor: first line, then exit 255', async () => {
    const h = host();
    h.fault('drop');
    expectRun(
      await h.run(['kpatch', 'list']),
      255,
      ['Loaded patch modules:'],
      ['kpsim: drop fault but no sshd ancestor'],
    );
  });

  it('hang never finishes', async () => {
    const h = host();
    h.fault('hang');
    const r = await h.run(['kpatch', 'version'], { timeoutMs: 300 });
    expect(r.signal).toBe('SIGKILL');
  });

  it('faults are plain files; busy counts down', async () => {
    const h = host();
    h.fault('busy', 2);
    expect((await h.run(['cat', 'var/lib/kpsim/faults/busy'])).stdout).toBe('2\n');
    h.makeModule('a.ko');
    await h.run(['kpatch', 'load', 'a.ko']);
    expect((await h.run(['ls', 'var/lib/kpsim/faults'])).stdout).toBe('');
  });
});
