# kpsim sysfs watcher: sysfsd.sh kpsim-sysfsd ROOT (lab/SPEC.md "Raw sysfs writes").
# shellcheck shell=bash
# The simulated sysfs files are plain files: a program that writes one (`echo 0 > .../enabled`)
# changes its bytes and nothing else. This watcher, one per host, looks at every patch's
# `enabled` file every SYSFSD_INTERVAL real seconds and applies what differs from the kernel's
# value with the kernel model (kernel.sh sysfs_take): a transition starts, or the write is refused
# (EBUSY, EINVAL) and the file shows the old value again. It leaves when no patch is left (the
# next livepatch insmod starts it again), when the host's state folder is gone, or when killed
# (`kpsim kill-background`, reboot keeps it).
export KPSIM_ROOT="$2"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$KPSIM_LIB/kernel.sh"
exec {single}>>"$ST/sysfsd.lock"
flock -n "$single" || exit 0 # another watcher has this host
echo "$BASHPID" >"$ST/sysfsd.pid"
exec {nap}<> <(:) # read -t on a pipe nobody writes: a sleep without a fork
declare -A empty=()
while :; do
  [[ -d "$ST" ]] || exit 0
  any=0
  for d in "$LP"/*/; do
    [[ -d "$d" ]] || continue
    any=1
    m=${d%/}
    m=${m##*/}
    v="" s=""
    { read -r v || true; } <"${d}enabled" 2>/dev/null
    { read -r s || true; } <"$ST/enabled/$m" 2>/dev/null
    [[ "$v" == "$s" ]] && continue
    lock
    if sysfs_take "$m"; then
      unset "empty[$m]"
    else
      # empty for a few rounds: a write of nothing, which the kernel does not see (old value back)
      empty[$m]=$((${empty[$m]:-0} + 1))
      ((empty[$m] < 4)) || { wfile "${d}enabled" "$s"; unset "empty[$m]"; }
    fi
    unlock
  done
  if ((!any)); then
    lock
    if ! compgen -G "$LP/*/" >/dev/null; then
      exec {single}>&- # let the next insmod start a watcher before the kernel lock is free
      rm -f "$ST/sysfsd.pid"
      unlock
      exit 0
    fi
    unlock
  fi
  read -r -t "$SYSFSD_INTERVAL" -u "$nap" || true
done
