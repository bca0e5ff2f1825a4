/**
 * What the VM suites share (vm.test.ts for the kpatch manager, klp-manager.test.ts for klp): the
 * VM booted in a flavour, a project folder with our modules for the running ABI and the previous
 * one, its inventory and known_hosts, `kpfleet.yml` written from a small catalogue, the built CLI
 * run in that folder, and what the tests read back over SSH.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runBuilt } from '../cli-built.ts';
import { bootVm } from './vm.ts';
import type { Vm } from './vm.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
export const CACHE = resolve(process.env.KPFLEET_VM_CACHE ?? join(ROOT, 'test/.vm-cache'));

export const PATCHES = {
  cmdline: 'kpfleet-lp-cmdline.ko',
  cmdlineV2: 'kpfleet-lp-cmdline-v2.ko',
  version: 'kpfleet-lp-version.ko',
};

const sha256 = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex');

export interface VmProject {
  vm: Vm;
  dir: string;
  abi: string;
  prevAbi: string;
  /** The built CLI, run in the project folder. */
  kpfleet: (args: string[]) => ReturnType<typeof runBuilt>;
  /** Writes `file` with the named catalogue entries and the group `vm`'s lines. */
  project: (file: string, groups: string[], patches: string[], extra?: string[]) => void;
  cmdline: () => Promise<string>;
  version: () => Promise<string>;
  /** `enabled transition` of a patch in sysfs, '' when it is not there. */
  sysfs: (m: string) => Promise<string>;
  stop: () => Promise<void>;
}

export async function vmProject(flavor: 'kpatch' | 'klp'): Promise<VmProject> {
  const vm = await bootVm({ cacheDir: CACHE, flavor, log: join(CACHE, `vm-serial-${flavor}.log`) });
  const abi = vm.kernelRelease;
  const modules = readFileSync(join(CACHE, 'modules/ABIS'), 'utf8').trim().split('\n');
  const prevAbi = modules.find((a) => a !== abi) ?? '';
  mkdirSync(join(ROOT, 'test/.tmp'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'test/.tmp/vm-'));
  for (const a of [abi, prevAbi]) {
    mkdirSync(join(dir, 'modules', a), { recursive: true });
    for (const ko of Object.values(PATCHES))
      copyFileSync(join(CACHE, 'modules', a, ko), join(dir, 'modules', a, ko));
  }
  writeFileSync(
    join(dir, 'inventory.ini'),
    `[vm]\nvm1 ansible_host=${vm.address} ansible_port=${String(vm.port)} ansible_user=${vm.user} ansible_ssh_private_key_file=${vm.clientKey}\n`,
  );
  writeFileSync(join(dir, 'known_hosts'), vm.knownHostsLine + '\n');

  const entry = (
    name: string,
    module: string,
    ko: string,
    kernelDir: string,
    extra: string[] = [],
  ) => [
    `  ${name}:`,
    `    module: ${module}`,
    `    kernel: ${abi}`,
    `    file: modules/${kernelDir}/${ko}`,
    `    sha256: ${sha256(join(dir, 'modules', kernelDir, ko))}`,
    ...extra.map((l) => `    ${l}`),
  ];
  const catalogue: Record<string, string[]> = {
    'lp-cmdline': entry('lp-cmdline', 'kpfleet_lp_cmdline', PATCHES.cmdline, abi),
    'lp-cmdline-v2': entry('lp-cmdline-v2', 'kpfleet_lp_cmdline_v2', PATCHES.cmdlineV2, abi, [
      'replaces: [lp-cmdline]',
      'cves: [CVE-2099-0002]',
    ]),
    'lp-version': entry('lp-version', 'kpfleet_lp_version', PATCHES.version, abi),
    // built against the previous Debian ABI's headers, declared (wrongly) for the running one
    'lp-wrong-kernel': entry('lp-wrong-kernel', 'kpfleet_lp_cmdline', PATCHES.cmdline, prevAbi),
  };
  const sysfs = async (m: string): Promise<string> =>
    (
      await vm.ssh(
        `cat /sys/kernel/livepatch/${m}/enabled /sys/kernel/livepatch/${m}/transition 2>/dev/null | tr '\\n' ' '`,
      )
    ).stdout.trim();
  return {
    vm,
    dir,
    abi,
    prevAbi,
    kpfleet: (args) => runBuilt(args, { cwd: dir, env: { XDG_STATE_HOME: join(dir, 'state') } }),
    project: (file, groups, patches, extra = []) =>
      writeFileSync(
        join(dir, file),
        [
          'inventory: inventory.ini',
          'connection:',
          '  known_hosts: known_hosts',
          '  ssh_config: false',
          '  connect_timeout: 10s',
          ...extra,
          'patches:',
          ...patches.flatMap((p) => catalogue[p] ?? []),
          'groups:',
          '  vm:',
          ...groups.map((g) => `    ${g}`),
          '',
        ].join('\n'),
      ),
    cmdline: async () => (await vm.ssh('cat /proc/cmdline')).stdout.trim(),
    version: async () => (await vm.ssh('cat /proc/version')).stdout.trim(),
    sysfs,
    stop: async () => {
      await vm.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
