/**
 * Named host profiles for the test fleet and the lab: what real fleets run (docs/kpatch-behaviour.md
 * §0, §7.2, §10). Keys are the simulator's profile keys (lab/SPEC.md). The `-klp` profiles have no
 * kpatch utility at all (KPATCH_INSTALLED=0: not on PATH, no /var/lib/kpatch, no kpatch.service):
 * their live patches are plain livepatch modules, loaded with insmod (issue 21).
 */
export type ProfileName =
  'rhel9' | 'rhel8' | 'rhel7' | 'rhel9-cve' | 'upstream' | 'legacy' | 'debian-klp' | 'fedora-klp';

export const PROFILES: Record<ProfileName, Record<string, string>> = {
  rhel9: {
    KPATCH_VERSION: '0.9.7',
    KPATCH_FLAVOR: 'rhel',
    KERNEL_RELEASE: '5.14.0-362.8.1.el9_3.x86_64',
    ARCH: 'x86_64',
  },
  rhel8: {
    KPATCH_VERSION: '0.9.7',
    KPATCH_FLAVOR: 'rhel',
    KERNEL_RELEASE: '4.18.0-477.10.1.el8_8.x86_64',
    ARCH: 'x86_64',
  },
  rhel7: {
    KPATCH_VERSION: '0.6.1',
    KPATCH_FLAVOR: 'rhel',
    KERNEL_RELEASE: '3.10.0-1160.105.1.el7.x86_64',
    ARCH: 'x86_64',
  },
  'rhel9-cve': {
    KPATCH_VERSION: '0.9.10',
    KPATCH_FLAVOR: 'rhel',
    KERNEL_RELEASE: '5.14.0-570.12.1.el9_6.x86_64',
    ARCH: 'x86_64',
  },
  upstream: {
    KPATCH_VERSION: '0.9.11',
    KPATCH_FLAVOR: 'upstream',
    KERNEL_RELEASE: '6.14.0-1.fc42.x86_64',
    ARCH: 'x86_64',
  },
  legacy: {
    KPATCH_VERSION: '0.4.0',
    KPATCH_FLAVOR: 'upstream',
    KERNEL_RELEASE: '3.10.0-693.el7.x86_64',
    ARCH: 'x86_64',
  },
  /** Debian 12 (bookworm), stock 6.1 kernel, no kpatch package (§7.2). */
  'debian-klp': {
    KPATCH_INSTALLED: '0',
    KERNEL_RELEASE: '6.1.0-56-amd64',
    KERNEL_VERSION_STRING: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-10-02)',
    ARCH: 'x86_64',
  },
  /** Fedora 42 on a 6.14 kernel: `replace` (6.11+) and `stack_order` (6.14+) in sysfs, no kpatch. */
  'fedora-klp': {
    KPATCH_INSTALLED: '0',
    KERNEL_RELEASE: '6.14.5-300.fc42.x86_64',
    ARCH: 'x86_64',
    REPLACE_ATTR: '1',
    STACK_ORDER: '1',
  },
};

/**
 * Commands a profile's hosts do not have (links not made in the host's bin/): kpatch on the klp
 * profiles; Debian has no rpm, dnf or yum either.
 */
export const ABSENT_COMMANDS: Partial<Record<ProfileName, readonly string[]>> = {
  'debian-klp': ['kpatch', 'rpm', 'dnf', 'yum'],
  'fedora-klp': ['kpatch'],
};

export function isProfileName(s: string): s is ProfileName {
  return Object.hasOwn(PROFILES, s);
}
