/**
 * The facts probe's answer (src/facts/probe.ts) for a host of the model (lab/model.ts):
 * the same named sections, in the same order and line formats, so that src/facts/parse reads
 * it back as the probe's own output (the security section and stack_order from the model's
 * `security` and `stackOrder`; the klp store and unit from `klpStore` and `klpBoot`). What the model does not know is fixed: the kpatch flavor
 * (RHEL's `force` prefix, or upstream), os-release, the command line, taint, this boot's id.
 * Patches named in `transition` are shown mid-transition (sysfs transition = 1).
 */
import { PROBE_VERSION, SECTION_MARK } from '../../../../src/facts/probe.ts';
import { normalizeModuleName } from '../../../../src/facts/parse/kpatch-list-model.ts';
import {
  KLP_STORE_ROOT,
  KPATCH_INSTALL_ROOT,
  RPM_MODULE_ROOT,
} from '../../../../src/host-paths.ts';
import { klpBootFiles } from '../../../../src/facts/klp-boot.ts';

const BOOT = klpBootFiles();
import type { ModelFile, ModelHost } from '../../../../lab/model.ts';
import type { LockdownLevel } from '../../../../src/facts/model.ts';

export interface ProbeExtras {
  flavor: 'rhel' | 'upstream';
  bootId: string;
  /** Patches whose transition has not ended. */
  transition: ReadonlySet<string>;
}

const flag = (b: boolean): string => (b ? '1' : '0');
/** A known flag as the kernel prints it, `-` for a file the probe could not read. */
const yn = (b: boolean | undefined, on: string, off: string): string =>
  b === undefined ? '-' : b ? on : off;
/** /sys/kernel/security/lockdown at each level (§5.5). */
const LOCKDOWN_LINES: Record<LockdownLevel, string> = {
  none: '[none] integrity confidentiality',
  integrity: 'none [integrity] confidentiality',
  confidentiality: 'none integrity [confidentiality]',
};

function kpatchList(h: ModelHost, x: ProbeExtras): string {
  const loaded = [...h.sysfs].map(([name, s]) => {
    const moving = x.transition.has(name);
    const state = s.enabled
      ? moving
        ? 'enabling...'
        : 'enabled'
      : moving
        ? 'disabling...'
        : 'disabled';
    return `${name} [${state}]`;
  });
  const installed = h.installed.map((f) => `${normalizeModuleName(f.file)} (${f.kernel})`);
  return ['Loaded patch modules:', ...loaded, '', 'Installed patch modules:', ...installed].join(
    '\n',
  );
}

const sums = (root: string, files: readonly ModelFile[]): string[] =>
  files.map((f) => `${f.sha256}  ${root}/${f.kernel}/${f.file}`);

/** The probe's stdout on this host. */
export function probeAnswer(h: ModelHost, x: ProbeExtras): string {
  const kpatch = h.kpatchInstalled;
  const sections: [string, string[]][] = [
    ['probe', [String(PROBE_VERSION)]],
    ['uname', [h.kernel, 'x86_64']],
    ['os-release', ['ID="rhel"']],
    ['cmdline', ['']],
    ['tainted', ['0']],
    ['kpatch-version', kpatch ? [h.kpatchVersion, 'rc=0'] : ['rc=127']],
    ['kpatch-force', [kpatch ? (x.flavor === 'rhel' ? 'rc=0' : 'rc=1') : 'rc=127']],
    ['kpatch-list', kpatch ? [kpatchList(h, x), 'rc=0'] : ['rc=127']],
    [
      'livepatch',
      h.livepatch
        ? [
            'present',
            // stack_order, where the kernel has it, is the place in the kernel's list (§5.1)
            ...[...h.sysfs].map(
              ([n, s], i) =>
                `${n} ${flag(s.enabled)} ${flag(x.transition.has(n))} ${flag(s.replace)}${h.stackOrder === true ? ` ${String(i + 1)}` : ''}`,
            ),
          ]
        : ['absent'],
    ],
    [
      'security',
      [
        `lockdown ${h.security?.lockdown === undefined ? '-' : LOCKDOWN_LINES[h.security.lockdown]}`,
        `sig_enforce ${yn(h.security?.sigEnforce, 'Y', 'N')}`,
        `secureboot ${yn(h.security?.secureBoot, '1', '0')}`,
      ],
    ],
    ['tasks', x.transition.size > 0 ? ['readable=no'] : []],
    ['kernels', [...h.kernels]],
    ['modules', [...h.resident].map(([n, refcnt]) => `${n} ${String(refcnt)} OEK`)],
    ['installed', sums(KPATCH_INSTALL_ROOT, h.installed)],
    ['rpm-installed', sums(RPM_MODULE_ROOT, h.rpmInstalled)],
    [
      'service',
      h.service.present
        ? h.service.enabled
          ? ['enabled', 'rc=0']
          : ['disabled', 'rc=1']
        : ['not-found', 'rc=4'],
    ],
    ['klp-store', sums(KLP_STORE_ROOT, h.klpStore)],
    [
      'klp-service',
      !h.klpBoot.systemctl
        ? ['rc=127']
        : h.klpBoot.enabled
          ? ['enabled', 'rc=0']
          : ['not-found', 'rc=1'],
    ],
    // this kpfleet's own files where the model's unit is current; else, once set up, others
    [
      'klp-files',
      h.klpBoot.current
        ? [`${BOOT.unit.sha256}  ${BOOT.unit.path}`, `${BOOT.script.sha256}  ${BOOT.script.path}`]
        : h.klpBoot.enabled
          ? [`${'f'.repeat(64)}  ${BOOT.unit.path}`]
          : [],
    ],
    ['packages', [...h.packages].sort()],
    ['load-records', [x.bootId]],
    ['end', []],
  ];
  return sections
    .map(([name, lines]) => `\n${SECTION_MARK} ${name}\n${lines.map((l) => `${l}\n`).join('')}`)
    .join('');
}
