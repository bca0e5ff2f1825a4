/** Remote steps and their verification (issue 6 §3; docs/kpatch-behaviour.md §2.4–2.8, §6). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rollbackChanges, rollbackWithoutSuspects } from '../../../src/apply/rollback.ts';
import {
  judgeStep,
  rpmSpec,
  splitStepOutput,
  stepFor,
  UNSYNCED_MARK,
  VERIFY_MARK,
} from '../../../src/apply/steps.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import type { Change, LoadChange } from '../../../src/plan/model.ts';

const K = '5.14.0-362.8.1.el9_3.x86_64';
const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
  probeVersion: 3,
  kernel: K,
  arch: 'x86_64',
  os: {},
  cmdline: '',
  kpatchDisabledAtBoot: false,
  tainted: 0,
  kpatch: { installed: true, version: '0.9.7', flavor: 'rhel' },
  kpatchList: { rc: 0, text: '' },
  security: {},
  livepatchSupported: true,
  patches: [],
  kernels: [K],
  modules: [],
  installed: [],
  rpmInstalled: [],
  service: { present: true, enabled: true, state: 'enabled' },
  packages: [],
  ...over,
});
const host = (over: Partial<HostFacts> = {}) => ({
  facts: facts(over),
  staging: '/home/deploy/.kpfleet/stage',
});
const load: LoadChange = {
  action: 'load',
  patch: 'p',
  module: 'livepatch_p',
  file: `/var/lib/kpatch/${K}/livepatch-p.ko`,
  replacesModules: [],
  reenable: false,
  cves: [],
  reason: 'r',
};
const out = (output: string, rc: number, verify: string) =>
  `${output}\n${VERIFY_MARK} ${String(rc)}\n${verify}\n`;

describe('stepFor', () => {
  it('RHEL unload uses the force prefix, which never prompts (§2.6, §6 #28); upstream does not have it (§6 #29)', () => {
    const c: Change = { action: 'unload', module: 'livepatch_p', leftover: false, reason: 'r' };
    const rhel = stepFor(
      c,
      host({
        patches: [{ name: 'livepatch_p', enabled: true, transition: false, replace: undefined }],
      }),
    );
    expect(rhel.script).toContain('kpatch force unload livepatch_p');
    const up = stepFor(
      c,
      host({
        kpatch: { installed: true, version: '0.9.11', flavor: 'upstream' },
        patches: [{ name: 'livepatch_p', enabled: true, transition: false, replace: undefined }],
      }),
    );
    expect(up.script).toContain('kpatch unload livepatch_p');
    expect(up.script).not.toContain('force');
    expect(rhel.become).toBe(true);
  });

  it('an inert leftover before kpatch 0.9.7 is removed with rmmod (§2.6 version differences)', () => {
    const c: Change = { action: 'unload', module: 'livepatch_p', leftover: true, reason: 'r' };
    const s = stepFor(
      c,
      host({
        kpatch: { installed: true, version: '0.6.1', flavor: 'rhel' },
        modules: [{ name: 'livepatch_p', refcnt: 0, taint: 'OEK' }],
      }),
    );
    expect(s.script).toContain('rmmod livepatch_p');
  });

  it('load before 0.9.4 removes an inert same-named leftover first (§6 #27); the check reads sysfs', () => {
    const old = stepFor(
      load,
      host({ kpatch: { installed: true, version: '0.9.3', flavor: 'rhel' } }),
    );
    expect(old.script).toMatch(/rmmod livepatch_p; fi; kpatch load/);
    const now = stepFor(load, host());
    expect(now.script).not.toContain('rmmod');
    expect(now.script).toContain(`kpatch load /var/lib/kpatch/${K}/livepatch-p.ko`);
    expect(now.script).toContain('/sys/kernel/livepatch/livepatch_p/enabled');
  });

  it('install resolves the staged file in the SSH user home and checks the sha256 that landed', () => {
    const s = stepFor(
      {
        action: 'install',
        patch: 'p',
        module: 'livepatch_p',
        kernel: K,
        file: '~/.kpfleet/stage/0123456789abcdef/livepatch-p.ko',
        sha256: 'a'.repeat(64),
        reason: 'r',
      },
      host(),
    );
    expect(s.script).toContain(
      `kpatch install -k ${K} -- /home/deploy/.kpfleet/stage/0123456789abcdef/livepatch-p.ko`,
    );
    expect(s.script).toContain(`sha256sum /var/lib/kpatch/${K}/livepatch-p.ko`);
  });

  it('uninstall: `--` before the file; a file starting with `-` is removed as kpatch would, never passed to it', () => {
    const un = (file: string) =>
      stepFor({ action: 'uninstall', module: 'm', kernel: K, file, reason: 'r' }, host()).script;
    expect(un('livepatch-p.ko')).toContain(`kpatch uninstall -k ${K} -- livepatch-p.ko`);
    // kpatch hands its argument to basename without `--`: such a name cannot reach kpatch
    const dash = un('-foo.ko');
    expect(dash).not.toContain('kpatch uninstall');
    expect(dash).toContain(
      `rm -f -- /var/lib/kpatch/${K}/-foo.ko && { rmdir -- /var/lib/kpatch/${K} 2>/dev/null; true; }`,
    );
    expect(dash).toContain(`test -e /var/lib/kpatch/${K}/-foo.ko && echo present`);
    // a file name from a hand-edited plan is checked before anything runs
    for (const bad of ['../../etc/shadow', 'a/b.ko', '..', '.', 'a\nb.ko', 'x'.repeat(256)])
      expect(() => un(bad), bad).toThrow(/file name/);
  });

  it('a name that is not a module name never reaches a shell', () => {
    expect(() => stepFor({ ...load, module: 'x; rm -rf /' }, host())).toThrow(/module name/);
  });
});

describe('judgeStep: verification, not exit codes', () => {
  it('load: enabled=1 and transition=0 (§5.1)', () => {
    expect(judgeStep(load, out('loading patch module: x', 0, '10'))).toEqual({ ok: true });
    expect(judgeStep(load, out('', 0, '11')).error).toMatch(/still in transition/);
    expect(judgeStep(load, out('kpatch: failed to load module x', 1, '')).error).toMatch(
      /not in \/sys\/kernel\/livepatch \(exit 1: kpatch: failed to load module x\)/,
    );
  });
  it('unload: exit 0 does not prove the module is gone (§6 #19)', () => {
    const c: Change = { action: 'unload', module: 'm', leftover: false, reason: 'r' };
    expect(judgeStep(c, out('unloading patch module: m', 0, 'module')).error).toMatch(
      /still in memory/,
    );
    expect(judgeStep(c, out('', 0, ''))).toEqual({ ok: true });
  });
  it('install: the exit status is systemctl’s (§2.7, §6 #30); the file decides', () => {
    const c: Change = {
      action: 'install',
      patch: 'p',
      module: 'm',
      kernel: K,
      file: '/x/m.ko',
      sha256: 'b'.repeat(64),
      reason: 'r',
    };
    expect(judgeStep(c, out('Failed to enable unit', 1, 'b'.repeat(64)))).toEqual({ ok: true });
    expect(judgeStep(c, out('', 0, '')).ok).toBe(false);
  });
  it('output cut before the marker (a dropped connection) is a failure', () => {
    expect(judgeStep(load, 'loading patch module: x\n').error).toMatch(/ended early/);
    expect(splitStepOutput('a\nb').rc).toBeUndefined();
  });
});

const RUN = '2025-06-01T10:00:00.000Z-0123abcd';

describe('rollbackChanges', () => {
  it('an uninstall is undone from the copy this run kept, in its own folder', () => {
    const before = facts({
      installed: [
        {
          kernel: K,
          file: 'old.ko',
          path: `/var/lib/kpatch/${K}/old.ko`,
          module: 'old',
          sha256: 'c'.repeat(64),
        },
      ],
    });
    const done: Change[] = [
      { action: 'uninstall', module: 'old', kernel: K, file: 'old.ko', reason: 'r' },
    ];
    expect(rollbackChanges(done, before, RUN)).toMatchObject([
      {
        action: 'install',
        kernel: K,
        file: `/var/lib/kpfleet/rollback/${RUN}/${K}/old.ko`,
        sha256: 'c'.repeat(64),
      },
    ]);
    expect(() => rollbackChanges(done, before, '../x')).toThrow(/run id/);
  });
  it('a replacement is undone by loading the old patch again before unloading the new (§5.3)', () => {
    const before = facts({
      patches: [{ name: 'old', enabled: true, transition: false, replace: true }],
      installed: [
        {
          kernel: K,
          file: 'old.ko',
          path: `/var/lib/kpatch/${K}/old.ko`,
          module: 'old',
          sha256: 'c'.repeat(64),
        },
      ],
    });
    const done: Change[] = [
      {
        action: 'install',
        patch: 'p',
        module: 'new',
        kernel: K,
        file: '/s/new.ko',
        sha256: 'd'.repeat(64),
        reason: 'r',
      },
      { ...load, module: 'new', replacesModules: ['old'] },
      { action: 'unload', module: 'old', leftover: false, after: 'new', reason: 'r' },
    ];
    expect(
      rollbackChanges(done, before, RUN).map((c) => `${c.action} ${'module' in c ? c.module : ''}`),
    ).toEqual(['load old', 'load old', 'unload new', 'uninstall new']);
    const reload = rollbackChanges(done, before, RUN)[0];
    expect(reload).toMatchObject({ action: 'load', file: `/var/lib/kpatch/${K}/old.ko` });
  });
  it('a suspect (the crash guard) is not loaded again by a rollback: the host needs a look', () => {
    const before = facts({
      patches: [{ name: 'old', enabled: true, transition: false, replace: true }],
      suspects: [{ module: 'old', patch: 'old', bootId: 'b00t' }],
    });
    // the new patch replaced the suspect; its unload of the suspect failed
    const done: Change[] = [{ ...load, module: 'new', replacesModules: ['old'] }];
    const r = rollbackWithoutSuspects(done, before, RUN);
    expect(r.undo.map((c) => `${c.action} ${'module' in c ? c.module : ''}`)).toEqual([
      'unload new',
    ]);
    expect(r.notReloaded).toEqual(['old']);
    // without a suspect, the same rollback loads it again
    expect(rollbackWithoutSuspects(done, facts({ patches: before.patches }), RUN)).toMatchObject({
      undo: [{ action: 'load', module: 'old' }, { action: 'unload' }],
      notReloaded: [],
    });
  });
  it('a package upgrade is undone by installing the old version again', () => {
    const undo = rollbackChanges(
      [
        {
          action: 'package-install',
          patch: 'p',
          module: 'm',
          package: 'kpatch-patch-x-2-1',
          replacesPackage: 'kpatch-patch-x-1-1.el9.x86_64',
          reason: 'r',
        },
      ],
      facts(),
      RUN,
    );
    expect(undo).toMatchObject([
      { action: 'package-install', package: 'kpatch-patch-x-1-1.el9.x86_64' },
    ]);
  });
});

describe('rpmSpec: what dnf is asked for (§4.3)', () => {
  it('name-version-release without the dist tag becomes a glob that cannot match a longer release', () => {
    expect(rpmSpec('kpatch-patch-5_14_0-362_8_1-1-3')).toBe('kpatch-patch-5_14_0-362_8_1-1-3.*');
    expect(rpmSpec('kpatch-patch-5_14_0-362_8_1-1-3.el9_3')).toBe(
      'kpatch-patch-5_14_0-362_8_1-1-3.el9_3',
    );
    expect(rpmSpec('kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64')).toBe(
      'kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64',
    );
  });
  it('package-install is judged by the installed package and the module it dropped', () => {
    const c: Change = {
      action: 'package-install',
      patch: 'p',
      module: 'kpatch_5_14_0_362_8_1_1_3',
      package: 'kpatch-patch-5_14_0-362_8_1-1-3',
      reason: 'r',
    };
    const ok = out(
      '',
      0,
      'package kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64\nmodule kpatch_5_14_0_362_8_1_1_3',
    );
    expect(judgeStep(c, ok)).toEqual({ ok: true });
    expect(
      judgeStep(c, out('', 0, 'package kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64')).error,
    ).toMatch(/is not in \/var\/lib\/kpatch/);
    expect(
      judgeStep(c, out('', 0, 'package kpatch-patch-5_14_0-362_8_1-1-30.el9_3.x86_64')).error,
    ).toMatch(/is not installed/);
  });
  it("a %post that failed while dnf exited 0 is named in the error (rpm's warning line)", () => {
    const c: Change = {
      action: 'package-install',
      patch: 'p',
      module: 'kpatch_5_14_0_362_8_1_1_3',
      package: 'kpatch-patch-5_14_0-362_8_1-1-3',
      reason: 'r',
    };
    const dnf = [
      'Running transaction',
      '  Running scriptlet: kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64',
      'warning: %post(kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64) scriptlet failed, exit status 1',
      'Error in POSTIN scriptlet in rpm package kpatch-patch-5_14_0-362_8_1',
      'Complete!',
    ].join('\n');
    const r = judgeStep(c, out(dnf, 0, 'package kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64'));
    expect(r.error).toBe(
      'kpatch-patch-5_14_0-362_8_1-1-3 is installed but kpatch_5_14_0_362_8_1_1_3 is not in /var/lib/kpatch (warning: %post(kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64) scriptlet failed, exit status 1)',
    );
  });
});

describe('durability: each change that persists is synced before it counts (issue 15 §2)', () => {
  const install: Change = {
    action: 'install',
    patch: 'p',
    module: 'livepatch_p',
    kernel: K,
    file: '/s/livepatch-p.ko',
    sha256: 'b'.repeat(64),
    reason: 'r',
  };
  const uninstall: Change = {
    action: 'uninstall',
    module: 'livepatch_p',
    kernel: K,
    file: 'livepatch-p.ko',
    reason: 'r',
  };
  const pkg: Change = {
    action: 'package-install',
    patch: 'p',
    module: '',
    package: 'kpatch-patch-x-1-1',
    reason: 'r',
  };
  const enable: Change = { action: 'enable-service', reason: 'r' };
  /** The part of the script between the command and the verification marker. */
  const durablePart = (c: Change): string => {
    const s = stepFor(c, host()).script;
    return s.slice(s.indexOf('rc=$?'), s.indexOf(`${VERIFY_MARK} "$rc"`));
  };

  it('install syncs the copy, its folder and /var/lib/kpatch, after the command and before verification', () => {
    const d = durablePart(install);
    expect(d).toContain(
      `sync -- /var/lib/kpatch/${K}/livepatch-p.ko /var/lib/kpatch/${K} /var/lib/kpatch`,
    );
    expect(d).toContain(UNSYNCED_MARK);
  });
  it('uninstall syncs each folder that is left (upstream removes emptied ones, §2.8)', () => {
    expect(durablePart(uninstall)).toContain(
      `for d in /var/lib/kpatch /var/lib/kpatch/${K}; do if [ -d "$d" ]; then set -- "$@" "$d"; fi; done; sync -- "$@"`,
    );
    expect(durablePart({ ...uninstall, file: '-x.ko' })).toContain('sync -- "$@"');
  });
  it('package install and removal flush everything; enabling the service syncs the link’s folder', () => {
    expect(durablePart(pkg)).toMatch(/\{ sync\n\}/);
    expect(
      durablePart({ action: 'package-remove', package: 'kpatch-patch-x-1-1', reason: 'r' }),
    ).toMatch(/\{ sync\n\}/);
    expect(durablePart(enable)).toContain(
      'sync -- /etc/systemd/system/multi-user.target.wants /etc/systemd/system',
    );
  });
  it('load and unload change nothing on disk: no sync', () => {
    expect(durablePart(load)).not.toContain('sync');
    expect(
      durablePart({ action: 'unload', module: 'livepatch_p', leftover: false, reason: 'r' }),
    ).not.toContain('sync');
  });

  /** Runs a step's script under sh with stub commands first in PATH; `sync` exits `syncRc`. */
  const run = (c: Change, syncRc: number) => {
    const bin = mkdtempSync(join(tmpdir(), 'kpfleet-steps-'));
    const log = join(bin, 'log');
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >>${log}\n${body}\n`, {
        mode: 0o755,
      });
    };
    stub(
      'sync',
      `[ ${String(syncRc)} = 0 ] || echo "sync: error syncing x: Input/output error" >&2; exit ${String(syncRc)}`,
    );
    stub('systemctl', '[ "$1" = is-enabled ] && echo enabled; exit 0');
    stub('dnf', 'exit 0');
    stub('rpm', 'echo kpatch-patch-x-1-1.el9.x86_64');
    try {
      const r = spawnSync('sh', ['-c', stepFor(c, host()).script], {
        encoding: 'utf8',
        env: { PATH: `${bin}:/usr/bin:/bin` },
      });
      return { stdout: r.stdout, calls: readFileSync(log, 'utf8').trim().split('\n') };
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  };

  it('run for real: sync comes after the command; a failed sync fails a step whose change was made', () => {
    const ok = run(enable, 0);
    expect(ok.calls[0]).toBe('systemctl enable kpatch.service');
    expect(ok.calls[1]).toMatch(/^sync\b/);
    expect(ok.calls[2]).toBe('systemctl is-enabled kpatch.service');
    expect(judgeStep(enable, ok.stdout)).toEqual({ ok: true });

    const bad = run(enable, 1);
    expect(judgeStep(enable, bad.stdout)).toEqual({
      ok: false,
      error:
        'the change is made but sync failed (exit 1: sync: error syncing x: Input/output error): it may not survive a crash',
    });
    const pkgBad = run(pkg, 1);
    expect(pkgBad.calls).toEqual(expect.arrayContaining(['sync ']));
    expect(judgeStep(pkg, pkgBad.stdout).error).toMatch(/sync failed \(exit 1/);
    expect(judgeStep(pkg, run(pkg, 0).stdout)).toEqual({ ok: true });
  });
  it('a failed verification is reported before a failed sync (it says more)', () => {
    expect(judgeStep(install, out(`x\n${UNSYNCED_MARK} 1`, 0, '')).error).toMatch(
      /not in \/var\/lib\/kpatch/,
    );
    expect(judgeStep(install, out(`x\n${UNSYNCED_MARK} 1`, 0, 'b'.repeat(64))).error).toMatch(
      /sync failed \(exit 1: x\)/,
    );
  });
});
