/**
 * Facts from a hostile host (issue 14): the parsers are linear on multi-megabyte input (80 KB of
 * blank lines took 5.3 s, 1 MB of `kpatch list` lines 15 s before), and every name or count is
 * bounded: a value outside its rule makes that host's facts an error that names it (kind
 * `field`, E_FACTS_FIELD), never something passed on to the planner or a command.
 *
 * "Finishes" is only a functional check here, with the test's generous timeout: the inputs are
 * sized so that the old quadratic code would take many minutes.
 */
import { describe, expect, it } from 'vitest';
import { parseFacts } from '../../../src/facts/parse/facts.ts';
import { FACTS_LIMITS } from '../../../src/facts/parse/fields.ts';
import { parseKpatchList } from '../../../src/facts/parse/kpatch-list.ts';
import { SECTION_MARK } from '../../../src/facts/probe.ts';

const K = '5.14.0-362.8.1.el9_3.x86_64';
const SHA = 'a'.repeat(64);

function probeOutput(sections: Record<string, string>): string {
  return Object.entries(sections)
    .map(([name, body]) => `\n${SECTION_MARK} ${name}\n${body}`)
    .join('\n');
}

const base: Record<string, string> = {
  probe: '3',
  uname: `${K}\nx86_64`,
  'os-release': 'ID="rhel"\nVERSION_ID="9.3"\nPRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"',
  cmdline: 'BOOT_IMAGE=/vmlinuz ro quiet',
  tainted: '0',
  'kpatch-version': '0.9.7\nrc=0',
  'kpatch-force': 'rc=0',
  'kpatch-list': `Loaded patch modules:\nkpatch_cve [enabled]\n\nInstalled patch modules:\nkpatch_cve (${K})\nrc=0`,
  livepatch: 'present\nkpatch_cve 1 0 -',
  tasks: '',
  kernels: K,
  modules: 'kpatch_cve 1 OEK',
  installed: `${SHA}  /var/lib/kpatch/${K}/kpatch-cve.ko`,
  'rpm-installed': '',
  service: 'enabled\nrc=0',
  packages: 'kpatch-patch-5_14_0-362_8_1-1-3.el9_3.x86_64',
  end: '',
};

const refused = (changes: Record<string, string>) => {
  const r = parseFacts(probeOutput({ ...base, ...changes }));
  if (r.ok) throw new Error('accepted');
  return r;
};

describe('linear on hostile output', () => {
  it('megabytes of blank lines inside a section (80 KB took 5.3 s)', () => {
    const blank = '\n'.repeat(4 * 1024 * 1024);
    const r = parseFacts(
      probeOutput({
        ...base,
        'os-release': `ID="rhel"${blank}VERSION_ID="9.3"`,
        kernels: `${K}${blank}5.14.0-427.el9.x86_64`,
        packages: `kpatch-patch-a-1-1.el9${blank}kpatch-patch-b-1-1.el9`,
        end: `x${blank}y`,
      }),
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.facts.os).toEqual({ id: 'rhel', versionId: '9.3' });
    expect(r.facts.kernels).toEqual([K, '5.14.0-427.el9.x86_64']);
  }, 30_000);

  it('megabytes of kpatch list lines (1 MB took 15 s): refused past the entry limit', () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => `kpatch_m${String(i)} [enabled]`).join('\n');
    // 4 MB: the old duplicate check compared every name with every earlier one
    const r = parseKpatchList(
      `Loaded patch modules:\n${many(160_000)}\n\nInstalled patch modules:\n`,
    );
    expect(r).toMatchObject({ ok: false, field: true, line: FACTS_LIMITS.entries + 2 });
    if (!r.ok)
      expect(r.error).toContain(`more than ${String(FACTS_LIMITS.entries)} loaded modules`);
    // at the limit, all are read
    const full = parseKpatchList(
      `Loaded patch modules:\n${many(FACTS_LIMITS.entries)}\n\nInstalled patch modules:\n`,
    );
    expect(full.ok && full.loaded.length).toBe(FACTS_LIMITS.entries);
  }, 30_000);

  it('a stalled block of hundreds of thousands of tasks keeps the first 1000, stacks bounded', () => {
    const tasks = Array.from(
      { length: 200_000 },
      (_, i) =>
        `${String(i + 1)} worker\nstack:\n${'[<0>] schedule+0x1/0x2\n'.repeat(i === 0 ? 500 : 1)}`,
    ).join('');
    const r = parseKpatchList(
      `Loaded patch modules:\nkpatch_new [enabling...]\n\nStalled processes:\n${tasks}\nInstalled patch modules:\n`,
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.stalled).toHaveLength(FACTS_LIMITS.tasks);
    expect(r.stalled?.[0]?.stack).toHaveLength(FACTS_LIMITS.stack);
  }, 30_000);

  it('a comm that goes on for megabytes of lines (a hostile kpatch) stays one task, its comm cut', () => {
    const r = parseKpatchList(
      `Loaded patch modules:\nkpatch_new [enabling...]\n\nStalled processes:\n7 a\n${'x\n\n'.repeat(1_000_000)}stack:\n${'stack:\n[<0>] y\n'.repeat(100_000)}\nInstalled patch modules:\n`,
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.stalled).toHaveLength(1);
    expect(r.stalled?.[0]?.comm.length).toBe(FACTS_LIMITS.text);
    expect(r.stalled?.[0]?.stack).toEqual(['[<0>] y']);
  }, 30_000);

  it('a 100 KB uname -r is refused, not matched against globs (a kernel release is ≤ 128)', () => {
    const r = refused({ uname: `5.14.0-${'a'.repeat(100_000)}\nx86_64` });
    expect(r.kind).toBe('field');
    expect(r.error).toMatch(/uname -r printed "5\.14\.0-a+…a+" is not a kernel release \(1 to 128/);
    expect(r.error.length).toBeLessThan(400);
    expect(parseFacts(probeOutput({ ...base, uname: `${'a'.repeat(128)}\nx86_64` })).ok).toBe(true);
    expect(refused({ uname: `${'a'.repeat(129)}\nx86_64` }).kind).toBe('field');
  });
});

describe('every name and count is bounded', () => {
  it.each([
    [
      'a live patch name that is no module name',
      { livepatch: 'present\nkpatch-cve 1 0 -' },
      /is not a kernel module name/,
    ],
    [
      'a livepatch line of the wrong shape',
      { livepatch: 'present\nkpatch_cve 1 0' },
      /is not "<name> <enabled>/,
    ],
    [
      // sysfs has one folder per patch: a second line for one name is a lie, and status would
      // believe the first (enabled: "mitigated") where plan believed the last (disabled)
      'one live patch listed twice in /sys/kernel/livepatch',
      { livepatch: 'present\nkpatch_cve 1 0 -\nkpatch_cve 0 0 -' },
      /\/sys\/kernel\/livepatch lists "kpatch_cve" twice/,
    ],
    [
      // no /sys/kernel/livepatch, yet patches in it: status would count them live, plan blocked
      'live patches listed where /sys/kernel/livepatch is absent',
      { livepatch: 'absent\nkpatch_cve 1 0 -' },
      /\/sys\/kernel\/livepatch is absent, yet the probe lists "kpatch_cve" in it/,
    ],
    [
      'a module name of 56 characters',
      { modules: `${'m'.repeat(56)} 1 OEK` },
      /is not a kernel module name/,
    ],
    [
      'a refcount that is no number',
      { modules: 'kpatch_cve x OEK' },
      /is not "<name> <refcnt> <taint>"/,
    ],
    [
      'an installed kernel folder that is no release',
      { installed: `${SHA}  /var/lib/kpatch/-rf/x.ko` },
      /\/var\/lib\/kpatch\/ has a folder named "-rf"/,
    ],
    [
      'a file name with a control character',
      { installed: `${SHA}  /var/lib/kpatch/${K}/a\u001b[2Jb.ko` },
      /is not a file name kpfleet uses/,
    ],
    [
      'a file name sha256sum had to escape',
      { installed: `\\${SHA}  /var/lib/kpatch/${K}/a\\nb.ko` },
      /a "\\" or a newline in its name/,
    ],
    [
      'a path outside /var/lib/kpatch',
      { installed: `${SHA}  /etc/passwd` },
      /outside \/var\/lib\/kpatch\//,
    ],
    [
      'a sha256sum line of the wrong shape',
      { 'rpm-installed': 'nonsense' },
      /not "<sha256> {2}<path>"/,
    ],
    [
      'a kernel folder name of 300 characters',
      { kernels: 'k'.repeat(300) },
      /\/lib\/modules has a folder named/,
    ],
    [
      'more kernels than a host has',
      { kernels: Array.from({ length: 4097 }, (_, i) => `5.${String(i)}`).join('\n') },
      /more than 4096/,
    ],
    ['a package name with a glob', { packages: 'kpatch-patch-*' }, /is not an RPM name/],
    [
      'a PRETTY_NAME with terminal escapes',
      { 'os-release': 'PRETTY_NAME="\u001b]0;owned\u0007"' },
      /os-release PRETTY_NAME holds control characters/,
    ],
    [
      'an os-release value of 1 KB',
      { 'os-release': `ID=${'x'.repeat(1024)}` },
      /os-release ID is longer than 256/,
    ],
    [
      'a kpatch version of 1 KB',
      { 'kpatch-version': `${'9'.repeat(1024)}\nrc=0` },
      /kpatch version is longer than 256/,
    ],
    [
      'a command line of 100 KB',
      { cmdline: 'x'.repeat(100_000) },
      /\/proc\/cmdline is longer than 65536/,
    ],
    ['a machine name with a space', { uname: `${K}\nx86 64` }, /uname -m printed "x86 64"/],
    [
      'a loaded name in kpatch list that is no module name',
      { 'kpatch-list': 'Loaded patch modules:\n-rf [enabled]\n\nInstalled patch modules:\nrc=0' },
      /cannot accept \(line 2: "-rf \[enabled\]"\)/,
    ],
    [
      'an installed kernel in kpatch list that is no release',
      { 'kpatch-list': 'Loaded patch modules:\n\nInstalled patch modules:\nx ($(id))\nrc=0' },
      /is not a kernel release/,
    ],
  ])('%s', (_what, changes, message) => {
    const r = refused(changes);
    expect(r.kind).toBe('field');
    expect(r.error).toMatch(message);
  });

  it('what is not the probe’s shape is an output error', () => {
    expect(
      refused({ 'kpatch-list': 'Loaded patch modules:\n\nInstalled patch modules:' }),
    ).toMatchObject({
      kind: 'output',
      error: expect.stringMatching(/kpatch list section has no exit status/) as unknown,
    });
    const twice = `${probeOutput(base)}\n${SECTION_MARK} uname\n6.0.0\nx86_64\n`;
    expect(parseFacts(twice)).toMatchObject({
      ok: false,
      kind: 'output',
      error: expect.stringMatching(/"uname" section twice/) as unknown,
    });
  });

  it('a task name is anyone’s to set: made printable and cut, never a reason to give up on the host', () => {
    const r = parseFacts(
      probeOutput({
        ...base,
        'kpatch-list': `Loaded patch modules:\nkpatch_cve [enabling...]\n\nStalled processes:\n77 a\u001b[2Jb\n\nInstalled patch modules:\nrc=0`,
        livepatch: 'present\nkpatch_cve 1 1 -',
        tasks: `readable=yes\n78 0 ${'c'.repeat(1000)}\n79 0 \u0007bell`,
      }),
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.facts.transition?.tasks).toEqual([
      { pid: 77, comm: 'a?[2Jb' },
      { pid: 78, comm: 'c'.repeat(256) },
      { pid: 79, comm: '?bell' },
    ]);
  });
});

describe('error messages', () => {
  it('show a refused value escaped, C1 controls too, and cut', () => {
    const r = refused({ 'os-release': 'PRETTY_NAME="a\u009b2Jb"' });
    expect(r.error).toContain('"a\\u009b2Jb"');
    expect(r.error).not.toMatch(/\p{Cc}/u);
  });
});
