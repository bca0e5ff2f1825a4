/**
 * The klp manager's steps (docs/klp-behaviour.md §K.2–§K.4, §K.7): which command each change
 * becomes under klp, that names are checked before they reach a shell, that every store follows
 * the change's `store`, and that one judge serves both managers (a klp step's passing output is
 * what `batch.ts` gates on). The scripts themselves run against the lab simulator over SSH and
 * against a real kernel in the VM suite.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { passingVerify } from '../../../src/apply/batch.ts';
import { judgeStep, stepFor, VERIFY_MARK } from '../../../src/apply/steps.ts';
import { KLP_BOOT_TEXT, klpBootFiles } from '../../../src/facts/klp-boot.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import type { Change, LoadChange } from '../../../src/plan/model.ts';
import { facts as planFacts } from '../plan/builders.ts';

const K = '5.14.0-362.8.1.el9_3.x86_64';
const noKpatch = (): HostFacts => planFacts({ kpatch: { installed: false } });
const klpHost = (f: HostFacts = noKpatch()) => ({
  facts: f,
  staging: '/home/deploy/.kpfleet/stage',
  runId: '2026-12-05T23-00-00Z-abcd',
  manager: 'klp' as const,
});
const load: LoadChange = {
  action: 'load',
  patch: 'p',
  module: 'livepatch_p',
  file: `/var/lib/kpfleet/klp/${K}/livepatch-p.ko`,
  replacesModules: [],
  reenable: false,
  cves: [],
  reason: 'r',
};
const out = (output: string, rc: number, verify: string) =>
  `${output}\n${VERIFY_MARK} ${String(rc)}\n${verify}\n`;

describe('stepFor under klp', () => {
  it('a load runs the shared loader on the named file, inside the crash guard; no kpatch anywhere', () => {
    const s = stepFor(load, klpHost());
    expect(s.step).toBe('klp load');
    expect(s.script).toContain(`kpf_klp_load livepatch_p /var/lib/kpfleet/klp/${K}/livepatch-p.ko`);
    expect(s.script).toContain('/var/lib/kpfleet/loading/livepatch_p');
    expect(s.script).not.toMatch(/\bkpatch (load|install|unload)\b/);
  });

  it('a load without a file, or with a hostile name, is refused before anything is sent', () => {
    const noFile: LoadChange = { ...load };
    delete noFile.file;
    expect(() => stepFor(noFile, klpHost())).toThrow(/names no file/);
    expect(() => stepFor({ ...load, module: 'x; reboot' }, klpHost())).toThrow(/module name/);
  });

  it('install copies into the klp store under a temporary name, checks vermagic and livepatch, syncs', () => {
    const c: Change = {
      action: 'install',
      patch: 'p',
      module: 'livepatch_p',
      kernel: K,
      file: '~/.kpfleet/stage/0123456789abcdef/livepatch-p.ko',
      sha256: 'a'.repeat(64),
      reason: 'r',
    };
    const s = stepFor(c, klpHost()).script;
    expect(s).toContain('modinfo -F vermagic');
    expect(s).toContain('modinfo -F livepatch');
    expect(s).toContain(
      `mv -f -- /var/lib/kpfleet/klp/${K}/.livepatch_p.ko.new /var/lib/kpfleet/klp/${K}/livepatch_p.ko`,
    );
    expect(s).toContain('/home/deploy/.kpfleet/stage/0123456789abcdef/livepatch-p.ko');
    // one judge for both managers: the installed file's sha256, and the folder named by store
    expect(judgeStep(c, out('', 0, 'a'.repeat(64)), 'klp')).toEqual({ ok: true });
    expect(judgeStep(c, out('', 1, ''), 'klp').error).toMatch(`/var/lib/kpfleet/klp/${K}`);
  });

  it('enable-service writes the unit and the boot script, then enables; passes on `enabled`', () => {
    const c: Change = { action: 'enable-service', unit: 'kpfleet-klp.service', reason: 'r' };
    const s = stepFor(c, klpHost()).script;
    const { unit, script } = klpBootFiles();
    expect(s).toContain('systemctl daemon-reload && systemctl enable kpfleet-klp.service');
    expect(s).toContain(unit.sha256);
    expect(s).toContain(script.sha256);
    expect(passingVerify(c)).toBe('enabled');
    expect(judgeStep(c, out('', 0, 'enabled'), 'klp')).toEqual({ ok: true });
    const stale = judgeStep(
      c,
      out(
        '',
        0,
        "is-enabled: enabled\n/var/lib/kpfleet/klp/boot.sh is not kpfleet's current boot script",
      ),
      'klp',
    );
    expect(stale.error).toMatch(/boot script/);
  });

  it('the files it writes are what the shell writes: the script printed by printf has the planner’s sha256', () => {
    const c: Change = { action: 'enable-service', unit: 'kpfleet-klp.service', reason: 'r' };
    const s = stepFor(c, klpHost()).script;
    // the printf's argument: one single-quoted word (quote() writes ' as '\'')
    const at = s.indexOf("printf '%s' '#!/bin/sh");
    expect(at).toBeGreaterThan(0);
    let end = at + "printf '%s' '".length;
    for (;;) {
      end = s.indexOf("'", end);
      if (s.startsWith("'\\''", end)) end += 4;
      else break;
    }
    const printed = spawnSync('sh', ['-c', s.slice(at, end + 1)], { encoding: 'utf8' });
    expect(printed.stdout).toBe(KLP_BOOT_TEXT);
    expect(spawnSync('dash', ['-n'], { input: KLP_BOOT_TEXT }).status).toBe(0);
  });

  it('uninstall follows the store: klp store removed directly; kpatch store by kpatch where it is there, else directly', () => {
    const base = {
      action: 'uninstall',
      module: 'livepatch_p',
      kernel: K,
      file: 'livepatch-p.ko',
      reason: 'r',
    } as const;
    const klpStore = stepFor({ ...base, store: 'klp' }, klpHost()).script;
    expect(klpStore).toContain(`rm -f -- /var/lib/kpfleet/klp/${K}/livepatch-p.ko`);
    const kpatchGone = stepFor(base, klpHost()).script;
    expect(kpatchGone).toContain(`rm -f -- /var/lib/kpatch/${K}/livepatch-p.ko`);
    const withKpatch = stepFor(base, klpHost(planFacts())).script;
    expect(withKpatch).toContain(`kpatch uninstall -k ${K} -- livepatch-p.ko`);
    // under the kpatch manager, a klp-store file (a host moved to kpatch) is removed directly
    const kpatchManager = stepFor(
      { ...base, store: 'klp' },
      { ...klpHost(planFacts()), manager: 'kpatch' },
    ).script;
    expect(kpatchManager).toContain(`rm -f -- /var/lib/kpfleet/klp/${K}/livepatch-p.ko`);
    expect(judgeStep({ ...base, store: 'klp' }, out('', 0, 'present')).error).toMatch(
      `/var/lib/kpfleet/klp/${K}/livepatch-p.ko is still there`,
    );
  });

  it('packages have no klp step', () => {
    expect(() =>
      stepFor({ action: 'package-remove', package: 'kpatch-patch-1-1', reason: 'r' }, klpHost()),
    ).toThrow(/kpatch manager/);
  });
});
