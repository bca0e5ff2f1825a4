/** Probe output → HostFacts (issue 5 §1–2): sections, and what is refused rather than guessed. */
import { describe, expect, it } from 'vitest';
import { parseFacts } from '../../../src/facts/parse/facts.ts';
import { SECTION_MARK } from '../../../src/facts/probe.ts';
import { klpBootFiles } from '../../../src/facts/klp-boot.ts';
import { sharedFunctions } from '../../../src/facts/functions.ts';
import { FUNCTIONS_MAX } from '../../../src/facts/parse/host-sections.ts';

function probeOutput(sections: Record<string, string>): string {
  return Object.entries(sections)
    .map(([name, body]) => `\n${SECTION_MARK} ${name}\n${body}`)
    .join('\n');
}

const base = {
  probe: '1',
  uname: '5.14.0-362.8.1.el9_3.x86_64\nx86_64',
  'os-release':
    'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.3"\nPRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"',
  cmdline: 'BOOT_IMAGE=/vmlinuz ro kpatch.enable=0 quiet',
  tainted: '12288',
  'kpatch-version': '0.9.7\nrc=0',
  'kpatch-list':
    'Loaded patch modules:\nkpatch_cve [enabled]\n\nInstalled patch modules:\nkpatch_cve (5.14.0-362.8.1.el9_3.x86_64)\nrc=0',
  livepatch: 'present\nkpatch_cve 1 0 -',
  modules: 'kpatch_cve 1 OEK\nold_patch 0 OEK',
  installed: `${'a'.repeat(64)}  /var/lib/kpatch/5.14.0-362.8.1.el9_3.x86_64/kpatch-cve.ko`,
  'rpm-installed': '',
  service: 'enabled\nrc=0',
  packages: 'kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64',
  end: '',
};

describe('parseFacts', () => {
  it('reads every section', () => {
    const r = parseFacts(probeOutput(base));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.facts).toMatchObject({
      kernel: '5.14.0-362.8.1.el9_3.x86_64',
      os: { id: 'rhel', versionId: '9.3', prettyName: 'Red Hat Enterprise Linux 9.3 (Plow)' },
      kpatchDisabledAtBoot: true,
      tainted: 12288,
      kpatch: { installed: true, version: '0.9.7' },
      patches: [{ name: 'kpatch_cve', enabled: true, transition: false, replace: undefined }],
      modules: [
        { name: 'kpatch_cve', refcnt: 1, taint: 'OEK' },
        { name: 'old_patch', refcnt: 0, taint: 'OEK' },
      ],
      installed: [
        {
          kernel: '5.14.0-362.8.1.el9_3.x86_64',
          file: 'kpatch-cve.ko',
          module: 'kpatch_cve',
          sha256: 'a'.repeat(64),
        },
      ],
      service: { present: true, enabled: true, state: 'enabled' },
      packages: ['kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64'],
    });
    expect(r.facts.kpatchList.parsed?.loaded).toEqual([
      { name: 'kpatch_cve', state: 'enabled', cves: [] },
    ]);
  });

  it('a kpatch list it cannot read is an error that shows the text, not a guess', () => {
    const r = parseFacts(
      probeOutput({
        ...base,
        'kpatch-list':
          'Loaded patch modules:\nkpatch_cve [frozen]\n\nInstalled patch modules:\nrc=0',
      }),
    );
    expect(r).toMatchObject({
      ok: false,
      text: 'Loaded patch modules:\nkpatch_cve [frozen]\n\nInstalled patch modules:',
    });
    if (!r.ok) expect(r.error).toMatch(/line 2: "kpatch_cve \[frozen\]"/);
  });

  it('output cut off, or not from the probe at all, is refused', () => {
    const cut = probeOutput(base).split(`${SECTION_MARK} service`)[0] ?? '';
    expect(parseFacts(cut)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/stops early/) as unknown,
    });
    expect(parseFacts('Last login: yesterday\n')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/none of its sections/) as unknown,
    });
    expect(
      parseFacts(probeOutput({ ...base, uname: 'bash: uname: command not found\nx' })),
    ).toMatchObject({ ok: false });
  });

  it('a host without kpatch or livepatch', () => {
    const r = parseFacts(
      probeOutput({
        ...base,
        'kpatch-version': 'rc=127',
        'kpatch-list': 'rc=127',
        livepatch: 'absent',
        service: 'rc=127',
      }),
    );
    expect(r).toMatchObject({
      ok: true,
      facts: {
        kpatch: { installed: false },
        livepatchSupported: false,
        service: { present: false, enabled: false },
      },
    });
  });

  it('no transition: no transition facts; installed kernels listed', () => {
    const r = parseFacts(
      probeOutput({ ...base, kernels: '5.14.0-362.8.1.el9_3.x86_64\n5.14.0-427.el9.x86_64' }),
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.facts.transition).toBeUndefined();
    expect(r.facts.kernels).toEqual(['5.14.0-362.8.1.el9_3.x86_64', '5.14.0-427.el9.x86_64']);
  });

  it('a patch in transition, with the tasks that hold it up from kpatch list and /proc (§3.1, §5.1)', () => {
    const r = parseFacts(
      probeOutput({
        ...base,
        'kpatch-list':
          'Loaded patch modules:\nkpatch_cve [enabled]\nkpatch_new [enabling...]\n\nStalled processes:\n2171 qemu-kvm\nstack:\n\nInstalled patch modules:\nrc=0',
        livepatch: 'present\nkpatch_cve 1 0 1\nkpatch_new 1 1 1',
        // pid state comm: 900 already switched (1 = patched), 2171 also in the list, 3000 new
        tasks: 'readable=no\n900 1 bash\n2171 0 qemu-kvm\n3000 0 kworker/0:1 x',
      }),
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.facts.transition).toEqual({
      patch: 'kpatch_new',
      enabling: true,
      tasks: [
        { pid: 2171, comm: 'qemu-kvm' },
        { pid: 3000, comm: 'kworker/0:1 x' },
      ],
      tasksComplete: false,
    });
  });

  it('a local user cannot make the host a facts error: newlines in a comm give a blocked host, held up by that task', () => {
    const names: [string, string][] = [
      ['evil\nx', 'evil?x'],
      ['evil\n\nx', 'evil?x'],
      ['e\nstack:', 'e?stack:'],
      ['', ''],
      [' x', ' x'],
      ['a\rb', 'a?b'],
      ['a\u2028b', 'a\u2028b'],
    ];
    for (const [name, shown] of names) {
      const r = parseFacts(
        probeOutput({
          ...base,
          'kpatch-list': `Loaded patch modules:\nkpatch_cve [enabled]\nkpatch_new [enabling...]\n\nStalled processes:\n2171 ${name}\nstack:\n[<0>] do_nanosleep+0x67/0x190\n\nInstalled patch modules:\nrc=0`,
          livepatch: 'present\nkpatch_cve 1 0 1\nkpatch_new 1 1 1',
          tasks: 'readable=no',
        }),
      );
      if (!r.ok) throw new Error(`${JSON.stringify(name)}: ${r.error}`);
      expect(r.facts.transition?.tasks).toEqual([{ pid: 2171, comm: shown }]);
    }
  });

  it('an unpatching transition: tasks still patched are the ones holding it', () => {
    const r = parseFacts(
      probeOutput({
        ...base,
        'kpatch-list':
          'Loaded patch modules:\nkpatch_cve [disabling...]\n\nInstalled patch modules:\nrc=0',
        livepatch: 'present\nkpatch_cve 0 1 -',
        tasks: 'readable=yes\n1 0 systemd\n77 1 sleeper',
      }),
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.facts.transition).toEqual({
      patch: 'kpatch_cve',
      enabling: false,
      tasks: [{ pid: 77, comm: 'sleeper' }],
      tasksComplete: true,
    });
  });

  it('the kpatch flavor: RHEL takes the `force` prefix (its unload prompts, §2.6); upstream refuses it (§6 #29)', () => {
    const rhel = parseFacts(probeOutput({ ...base, 'kpatch-force': 'rc=0' }));
    const upstream = parseFacts(probeOutput({ ...base, 'kpatch-force': 'rc=1' }));
    expect(rhel.ok && rhel.facts.kpatch.flavor).toBe('rhel');
    expect(upstream.ok && upstream.facts.kpatch.flavor).toBe('upstream');
  });
});

describe('parseFacts: the klp manager sections (docs/klp-behaviour.md §K.1, §K.2)', () => {
  const boot = klpBootFiles();
  const K = '6.1.0-28-amd64';
  const klp = {
    'klp-store': `${'b'.repeat(64)}  /var/lib/kpfleet/klp/${K}/livepatch-fix.ko`,
    'klp-service': 'enabled\nrc=0',
    'klp-files': `${boot.unit.sha256}  ${boot.unit.path}\n${boot.script.sha256}  ${boot.script.path}`,
  };
  const read = (over: Record<string, string>) => {
    const r = parseFacts(probeOutput({ ...base, ...klp, ...over, end: '' }));
    if (!r.ok) throw new Error(r.error);
    return r.facts;
  };

  it('reads the store, the unit and whether its files are the current ones', () => {
    expect(read({}).klp).toEqual({
      store: [
        {
          kernel: K,
          file: 'livepatch-fix.ko',
          module: 'livepatch_fix',
          path: `/var/lib/kpfleet/klp/${K}/livepatch-fix.ko`,
          sha256: 'b'.repeat(64),
        },
      ],
      boot: { systemctl: true, enabled: true, state: 'enabled', current: true },
    });
  });

  it('an edited boot script, a missing unit file or no systemctl is seen', () => {
    const edited = `${boot.unit.sha256}  ${boot.unit.path}\n${'c'.repeat(64)}  ${boot.script.path}`;
    expect(read({ 'klp-files': edited }).klp?.boot.current).toBe(false);
    expect(
      read({ 'klp-files': `${boot.script.sha256}  ${boot.script.path}` }).klp?.boot.current,
    ).toBe(false);
    expect(read({ 'klp-service': 'rc=127', 'klp-files': '' }).klp?.boot).toEqual({
      systemctl: false,
      enabled: false,
      state: '',
      current: false,
    });
    expect(read({ 'klp-service': 'disabled\nrc=1' }).klp?.boot.enabled).toBe(false);
  });

  it('review (issue 21): a unit enabled for this boot only (enabled-runtime) is not a boot mechanism', () => {
    // `systemctl enable --runtime` links it under /run: gone at the next boot, so nothing loads
    // then; the planner must plan enable-service (whose own check wants `enabled`), and the
    // move phase must not remove the other store's copy on the strength of it
    expect(read({ 'klp-service': 'enabled-runtime\nrc=0' }).klp?.boot.enabled).toBe(false);
  });

  it('a probe without the sections has no klp facts; a path outside the store is refused', () => {
    const r = parseFacts(probeOutput(base));
    expect(r.ok && r.facts.klp).toBeUndefined();
    const bad = parseFacts(
      probeOutput({ ...base, ...klp, 'klp-files': `${'c'.repeat(64)}  /etc/passwd`, end: '' }),
    );
    expect(bad.ok).toBe(false);
    const outside = parseFacts(
      probeOutput({
        ...base,
        ...klp,
        'klp-store': `${'c'.repeat(64)}  /var/lib/kpatch/${K}/x.ko`,
        end: '',
      }),
    );
    expect(outside.ok).toBe(false);
  });
});

describe('parseFacts: the functions each patch changes (sysfs, §5.1)', () => {
  const read = (fns: string, livepatch = 'present\nlivepatch_a 1 0 1 1\nlivepatch_b 1 0 0 2') => {
    const r = parseFacts(probeOutput({ ...base, livepatch, 'livepatch-functions': fns, end: '' }));
    if (!r.ok) throw new Error(r.error);
    return r.facts.patches;
  };

  it('lists them per patch; a patch with none listed has none', () => {
    const ps = read(
      'livepatch_a/vmlinux/cmdline_proc_show,1/\nlivepatch_a/kvm/kvm_vcpu_block.isra.0,2/',
    );
    expect(ps[0]?.functions).toEqual([
      { object: 'vmlinux', name: 'cmdline_proc_show', sympos: 1 },
      { object: 'kvm', name: 'kvm_vcpu_block.isra.0', sympos: 2 },
    ]);
    expect(ps[1]?.functions).toEqual([]);
  });

  it('refuses a hostile line; drops a list the probe cut, and one of a patch that has left', () => {
    const bad = parseFacts(
      probeOutput({ ...base, 'livepatch-functions': 'livepatch_a/vmlinux/$(reboot),1/', end: '' }),
    );
    expect(bad.ok).toBe(false);
    const many = Array.from(
      { length: FUNCTIONS_MAX + 1 },
      (_, i) => `livepatch_a/vmlinux/f${String(i)},1/`,
    );
    expect(read(many.join('\n'))[0]?.functions).toBeUndefined();
    expect(read('livepatch_gone/vmlinux/f,1/')[0]?.functions).toEqual([]);
  });
});

describe('sharedFunctions: which patch runs for a function several change', () => {
  const f = { object: 'vmlinux', name: 'cmdline_proc_show', sympos: 1 };
  it('the highest stack_order runs; without stack_order it is unknown; disabled patches do not count', () => {
    expect(
      sharedFunctions([
        {
          name: 'b',
          enabled: true,
          transition: false,
          replace: false,
          stackOrder: 2,
          functions: [f],
        },
        {
          name: 'a',
          enabled: true,
          transition: false,
          replace: false,
          stackOrder: 1,
          functions: [f],
        },
      ]),
    ).toEqual([{ key: 'vmlinux:cmdline_proc_show,1', patches: ['a', 'b'], winner: 'b' }]);
    expect(
      sharedFunctions([
        { name: 'a', enabled: true, transition: false, replace: undefined, functions: [f] },
        { name: 'b', enabled: true, transition: false, replace: undefined, functions: [f] },
      ]),
    ).toEqual([{ key: 'vmlinux:cmdline_proc_show,1', patches: ['a', 'b'] }]);
    expect(
      sharedFunctions([
        { name: 'a', enabled: true, transition: false, replace: undefined, functions: [f] },
        { name: 'b', enabled: false, transition: true, replace: undefined, functions: [f] },
      ]),
    ).toEqual([]);
  });
});
