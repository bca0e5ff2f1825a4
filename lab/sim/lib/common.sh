# kpsim shared code: paths, profile, faults, scaled time, locking.  Sourced, never executed.
# shellcheck shell=bash
# Every path the simulator touches is "$R<real path>"; KPSIM_ROOT is empty on a namespaced host.

umask 022
R="${KPSIM_ROOT:-}"
R="${R%/}"
KPSIM_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KPSIM_BIN="$(cd "$KPSIM_LIB/../bin" && pwd)"
ST="$R/var/lib/kpsim"
LP="$R/sys/kernel/livepatch"
SYSMOD="$R/sys/module"
VLK="$R/var/lib/kpatch"     # kpatch install root
ULK="$R/usr/lib/kpatch"     # RPM-owned modules

# ---- profile ---------------------------------------------------------------------------------
KPATCH_VERSION=0.9.7
KPATCH_FLAVOR=rhel
KERNEL_RELEASE=5.14.0-362.8.1.el9_3.x86_64
ARCH=x86_64
LIVEPATCH=1
KPATCH_INSTALLED=1
TIME_SCALE=1
TRANSITION_SECONDS=1
KERNEL_MODEL=5.1          # 5.1 (simple enable, sysfs dir vanishes on disable) | pre5.1
SIGNAL_ATTR=0             # <patch>/signal exists (kernels 4.15-5.0)
REPLACE_ATTR=0            # <patch>/replace exists (6.11+)
STACK_ORDER=0             # <patch>/stack_order exists (6.14+): 0.9.11 prints the functions table
SIG_ENFORCE=0             # unsigned modules: "Key was rejected by service"
LOCKDOWN=0                # unsigned modules: "Operation not permitted"; lockdown reads [integrity]
SECURE_BOOT=              # the SecureBoot EFI variable: empty = none (BIOS boot), 0 or 1
SH_FLAVOR=bash            # /bin/sh used for the sysfs disable write: bash | dash
SYSTEMCTL=1               # systemctl exists
KPATCH_UNIT=1             # kpatch.service unit file exists (needs KPATCH_INSTALLED=1)
COLUMN=1                  # column(1) exists
HOSTNAME_SIM=             # uname -n (default: kpsim)
KERNEL_VERSION_STRING='#1 SMP PREEMPT_DYNAMIC Thu Oct 19 10:00:00 UTC 2023'
INSTALLED_KERNELS=        # space-separated kernel releases installed (rpm requires); default KERNEL_RELEASE
KPATCH_PKG_RELEASE=       # rpm release of the kpatch package (default 1.el9)
STALLED_PID=2171
STALLED_COMM=qemu-kvm
CMDLINE=
SYSFSD_INTERVAL=0.1       # real seconds between two looks of the sysfs watcher at the enabled files
if [[ -r "$ST/profile" ]]; then
  # shellcheck disable=SC1091
  source "$ST/profile"
fi
: "${HOSTNAME_SIM:=kpsim}"
: "${INSTALLED_KERNELS:=$KERNEL_RELEASE}"
KVER="$KERNEL_RELEASE"

# is the caller root? KPSIM_UID (set by a sudo/ssh layer) overrides id -u.
sim_uid() { if [[ -n "${KPSIM_UID:-}" ]]; then echo "$KPSIM_UID"; else id -u; fi; }
is_root() { [[ "$(sim_uid)" == 0 ]]; }

# ---- versions --------------------------------------------------------------------------------
# ver_ge A B: A >= B (dotted numeric)
ver_ge() {
  local IFS=.
  local -a a=($1) b=($2)
  local i x y
  for ((i = 0; i < 4; i++)); do
    x=${a[i]:-0} y=${b[i]:-0}
    x=${x%%[!0-9]*} y=${y%%[!0-9]*}
    ((10#${x:-0} > 10#${y:-0})) && return 0
    ((10#${x:-0} < 10#${y:-0})) && return 1
  done
  return 0
}
ver_lt() { ! ver_ge "$1" "$2"; }

# ---- faults ----------------------------------------------------------------------------------
FAULTS="$ST/faults"
fault_on() { [[ -e "$FAULTS/$1" ]]; }
fault_arg() { local v=""; [[ -r "$FAULTS/$1" ]] && read -r v <"$FAULTS/$1"; echo "$v"; }
# fault_take NAME: true if the fault fires now. Integer content = remaining count (decremented,
# removed at 0); empty or non-numeric = fires every time.
fault_take() {
  local f="$FAULTS/$1" v=""
  [[ -e "$f" ]] || return 1
  read -r v <"$f" || true
  if [[ "$v" =~ ^[0-9]+$ ]]; then
    if ((v <= 1)); then rm -f "$f"; else echo $((v - 1)) >"$f"; fi
    ((v >= 1)) || return 1
  fi
  return 0
}
# new_boot_id: a new /proc/sys/kernel/random/boot_id for this host (init, reboot)
new_boot_id() {
  local u=""
  read -r u </proc/sys/kernel/random/uuid
  mkdir -p "$R/proc/sys/kernel/random"
  printf '%s\n' "$u" >"$R/proc/sys/kernel/random/boot_id"
}
livepatch_on() { [[ "$LIVEPATCH" == 1 ]] && ! fault_on no-livepatch; }
kpatch_on() { [[ "$KPATCH_INSTALLED" == 1 ]] && ! fault_on no-kpatch; }

# drop_session MESSAGE [reset]: the connection is lost (the drop faults of kpatch and kpsim-sftp):
# SIGKILL the closest sshd ancestor (after 0.3 s, so what was printed reaches the client, as it
# would before a real connection loss) and exit 255; `reset`
# kills every process between it and this one too (the shell that ran kpatch runs nothing more,
# as on a host that went down). Without an sshd ancestor: MESSAGE on stderr, exit 255.
drop_session() {
  local pid=$PPID comm stat rest between=()
  while [[ "$pid" =~ ^[0-9]+$ ]] && ((pid > 1)); do
    comm=""; read -r comm <"/proc/$pid/comm" 2>/dev/null
    if [[ "$comm" == sshd ]]; then
      sleep 0.3
      # sshd first: a host that resets says nothing more, so its sessions must not end cleanly
      # (with sshd alive a moment longer, it would report the killed shell's end to the client)
      kill -KILL "$pid" 2>/dev/null
      [[ "${2:-}" == reset ]] && kill -KILL "${between[@]}" 2>/dev/null
      exit 255
    fi
    between+=("$pid")
    stat=""; read -r stat <"/proc/$pid/stat" 2>/dev/null || break
    rest=${stat##*) }   # "S PPID ..."
    rest=${rest#* }
    pid=${rest%% *}
  done
  echo "$1" >&2
  exit 255
}

# ---- time ------------------------------------------------------------------------------------
to_us() { # decimal seconds -> integer microseconds
  local s="$1" i f
  i=${s%%.*}
  if [[ "$s" == *.* ]]; then f=${s#*.}; else f=; fi
  f="${f}000000"
  f=${f:0:6}
  echo $((10#${i:-0} * 1000000 + 10#$f))
}
SCALE_US=$(to_us "$TIME_SCALE")
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$((10#$t))"; }
us_fmt() { printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)); }
# scaled_us SIMSECONDS -> real microseconds
scaled_us() { local u; u=$(to_us "$1"); echo $((u * SCALE_US / 1000000)); }
sim_sleep() { local u; u=$(scaled_us "$1"); ((u > 0)) && sleep "$(us_fmt "$u")"; return 0; }
# sleep until absolute real time (us)
sleep_until() { local d=$(($1 - $(now_us))); ((d > 0)) && sleep "$(us_fmt "$d")"; return 0; }

# ---- locking ---------------------------------------------------------------------------------
lock() {
  mkdir -p "$ST"
  exec {KPSIM_LOCKFD}>>"$ST/lock"
  flock "$KPSIM_LOCKFD"
}
unlock() { [[ -n "${KPSIM_LOCKFD:-}" ]] && exec {KPSIM_LOCKFD}>&- && KPSIM_LOCKFD=; return 0; }

# ---- names & paths ---------------------------------------------------------------------------
# docs/kpatch-behaviour.md §1.3: basename, strip trailing .ko, - -> _
norm_name() { local b="${1##*/}"; b="${b%.ko}"; echo "${b//-/_}"; }
# real path for a path as a user typed it (absolute paths are looked up under $R first)
host_path() {
  local p="$1"
  if [[ "$p" == /* && -n "$R" && -e "$R$p" ]]; then echo "$R$p"; else echo "$p"; fi
}
# path as the host would show it (strip $R)
show_path() { local p="$1"; if [[ -n "$R" && "$p" == "$R"/* ]]; then echo "${p#"$R"}"; else echo "$p"; fi; }

# ---- fake .ko --------------------------------------------------------------------------------
# ko_read FILE: sets KO_NAME KO_VERMAGIC KO_LIVEPATCH KO_REPLACE KO_FUNCTIONS KO_CVES KO_DESC
# KO_SIGNED KO_LICENSE; returns 1 if FILE is not a kpsim module.
ko_read() {
  local f="$1" line k v
  KO_NAME= KO_VERMAGIC= KO_LIVEPATCH=N KO_REPLACE=1 KO_FUNCTIONS= KO_CVES= KO_DESC= KO_SIGNED=0
  KO_LICENSE=GPL
  [[ -f "$f" && -r "$f" ]] || return 1
  { IFS= read -r line || true; } <"$f"
  [[ "$line" == "KPSIM-KO 1" ]] || return 1
  while IFS= read -r line; do
    [[ "$line" == *=* ]] || continue
    k=${line%%=*} v=${line#*=}
    case "$k" in
      name) KO_NAME=$v ;;
      vermagic) KO_VERMAGIC=$v ;;
      livepatch) KO_LIVEPATCH=$v ;;
      replace) KO_REPLACE=$v ;;
      functions) KO_FUNCTIONS=$v ;;
      cves) KO_CVES=$v ;;
      description) KO_DESC=$v ;;
      signed) KO_SIGNED=$v ;;
      license) KO_LICENSE=$v ;;
    esac
  done <"$f"
  [[ -n "$KO_NAME" ]]
}
