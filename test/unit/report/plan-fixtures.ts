/** Hand-built plans for the plan renderer and schema tests: every action, severity and status. */
import type { HostPlan, Plan } from '../../../src/plan/model.ts';

export const KERNEL = '5.14.0-362.8.1.el9_3.x86_64';
export const FINGERPRINT = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** Changes with a replacement (load ~ replace, then the replaced module's clean-up). */
const web1: HostPlan = {
  host: 'web1',
  groups: ['web'],
  status: 'changes',
  reason: '6 changes to reach the declared state',
  kernel: KERNEL,
  factsFingerprint: FINGERPRINT,
  manager: 'kpatch',
  managerReason: 'auto: kpatch 0.9.9 is installed',
  changes: [
    {
      action: 'upload',
      reason: 'declared loaded by group web',
      patch: 'cve-2',
      module: 'kpatch_cve_2',
      source: 'patches/kpatch-cve-2.ko',
      sha256: 'ab'.repeat(32),
      destination: '~/.kpfleet/stage/00a1b2c3d4e5f607/kpatch-cve-2.ko',
    },
    {
      action: 'install',
      reason: 'declared loaded by group web',
      patch: 'cve-2',
      module: 'kpatch_cve_2',
      kernel: KERNEL,
      file: '~/.kpfleet/stage/00a1b2c3d4e5f607/kpatch-cve-2.ko',
      sha256: 'ab'.repeat(32),
    },
    { action: 'enable-service', reason: 'kpatch.service is disabled' },
    {
      action: 'load',
      reason: 'declared loaded by group web',
      patch: 'cve-2',
      module: 'kpatch_cve_2',
      replacesModules: ['kpatch_cve_1'],
      reenable: false,
      cves: ['CVE-2024-1086'],
    },
    {
      action: 'unload',
      reason: 'replaced by cve-2',
      patch: 'cve-1',
      module: 'kpatch_cve_1',
      leftover: false,
      after: 'kpatch_cve_2',
    },
    {
      action: 'uninstall',
      reason: 'replaced by cve-2',
      patch: 'cve-1',
      module: 'kpatch_cve_1',
      kernel: KERNEL,
      file: 'kpatch-cve-1.ko',
      after: 'kpatch_cve_2',
    },
  ],
  findings: [
    {
      kind: 'reboot-due',
      severity: 'warning',
      message: 'cve-1 was released 45 days ago: reboot into the errata kernel',
      patch: 'cve-1',
    },
  ],
  cves: ['CVE-2024-1086'],
};

/** Packages, a re-enable and a leftover; in two groups. */
const db1: HostPlan = {
  host: 'db1',
  groups: ['db', 'web'],
  status: 'changes',
  reason: '5 changes to reach the declared state',
  kernel: KERNEL,
  factsFingerprint: `sha256:${'fedcba9876543210'.repeat(4)}`,
  manager: 'kpatch',
  managerReason: 'auto: kpatch 0.9.9 is installed',
  changes: [
    {
      action: 'package-install',
      reason: 'declared loaded by group db',
      patch: 'rpm-3',
      module: 'kpatch_5_14_0_1_3',
      package: 'kpatch-patch-5_14_0-362_8_1-1-3.el9_3',
      replacesPackage: 'kpatch-patch-5_14_0-362_8_1-1-2.el9_3',
    },
    {
      action: 'package-install',
      reason: 'declared installed by group db',
      patch: 'rpm-4',
      module: 'kpatch_extra',
      package: 'kpatch-patch-extra-1-1.el9',
    },
    {
      action: 'load',
      reason: 'declared loaded by group db; loaded but disabled',
      patch: 'cve-3',
      module: 'kpatch_cve_3',
      file: `/var/lib/kpatch/${KERNEL}/kpatch-cve-3.ko`,
      replacesModules: [],
      reenable: true,
      cves: ['CVE-2023-4623', 'CVE-2024-26581'],
    },
    {
      action: 'unload',
      reason: 'inert leftover of an atomic replace',
      module: 'kpatch_gone',
      leftover: true,
    },
    {
      action: 'package-remove',
      reason: 'declared absent by group db',
      patch: 'rpm-old',
      package: 'kpatch-patch-old-1-1.el9',
    },
  ],
  findings: [
    {
      kind: 'boot-disabled',
      severity: 'info',
      message: 'kpatch.enable=0 on the kernel command line: nothing is loaded at boot',
    },
  ],
  cves: ['CVE-2023-4623', 'CVE-2024-26581'],
};

const web2: HostPlan = {
  host: 'web2',
  groups: ['web'],
  status: 'converged',
  reason: 'as declared: 1 patch loaded and installed',
  kernel: KERNEL,
  factsFingerprint: FINGERPRINT,
  manager: 'kpatch',
  managerReason: 'auto: kpatch 0.9.9 is installed',
  changes: [],
  findings: [],
  cves: [],
};

const web3: HostPlan = {
  host: 'web3',
  groups: ['web'],
  status: 'converged',
  reason: 'as declared: 1 patch loaded and installed',
  kernel: KERNEL,
  factsFingerprint: FINGERPRINT,
  manager: 'klp',
  managerReason: 'auto: no kpatch utility',
  changes: [],
  findings: [
    {
      kind: 'unmanaged',
      severity: 'warning',
      message: 'kpatch_local is loaded but not declared (kept)',
      module: 'kpatch_local',
    },
  ],
  cves: [],
};

const db2: HostPlan = {
  host: 'db2',
  groups: ['db'],
  status: 'blocked',
  reason: 'a live-patch transition is in progress (kpatch_cve_1)',
  kernel: KERNEL,
  factsFingerprint: FINGERPRINT,
  manager: 'kpatch',
  managerReason: 'auto: kpatch 0.9.9 is installed',
  changes: [],
  findings: [
    {
      kind: 'stalled',
      severity: 'error',
      message: 'kpatch_cve_1 is in transition (enabling): nothing new may start',
      module: 'kpatch_cve_1',
    },
  ],
  cves: [],
};

const db3: HostPlan = {
  host: 'db3',
  groups: ['db'],
  status: 'error',
  reason: 'facts could not be read',
  changes: [],
  findings: [],
  error: { code: 'facts/parse', message: 'unreadable kpatch list output', step: 'parse' },
  cves: [],
};

const lone: HostPlan = {
  host: 'lone',
  groups: [],
  status: 'unreachable',
  reason: 'not reached',
  changes: [],
  findings: [],
  error: {
    code: 'host/unreachable',
    message: 'connect ECONNREFUSED 10.0.0.9:22',
    hint: 'is sshd running on lone?',
  },
  cves: [],
};

const CONFIG_FINGERPRINT = {
  sha256: `sha256:${'ab'.repeat(32)}`,
  parts: { connection: '0123456789abcdef', 'group web': 'fedcba9876543210' },
};

export function fleetPlan(): Plan {
  return {
    format: 'kpfleet-plan',
    version: 3,
    createdAt: '2024-05-01T12:00:00.000Z',
    kpfleetVersion: '0.1.0',
    config: 'kpfleet.yml',
    configFingerprint: CONFIG_FINGERPRINT,
    limit: 'all:!canary',
    hosts: [web1, db1, web2, web3, db2, db3, lone],
    summary: {
      hosts: 7,
      converged: 2,
      changes: 2,
      blocked: 1,
      errors: 1,
      unreachable: 1,
      actions: {
        upload: 1,
        install: 1,
        'package-install': 2,
        'enable-service': 1,
        load: 2,
        unload: 2,
        uninstall: 1,
        'package-remove': 1,
      },
      cves: ['CVE-2023-4623', 'CVE-2024-1086', 'CVE-2024-26581'],
      findings: { 'reboot-due': 1, unmanaged: 1, stalled: 1 },
      managers: { kpatch: 4, klp: 1 },
    },
  };
}

/** Nothing to do anywhere: `count` converged hosts, no limit. */
export function convergedPlan(count: number): Plan {
  const hosts = Array.from({ length: count }, (_, i) => ({
    ...web2,
    host: `h${String(i + 1).padStart(2, '0')}`,
  }));
  return {
    format: 'kpfleet-plan',
    version: 3,
    createdAt: '2024-05-01T12:00:00Z',
    kpfleetVersion: '0.1.0',
    config: 'kpfleet.yml',
    configFingerprint: CONFIG_FINGERPRINT,
    hosts,
    summary: {
      hosts: count,
      converged: count,
      changes: 0,
      blocked: 0,
      errors: 0,
      unreachable: 0,
      actions: {},
      cves: [],
      findings: {},
      managers: count > 0 ? { kpatch: count } : {},
    },
  };
}
