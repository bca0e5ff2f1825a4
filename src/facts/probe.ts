/**
 * The facts probe: one shell script, run in one SSH exec per host, without root, that prints
 * every fact kpfleet needs in named sections. It reads the real paths (sysfs, /var/lib/kpatch)
 * directly where `kpatch list` is ambiguous (docs/kpatch-behaviour.md §3.6), and runs `kpatch list`
 * and `kpatch version` too, for what only they say (CVE lines, stalled tasks). Pure: a string.
 */

import {
  KLP_BOOT_SCRIPT,
  KLP_STORE_ROOT,
  KLP_UNIT,
  KLP_UNIT_PATH,
  KPATCH_INSTALL_ROOT,
  LOAD_RECORD_DIR,
  RPM_MODULE_ROOT,
} from '../host-paths.ts';

/** The marker that opens a section; chosen so no real output line can look like it. */
export const SECTION_MARK = '@@kpfleet-probe@@';
/** The probe's last line: all of its output came. */
export const PROBE_END = `${SECTION_MARK} end`;

export const PROBE_VERSION = 4;

/** The kernel's files on module signatures (docs/kpatch-behaviour.md §5.5), readable without root. */
export const LOCKDOWN_FILE = '/sys/kernel/security/lockdown';
export const SIG_ENFORCE_FILE = '/sys/module/module/parameters/sig_enforce';
export const SECURE_BOOT_VAR =
  '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d0-aa0d-00e098032b8c';

const section = (name: string): string => `printf '\\n${SECTION_MARK} %s\\n' ${name}`;

/** The probe script (POSIX sh; the transport runs it with `sh -c`). */
export function probeScript(): string {
  return [
    // a non-login SSH session may lack the sbin folders where kpatch lives (docs/kpatch-behaviour.md §6 #1)
    'LC_ALL=C; PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin; export LC_ALL PATH',
    section('probe'),
    `echo ${String(PROBE_VERSION)}`,
    section('uname'),
    'uname -r; uname -m',
    section('os-release'),
    'cat /etc/os-release 2>/dev/null',
    section('cmdline'),
    'cat /proc/cmdline 2>/dev/null',
    section('tainted'),
    'cat /proc/sys/kernel/tainted 2>/dev/null',
    section('kpatch-version'),
    // The RHEL build takes `force` before a subcommand (its unload prompts otherwise, forever
    // without a TTY); upstream says "subcommand force not recognized" (docs/kpatch-behaviour.md §2.6, §6 #28-29).
    // `kpatch force version` answers both questions on RHEL in one run of the script; only
    // upstream needs the plain `kpatch version` after it (each run of kpatch is a bash start).
    'f=127; if command -v kpatch >/dev/null 2>&1; then v=$(kpatch force version 2>/dev/null); f=$?; if [ $f = 0 ]; then printf \'%s\\n\' "$v"; echo "rc=0"; else kpatch version 2>&1; echo "rc=$?"; fi; else echo "rc=127"; fi',
    section('kpatch-force'),
    'echo "rc=$f"',
    section('kpatch-list'),
    'if command -v kpatch >/dev/null 2>&1; then kpatch list 2>/dev/null; echo "rc=$?"; else echo "rc=127"; fi',
    section('livepatch'),
    // one line per patch: name, enabled, transition, replace ("-" where the kernel has no such
    // file), then stack_order where the kernel has it (6.13+; §5.1): 4 fields without it, as before
    'if [ -d /sys/kernel/livepatch ]; then echo present; for d in /sys/kernel/livepatch/*/; do [ -d "$d" ] || continue; n=${d%/}; n=${n##*/}; e=$(cat "$d/enabled" 2>/dev/null || echo -); t=$(cat "$d/transition" 2>/dev/null || echo -); r=$(cat "$d/replace" 2>/dev/null || echo -); if o=$(cat "$d/stack_order" 2>/dev/null); then echo "$n $e $t $r $o"; else echo "$n $e $t $r"; fi; done; else echo absent; fi',
    // the functions each patch changes (§5.1 `<patch>/<object>/<function>,<sympos>/`), one line
    // each, at most 4,097 read (more is said to be more)
    section('livepatch-functions'),
    'for d in /sys/kernel/livepatch/*/*/*,*/; do [ -d "$d" ] && echo "${d#/sys/kernel/livepatch/}"; done 2>/dev/null | head -n 4097',
    section('security'),
    // what the kernel does with an unsigned module (§5.5): lockdown's line ("none [integrity]
    // confidentiality"), sig_enforce (Y or N), and byte 4 of the SecureBoot EFI variable (its
    // first 4 bytes are the attributes) as a number; "-" where a file is absent or unreadable
    `l=$(head -c 256 ${LOCKDOWN_FILE} 2>/dev/null) || l=-; s=$(head -c 16 ${SIG_ENFORCE_FILE} 2>/dev/null) || s=-; b=; [ -r ${SECURE_BOOT_VAR} ] && b=$(od -An -tu1 -j4 -N1 ${SECURE_BOOT_VAR} 2>/dev/null | tr -d ' '); printf 'lockdown %s\\nsig_enforce %s\\nsecureboot %s\\n' "$l" "$s" "\${b:--}"`,
    section('tasks'),
    // only while a patch is in transition: tasks not yet switched (§5.1 patch_state: -1 none,
    // 0 unpatched, 1 patched). Without root only the probe's own tasks are readable; `kpatch
    // list`'s Stalled block (above) is the other source.
    'if grep -qsx 1 /sys/kernel/livepatch/*/transition; then echo readable=$( [ -r /proc/1/patch_state ] && echo yes || echo no ); for f in /proc/[0-9]*/task/[0-9]*/patch_state; do s=$(cat "$f" 2>/dev/null) || continue; [ "$s" = -1 ] && continue; t=${f%/patch_state}; echo "${t##*/} $s $(cat "$t/comm" 2>/dev/null)"; done 2>/dev/null | head -n 200; fi',
    section('kernels'),
    // installed kernels (a patch declared for the next one is installed for it, not loaded)
    'for d in /lib/modules/*/; do [ -d "$d" ] && { d=${d%/}; echo "${d##*/}"; }; done 2>/dev/null',
    section('modules'),
    // livepatch modules still in memory (taint K), with their refcount: replaced leftovers show 0
    'for d in /sys/module/*/; do t=$(cat "$d/taint" 2>/dev/null) || continue; case $t in *K*) n=${d%/}; n=${n##*/}; echo "$n $(cat "$d/refcnt" 2>/dev/null || echo -) $t";; esac; done',
    section('installed'),
    `for f in ${KPATCH_INSTALL_ROOT}/*/*.ko; do [ -f "$f" ] && sha256sum "$f"; done 2>/dev/null`,
    section('rpm-installed'),
    `for f in ${RPM_MODULE_ROOT}/*/*.ko; do [ -f "$f" ] && sha256sum "$f"; done 2>/dev/null`,
    section('service'),
    'if command -v systemctl >/dev/null 2>&1; then systemctl is-enabled kpatch.service 2>&1; echo "rc=$?"; else echo "rc=127"; fi',
    // the klp manager's store and boot unit (docs/klp-behaviour.md §K.1, §K.2): the modules it
    // installed, whether its unit is enabled, and its two files' sha256 (current or not)
    section('klp-store'),
    `for f in ${KLP_STORE_ROOT}/*/*.ko; do [ -f "$f" ] && sha256sum "$f"; done 2>/dev/null`,
    section('klp-service'),
    `if command -v systemctl >/dev/null 2>&1; then systemctl is-enabled ${KLP_UNIT} 2>&1; echo "rc=$?"; else echo "rc=127"; fi`,
    section('klp-files'),
    `for f in ${KLP_UNIT_PATH} ${KLP_BOOT_SCRIPT}; do [ -f "$f" ] && sha256sum "$f"; done 2>/dev/null`,
    section('packages'),
    "if command -v rpm >/dev/null 2>&1; then rpm -qa 'kpatch-patch*' 2>/dev/null | sort; fi",
    section('load-records'),
    // the crash guard (issue 15 point 4): the boot id, then each record a load left in
    // /var/lib/kpfleet/loading (apply/steps.ts), at most 65 files of 1 KiB, every line of a
    // record behind "| " so that none can pass for a line of the probe's own; a folder the login
    // user cannot read says so (seeing no record there would let a suspect through)
    `cat /proc/sys/kernel/random/boot_id 2>/dev/null; if [ -e ${LOAD_RECORD_DIR} ] && { [ ! -r ${LOAD_RECORD_DIR} ] || [ ! -x ${LOAD_RECORD_DIR} ]; }; then echo unreadable; fi; n=0; for f in ${LOAD_RECORD_DIR}/*; do [ -f "$f" ] || continue; n=$((n+1)); [ $n -gt 65 ] && break; printf 'record %s' "\${f##*/}" | tr -c 'A-Za-z0-9_. ' '?' | head -c 300; echo; head -c 1024 "$f" 2>/dev/null | sed 's/^/| /'; echo; done`,
    section('end'),
  ].join('\n');
}
