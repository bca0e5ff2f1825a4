/**
 * Named host profiles for the test fleet and the lab: what real fleets run (docs/kpatch-behaviour.md
 * §0). Keys are the simulator's profile keys (lab/SPEC.md).
 */
export type ProfileName = 'rhel9' | 'rhel8' | 'rhel7' | 'rhel9-cve' | 'upstream' | 'legacy';

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
};

export function isProfileName(s: string): s is ProfileName {
  return Object.hasOwn(PROFILES, s);
}
