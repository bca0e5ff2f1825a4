/**
 * The klp loader's shell functions (`facts/klp-boot.ts` KLP_FUNCTIONS) run under dash against a
 * fake /sys/kernel/livepatch in a temporary folder (issue 21 review): `kpf_lp` points there,
 * `insmod`, `rmmod` and `sleep` are shell functions, and a write the kernel refuses is one the
 * harness's `echo` turns into the old value (what a refused sysfs write reads back as). Each
 * case is a way the kernel can end a load with the patch not enabled; the loader must then fail
 * (§K.3: "return 0 once the kernel shows the change made").
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KLP_FUNCTIONS } from '../../../src/facts/klp-boot.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Fake {
  /** files under the fake /sys/kernel/livepatch: path → content */
  sysfs?: Record<string, string>;
  /** shell run by the fake insmod (exit status is its own) */
  insmod?: string;
  /** shell run by each fake sleep (the kernel's work between two polls) */
  onSleep?: string;
  /** writes of this value to any `enabled` are refused: the file keeps its old content */
  refuse?: '0' | '1';
  /** shell run when the loader prints a line matching this glob (the kernel's work meanwhile) */
  onSay?: { glob: string; run: string };
}

function run(fake: Fake, call: string): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kpf-klp-'));
  dirs.push(dir);
  const lp = join(dir, 'lp');
  mkdirSync(lp);
  for (const [p, text] of Object.entries(fake.sysfs ?? {})) {
    mkdirSync(join(lp, p, '..'), { recursive: true });
    writeFileSync(join(lp, p), text);
  }
  const script =
    `${KLP_FUNCTIONS}\n` +
    `kpf_lp='${lp}'\n` +
    `insmod() { ${fake.insmod ?? ':'}; }\n` +
    `rmmod() { :; }\n` +
    `sleep() { ${fake.onSleep ?? ':'}; }\n` +
    // a refused write (EINVAL/EBUSY): the file reads back what it held
    `echo() { if [ "$#" = 1 ] && [ "$1" = '${fake.refuse ?? 'x'}' ]; then :; else command echo "$@"; fi; ` +
    `case "$*" in ${fake.onSay?.glob ?? 'kpf-never'}) ${fake.onSay?.run ?? ':'} ;; esac; }\n` +
    `${call}\n`;
  // the refused write still truncates a regular file: keep its old content by restoring it
  const guarded = fake.refuse
    ? script.replace(
        `kpf_set() {`,
        `kpf_set() { [ -f "$kpf_lp/$1/enabled" ] && cp "$kpf_lp/$1/enabled" "$kpf_lp/.old"; kpf_set_real "$@"; }\nkpf_set_real() {`,
      )
    : script;
  const WRITE = `echo "$2" 2>/dev/null >"$kpf_lp/$1/enabled"`;
  // the harness edits the loader's own write: it must still be there, word for word
  if (fake.refuse && !guarded.includes(WRITE))
    throw new Error('the loader no longer writes enabled as the harness expects');
  const final = fake.refuse
    ? guarded.replace(
        WRITE,
        `${WRITE}; [ "$2" != '${fake.refuse}' ] || { [ ! -f "$kpf_lp/.old" ] || cp "$kpf_lp/.old" "$kpf_lp/$1/enabled" 2>/dev/null; }`,
      )
    : guarded;
  const r = spawnSync('dash', ['-c', final], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('kpf_klp_load under dash (fake sysfs)', () => {
  it('harness: a load whose insmod makes the patch enabled passes', () => {
    const r = run(
      {
        insmod: `mkdir -p "$kpf_lp/livepatch_p" && printf '1\\n' >"$kpf_lp/livepatch_p/enabled" && printf '0\\n' >"$kpf_lp/livepatch_p/transition"`,
      },
      `kpf_klp_load livepatch_p /var/lib/kpfleet/klp/k/livepatch-p.ko; command echo "rc=$?"`,
    );
    expect(r.out).toContain('rc=0');
  });

  it('fails when insmod succeeded but no patch of that name is in sysfs (the file’s in-kernel name differs)', () => {
    // insmod loaded the file as another module (its .modinfo name is not the file name's):
    // nothing appears under livepatch_p, yet the wait sees "no folder" as a settled transition
    const r = run(
      {
        insmod: `mkdir -p "$kpf_lp/other" && printf '1\\n' >"$kpf_lp/other/enabled" && printf '0\\n' >"$kpf_lp/other/transition"`,
      },
      `kpf_klp_load livepatch_p /var/lib/kpfleet/klp/k/livepatch-p.ko; command echo "rc=$?"`,
    );
    expect(r.out).toContain('rc=1');
  });

  it('fails when re-enabling a patch being disabled loses the race: the disable completes and its folder goes', () => {
    // enabled reads 0 (being disabled), the transition ends before the write of 1, which the
    // kernel refuses (EINVAL: a disabled patch is not re-enabled), then the work queue removes
    // the folder: kpf_set treats "folder gone" as success for a write of 1 too
    const r = run(
      {
        sysfs: { 'livepatch_p/enabled': '0\n', 'livepatch_p/transition': '0\n' },
        refuse: '1',
        onSleep: `rm -rf "$kpf_lp/livepatch_p"`,
      },
      `kpf_klp_load livepatch_p /var/lib/kpfleet/klp/k/livepatch-p.ko; command echo "rc=$?"`,
    );
    expect(r.out).toContain('did not take 1');
    expect(r.out).toContain('rc=1');
  });

  it('does not disable a replacement whose transition completed while the stalled tasks were listed', () => {
    // a cumulative (atomic-replace) load: the transition is still running after 75 s, and ends
    // while kpf_tasks walks /proc (thousands of tasks: a real window). The replaced patches are
    // already gone; writing 0 now is no reversal but a plain disable of the only patch left:
    // the host ends with neither the old patches nor the new one. The loader must look again
    // before it writes 0
    const r = run(
      {
        insmod: `mkdir -p "$kpf_lp/livepatch_p" && printf '1\\n' >"$kpf_lp/livepatch_p/enabled" && printf '1\\n' >"$kpf_lp/livepatch_p/transition"`,
        onSay: {
          glob: '*has\\ stalled*',
          run: `printf '0\\n' >"$kpf_lp/livepatch_p/transition"`,
        },
        onSleep: `[ "$(cat "$kpf_lp/livepatch_p/enabled" 2>/dev/null)" != 0 ] || rm -rf "$kpf_lp/livepatch_p"`,
      },
      `kpf_klp_load livepatch_p /var/lib/kpfleet/klp/k/livepatch-p.ko; command echo "rc=$?"`,
    );
    expect(r.out).toContain('has stalled');
    expect(r.out).not.toContain('reversing the load');
    expect(r.out).toContain('rc=0');
  });
});
