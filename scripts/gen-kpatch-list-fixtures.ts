/**
 * Writes `kpatch list` stdout produced by the kpatch simulator (lab/sim) into
 * test/fixtures/kpatch-list/sim-*.txt, one per case. Run once by hand
 * (`npx tsx scripts/gen-kpatch-list-fixtures.ts`); the outputs are committed and the unit test
 * does not depend on the simulator. The matching .json files (expected parses) are written and
 * reviewed by hand.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createSimHost } from '../lab/sim-host.ts';
import type { SimHost, SimProfile } from '../lab/sim-host.ts';

const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '../test/fixtures/kpatch-list');

interface Case {
  name: string;
  profile: Partial<SimProfile>;
  setup: (h: SimHost) => Promise<void>;
  env?: Record<string, string>;
}

async function sh(h: SimHost, cmd: string): Promise<void> {
  const r = await h.run(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: exit ${String(r.code)}\n${r.stdout}${r.stderr}`);
}

const cases: Case[] = [
  {
    name: 'sim-0.4.0-loaded-and-installed',
    profile: {
      KPATCH_VERSION: '0.4.0',
      KPATCH_FLAVOR: 'upstream',
      KERNEL_RELEASE: '3.10.0-693.el7.x86_64',
      KERNEL_MODEL: 'pre5.1',
    },
    async setup(h) {
      h.makeModule('livepatch-foo.ko', { replace: false });
      h.makeModule('livepatch-bar.ko', { replace: false });
      await sh(h, 'kpatch install livepatch-foo.ko; kpatch install livepatch-bar.ko');
      await sh(h, 'kpatch load livepatch-foo.ko && kpatch load livepatch-bar.ko');
      // a disabled patch (pre-5.1 model keeps it in sysfs): ≤0.4 does not list it
      await sh(h, 'echo 0 > sys/kernel/livepatch/livepatch_bar/enabled; kpsim settle');
      await sh(h, 'touch var/lib/kpatch/3.10.0-693.el7.x86_64/notes-file');
    },
  },
  {
    name: 'sim-0.6.1-pre5.1-disabled',
    profile: {
      KPATCH_VERSION: '0.6.1',
      KPATCH_FLAVOR: 'rhel',
      KERNEL_RELEASE: '3.10.0-1160.105.1.el7.x86_64',
      KERNEL_MODEL: 'pre5.1',
    },
    async setup(h) {
      h.makeModule('kpatch-3_10_0-1160_105_1-1-1.ko', { replace: false });
      h.makeModule('livepatch-extra.ko', { replace: false });
      await sh(
        h,
        'kpatch install kpatch-3_10_0-1160_105_1-1-1.ko && kpatch install livepatch-extra.ko',
      );
      await sh(h, 'kpatch load kpatch-3_10_0-1160_105_1-1-1.ko && kpatch load livepatch-extra.ko');
      await sh(h, 'echo 0 > sys/kernel/livepatch/livepatch_extra/enabled; kpsim settle');
      await sh(h, 'touch var/lib/kpatch/3.10.0-1160.105.1.el7.x86_64/README');
    },
  },
  {
    name: 'sim-0.6.1-stalled-no-stack',
    profile: {
      KPATCH_VERSION: '0.6.1',
      KPATCH_FLAVOR: 'rhel',
      KERNEL_RELEASE: '3.10.0-1160.105.1.el7.x86_64',
      KERNEL_MODEL: 'pre5.1',
    },
    async setup(h) {
      h.fault('stall', 'forever');
      h.makeModule('livepatch-foo.ko');
      await sh(h, 'insmod livepatch-foo.ko');
    },
  },
  {
    name: 'sim-0.9.7-two-kernels',
    profile: {
      KPATCH_VERSION: '0.9.7',
      KPATCH_FLAVOR: 'rhel',
      KERNEL_RELEASE: '5.14.0-362.8.1.el9_3.x86_64',
    },
    async setup(h) {
      h.makeModule('kpatch-5_14_0-362_8_1-1-2.ko');
      h.makeModule('kpatch-5_14_0-284_11_1-1-1.ko', { kernel: '5.14.0-284.11.1.el9_2.x86_64' });
      await sh(h, 'kpatch install kpatch-5_14_0-362_8_1-1-2.ko');
      await sh(h, 'kpatch install -k 5.14.0-284.11.1.el9_2.x86_64 kpatch-5_14_0-284_11_1-1-1.ko');
      await sh(h, 'kpatch load kpatch-5_14_0-362_8_1-1-2.ko');
    },
  },
  {
    name: 'sim-0.9.7-stalled-root',
    profile: {
      KPATCH_VERSION: '0.9.7',
      KPATCH_FLAVOR: 'rhel',
      KERNEL_RELEASE: '5.14.0-362.8.1.el9_3.x86_64',
    },
    async setup(h) {
      h.makeModule('livepatch-foo.ko');
      await sh(h, 'kpatch install livepatch-foo.ko && kpatch load livepatch-foo.ko');
      h.fault('stall', 'forever');
      h.makeModule('livepatch-bar.ko');
      await sh(h, 'insmod livepatch-bar.ko');
    },
  },
  {
    name: 'sim-0.9.7-stalled-nonroot',
    profile: {
      KPATCH_VERSION: '0.9.7',
      KPATCH_FLAVOR: 'rhel',
      KERNEL_RELEASE: '5.14.0-362.8.1.el9_3.x86_64',
    },
    env: { KPSIM_UID: '1000' },
    async setup(h) {
      h.fault('stall', 'forever');
      h.makeModule('livepatch-foo.ko');
      await sh(h, 'insmod livepatch-foo.ko');
    },
  },
  {
    name: 'sim-0.9.10-cves',
    profile: {
      KPATCH_VERSION: '0.9.10',
      KPATCH_FLAVOR: 'rhel',
      KERNEL_RELEASE: '5.14.0-570.12.1.el9_6.x86_64',
    },
    async setup(h) {
      h.addPackage({
        version: '1',
        release: '1',
        cves: ['CVE-2024-1086', 'CVE-2023-4623', 'CVE-2024-1086'],
      });
      await sh(h, 'dnf install -y kpatch-patch-5_14_0-570_12_1');
      h.makeModule('livepatch-local.ko', { replace: false });
      await sh(h, 'kpatch load livepatch-local.ko');
    },
  },
  {
    name: 'sim-0.9.11-functions',
    profile: {
      KPATCH_VERSION: '0.9.11',
      KPATCH_FLAVOR: 'upstream',
      KERNEL_RELEASE: '6.14.0-1.fc42.x86_64',
      STACK_ORDER: 1,
      REPLACE_ATTR: 1,
    },
    async setup(h) {
      h.makeModule('livepatch-a.ko', {
        replace: false,
        functions: ['cmdline_proc_show', 'kvm:kvm_vcpu_block'],
      });
      h.makeModule('livepatch-b.ko', {
        replace: false,
        functions: ['cmdline_proc_show', 'meminfo_proc_show'],
      });
      await sh(h, 'kpatch install livepatch-a.ko && kpatch load livepatch-a.ko');
      await sh(h, 'kpatch load livepatch-b.ko');
    },
  },
  {
    name: 'sim-0.9.11-functions-transition',
    profile: {
      KPATCH_VERSION: '0.9.11',
      KPATCH_FLAVOR: 'upstream',
      KERNEL_RELEASE: '6.14.0-1.fc42.x86_64',
      STACK_ORDER: 1,
      REPLACE_ATTR: 1,
    },
    async setup(h) {
      h.makeModule('livepatch-a.ko', { replace: false, functions: ['cmdline_proc_show'] });
      await sh(h, 'kpatch load livepatch-a.ko');
      h.fault('stall', 'forever');
      h.makeModule('livepatch-b.ko', { replace: false, functions: ['meminfo_proc_show'] });
      await sh(h, 'insmod livepatch-b.ko');
    },
  },
];

for (const c of cases) {
  const root = mkdtempSync(join(tmpdir(), 'kpsim-fixture-'));
  const h = createSimHost(root, { TIME_SCALE: 0.01, TRANSITION_SECONDS: 0, ...c.profile });
  try {
    await c.setup(h);
    const r = await h.run(['kpatch', 'list'], c.env === undefined ? {} : { env: c.env });
    if (r.code !== 0) throw new Error(`${c.name}: kpatch list exit ${String(r.code)}: ${r.stderr}`);
    writeFileSync(join(OUT, `${c.name}.txt`), r.stdout);
    console.log(`${c.name}.txt\n${r.stdout}`);
  } finally {
    h.killBackground();
    rmSync(root, { recursive: true, force: true });
  }
}
