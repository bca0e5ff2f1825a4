/**
 * The klp manager's loader, as POSIX shell: the functions that load and unload a plain livepatch
 * module with nothing but insmod, rmmod and sysfs (docs/klp-behaviour.md §K.3, §K.4), and the two
 * files of its boot mechanism, `kpfleet-klp.service` and the boot script it runs (§K.2). One text
 * serves both: apply's load and unload steps (`apply/managers/klp.ts`) define the same functions
 * the boot script does, so a patch is loaded at boot exactly as kpfleet loaded it. The planner
 * reads the files' sha256 (`klpBootFiles`) to see whether a host's copy is current, which is why
 * the text lives with the facts: apply writes it, facts judge a host's copy of it. Pure.
 *
 * Shell rules: every variable is `kpf_`-prefixed (the step's own script shares the shell); names
 * reach the functions as "$1" (quoted, never re-read as code); nothing forks in a per-task loop.
 */
import {
  KLP_BOOT_SCRIPT,
  KLP_STORE_ROOT,
  KLP_UNIT,
  KLP_UNIT_PATH,
  LOAD_RECORD_DIR,
} from '../host-paths.ts';
import { sha256Hex } from '../util/hash.ts';

/**
 * The waits, in seconds, as kpatch's (docs/kpatch-behaviour.md §1.5): a transition gets 15 s, then
 * 60 s more (the kernel signals the tasks still in the old state from 15 s on); a module's
 * reference 15 s; an insmod or an `enabled` write refused because another patch is in transition
 * is tried 5 times, 2 s apart.
 */
export const KLP_WAITS = { transition: 75, refcnt: 15, busyTries: 5, busyPause: 2 } as const;

/** How many tasks that hold up a transition are named (each with the first lines of its stack). */
const TASKS_SHOWN = 20;

/**
 * The functions. `kpf_klp_load M FILE` and `kpf_klp_unload M` return 0 once the kernel shows the
 * change made; otherwise 1, having printed why, and never leaving a transition they started in
 * progress when it could be reversed.
 */
export const KLP_FUNCTIONS = `kpf_lp=/sys/kernel/livepatch
# the first line of a file, or nothing (no fork: read is a builtin)
kpf_rd() { kpf_v=; read -r kpf_v 2>/dev/null <"$1"; printf '%s' "$kpf_v"; }
# is M's transition over? (its folder gone counts: a disabled patch leaves sysfs)
kpf_settled() { [ ! -d "$kpf_lp/$1" ] || [ "$(kpf_rd "$kpf_lp/$1/transition")" != 1 ]; }
# wait for M's transition to end: 0 when it did, 1 when it stalled
kpf_wait() {
  kpf_i=0
  while ! kpf_settled "$1"; do
    [ "$kpf_i" -lt ${KLP_WAITS.transition} ] || return 1
    [ "$kpf_i" != 0 ] || echo "kpfleet: waiting (up to ${KLP_WAITS.transition} seconds) for the transition of $1"
    sleep 1; kpf_i=$((kpf_i + 1))
  done
  [ "$kpf_i" = 0 ] || echo "kpfleet: the transition of $1 completed ($kpf_i seconds)"
  return 0
}
# the tasks not yet in state $1 (1 patched, 0 unpatched): pid, command, and as root their stack
kpf_tasks() {
  kpf_n=0
  for kpf_s in /proc/[0-9]*/task/[0-9]*/patch_state; do
    kpf_v=; read -r kpf_v 2>/dev/null <"$kpf_s" || [ -n "$kpf_v" ] || continue
    case $kpf_v in "$1" | -1 | '') continue ;; esac
    kpf_n=$((kpf_n + 1))
    [ "$kpf_n" -le ${TASKS_SHOWN} ] || continue
    kpf_t=\${kpf_s%/patch_state}
    kpf_c=; read -r kpf_c 2>/dev/null <"$kpf_t/comm"
    echo "kpfleet: task \${kpf_t##*/} ($kpf_c) has not switched"
    [ -r "$kpf_t/stack" ] && sed -n '1,6s/^/kpfleet:     /p' "$kpf_t/stack" 2>/dev/null
  done
  [ "$kpf_n" -le ${TASKS_SHOWN} ] || echo "kpfleet: and $((kpf_n - ${TASKS_SHOWN})) more tasks"
  [ "$kpf_n" != 0 ] || echo "kpfleet: (no task could be read as holding it up)"
}
# write $2 to M's enabled; read back, since a shell's echo does not say why a write failed:
# another patch in transition (EBUSY) is tried again, as insmod is. The folder gone is success
# only for a 0 (a completed disable removes it); for a 1 it means the patch is gone
kpf_set() {
  kpf_i=1
  while :; do
    echo "$2" 2>/dev/null >"$kpf_lp/$1/enabled"
    if [ ! -d "$kpf_lp/$1" ]; then
      [ "$2" = 0 ] && return 0
      echo "kpfleet: $1 left $kpf_lp before it could be enabled again"; return 1
    fi
    [ "$(kpf_rd "$kpf_lp/$1/enabled")" != "$2" ] || return 0
    [ "$kpf_i" -lt ${KLP_WAITS.busyTries} ] || { echo "kpfleet: could not write $2 to $kpf_lp/$1/enabled"; return 1; }
    echo "kpfleet: $kpf_lp/$1/enabled did not take $2 (another patch in transition?): trying again in ${KLP_WAITS.busyPause} seconds"
    sleep ${KLP_WAITS.busyPause}; kpf_i=$((kpf_i + 1))
  done
}
# rmmod M once its reference is dropped (a disabled or replaced patch keeps its module resident)
kpf_rmmod() {
  kpf_i=0
  while [ -e "/sys/module/$1" ] && [ "$(kpf_rd "/sys/module/$1/refcnt")" != 0 ]; do
    [ "$kpf_i" -lt ${KLP_WAITS.refcnt} ] || { echo "kpfleet: $1 is still referenced (refcnt $(kpf_rd "/sys/module/$1/refcnt")): not removed"; return 1; }
    [ "$kpf_i" != 0 ] || echo "kpfleet: waiting (up to ${KLP_WAITS.refcnt} seconds) for the reference to $1 to drop"
    sleep 1; kpf_i=$((kpf_i + 1))
  done
  [ ! -e "/sys/module/$1" ] || rmmod "$1"
}
# after a disable completed, the kernel removes the patch's folder from a work queue
kpf_gone() {
  kpf_i=0
  while [ -d "$kpf_lp/$1" ]; do
    [ "$kpf_i" -lt ${KLP_WAITS.refcnt} ] || { echo "kpfleet: $1 is still in $kpf_lp"; return 1; }
    sleep 1; kpf_i=$((kpf_i + 1))
  done
}
# the end of a load: M in sysfs and enabled (insmod of a file whose in-kernel name is not M, or
# a patch that left sysfs, is a failure, whatever came before)
kpf_enabled() {
  [ -d "$kpf_lp/$1" ] && [ "$(kpf_rd "$kpf_lp/$1/enabled")" = 1 ] && return 0
  echo "kpfleet: $1 is not enabled in $kpf_lp after its load"; return 1
}
kpf_klp_load() {
  if [ -d "$kpf_lp/$1" ]; then
    if [ "$(kpf_rd "$kpf_lp/$1/enabled")" = 1 ]; then
      echo "kpfleet: $1 is already loaded and enabled"
    else
      # 5.1+: a patch in sysfs with enabled 0 is being disabled; writing 1 reverses that
      echo "kpfleet: $1 is being disabled: reversing that"
      kpf_set "$1" 1 || return 1
    fi
  else
    if [ -e "/sys/module/$1" ]; then
      # a replaced or disabled patch still resident: the same name cannot be loaded (EEXIST)
      echo "kpfleet: removing $1, left in memory by an earlier patch transition"
      kpf_rmmod "$1" || return 1
    fi
    echo "kpfleet: loading $2"
    kpf_i=1
    while ! kpf_o=$(LC_ALL=C insmod "$2" 2>&1); do
      printf '%s\\n' "$kpf_o"
      case $kpf_o in *'Device or resource busy'*) ;; *) return 1 ;; esac
      [ "$kpf_i" -lt ${KLP_WAITS.busyTries} ] || return 1
      echo "kpfleet: another patch is in transition: trying again in ${KLP_WAITS.busyPause} seconds"
      sleep ${KLP_WAITS.busyPause}; kpf_i=$((kpf_i + 1))
    done
    [ -z "$kpf_o" ] || printf '%s\\n' "$kpf_o"
  fi
  if kpf_wait "$1"; then
    kpf_enabled "$1"; return
  fi
  echo "kpfleet: the transition of $1 has stalled; tasks still unpatched:"
  kpf_tasks 1
  # the transition may have ended while the tasks were listed: reversing it now would be a
  # plain disable of the patch, and of what it replaced, which is already retired
  if kpf_settled "$1"; then
    echo "kpfleet: the transition of $1 completed after all"
    kpf_enabled "$1"; return
  fi
  echo "kpfleet: reversing the load of $1"
  if kpf_set "$1" 0 && kpf_wait "$1"; then
    kpf_gone "$1" && kpf_rmmod "$1"
    echo "kpfleet: transition stalled: $1 was reversed and is not loaded"
  else
    echo "kpfleet: transition stalled: the reversal of $1 stalled too; it is still in transition"
  fi
  return 1
}
kpf_klp_unload() {
  if [ -d "$kpf_lp/$1" ]; then
    if [ "$(kpf_rd "$kpf_lp/$1/enabled")" = 1 ]; then
      echo "kpfleet: disabling $1"
      kpf_set "$1" 0 || return 1
    fi
    if ! kpf_wait "$1"; then
      echo "kpfleet: the transition of $1 has stalled; tasks still patched:"
      kpf_tasks 0
      echo "kpfleet: re-enabling $1 (reversing the unload)"
      if kpf_set "$1" 1 && kpf_wait "$1" && kpf_enabled "$1"; then
        echo "kpfleet: transition stalled: the unload of $1 was reversed; it stays enabled"
      else
        echo "kpfleet: transition stalled: the unload of $1 could not be reversed (above)"
      fi
      return 1
    fi
    kpf_gone "$1" || return 1
  fi
  kpf_rmmod "$1"
}
`;

/** The unit, as `enable-service` writes it to KLP_UNIT_PATH (docs/klp-behaviour.md §K.2). */
export const KLP_UNIT_TEXT = `# Written by kpfleet: loads the live patches it installed (docs/klp-behaviour.md in kpfleet).
# kpatch.enable=0 or kpfleet.enable=0 on the kernel command line skips it.
[Unit]
Description=Load kpfleet live patches
ConditionKernelCommandLine=!kpatch.enable=0
ConditionKernelCommandLine=!kpfleet.enable=0
Before=network-pre.target
Wants=network-pre.target
# one transition at a time: where kpatch.service also loads patches, after it
After=kpatch.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh ${KLP_BOOT_SCRIPT}

[Install]
WantedBy=multi-user.target
`;

/**
 * The boot script: every module in the running kernel's folder of the store, in name order, each
 * loaded as apply loads one, one failure not stopping the others (exit 1 at the end, so that
 * `systemctl is-failed` shows it). A module with a crash guard record of an earlier boot is not
 * loaded: the host went down while it was being loaded (§K.2). Each load leaves its own record
 * until it returns, so a crash during a boot-time load is caught the same way.
 */
export const KLP_BOOT_TEXT = `#!/bin/sh
# Written by kpfleet: loads the live patches kpfleet installed for the running kernel, from
# ${KLP_STORE_ROOT}/<kernel release>/, at boot (${KLP_UNIT}). A new version replaces it.
${KLP_FUNCTIONS}
set -f
for kpf_a in $(cat /proc/cmdline 2>/dev/null); do
  case $kpf_a in kpatch.enable=0 | kpfleet.enable=0)
    echo "kpfleet: $kpf_a is on the kernel command line: no live patch is loaded"; exit 0 ;;
  esac
done
set +f
kpf_boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
kpf_rec=${LOAD_RECORD_DIR}
kpf_rc=0
for kpf_f in ${KLP_STORE_ROOT}/"$(uname -r)"/*.ko; do
  [ -f "$kpf_f" ] || continue
  kpf_m=\${kpf_f##*/}; kpf_m=\${kpf_m%.ko}
  # kpfleet stores a module as <module>.ko, its in-kernel name, which never has a "-": any other
  # file (left by hand, or by a run cut short before it removed it) is not loaded
  case $kpf_m in *-*)
    echo "kpfleet: $kpf_f is not named after a module (<module>.ko): not loaded"; continue ;;
  esac
  if [ -e "$kpf_rec/$kpf_m" ] && ! grep -qsx "boot=$kpf_boot" "$kpf_rec/$kpf_m"; then
    echo "kpfleet: $kpf_m is suspected of crashing this host ($kpf_rec/$kpf_m is from an earlier boot): not loaded"
    kpf_rc=1; continue
  fi
  if [ -z "$kpf_boot" ] || ! { mkdir -p -m 0755 "$kpf_rec" &&
    printf 'module=%s\\npatch=%s\\nboot=%s\\nrun=boot\\ntime=%s\\n' "$kpf_m" "$kpf_m" "$kpf_boot" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$kpf_rec/$kpf_m.new" &&
    chmod 0644 "$kpf_rec/$kpf_m.new" && mv -f -- "$kpf_rec/$kpf_m.new" "$kpf_rec/$kpf_m" && sync; }; then
    echo "kpfleet: could not write the load record of $kpf_m in $kpf_rec: not loaded"
    kpf_rc=1; continue
  fi
  kpf_klp_load "$kpf_m" "$kpf_f" || kpf_rc=1
  # gone for good: a record left by a later crash would name this patch as the suspect
  { rm -f -- "$kpf_rec/$kpf_m"; sync -- "$kpf_rec"; } 2>/dev/null
done
exit $kpf_rc
`;

/** The boot mechanism's two files, their paths and sha256, as kpfleet writes them. */
export function klpBootFiles(): {
  unit: { path: string; text: string; sha256: string };
  script: { path: string; text: string; sha256: string };
} {
  return {
    unit: { path: KLP_UNIT_PATH, text: KLP_UNIT_TEXT, sha256: sha256Hex(KLP_UNIT_TEXT) },
    script: { path: KLP_BOOT_SCRIPT, text: KLP_BOOT_TEXT, sha256: sha256Hex(KLP_BOOT_TEXT) },
  };
}
