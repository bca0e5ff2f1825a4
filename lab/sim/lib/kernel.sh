# kpsim kernel model: module loading, livepatch sysfs, transitions.  Sourced after common.sh.
# shellcheck shell=bash
# Private per-module data: $ST/mod/<m> (ko path, livepatch, replace, functions, cves, forced).
# Transition records: $ST/trans/<m> = "token start_us dur_us target flipper_pid" (dur_us -1 = forever).

wfile() { printf '%s\n' "$2" >"$1"; }
# set_enabled NAME V: the kernel's patch->enabled, shown by <m>/enabled; the copy in $ST/enabled/<m>
# is what the sysfs watcher (sysfsd.sh) compares the file with to see a raw write
set_enabled() { mkdir -p "$ST/enabled"; wfile "$ST/enabled/$1" "$2"; wfile "$LP/$1/enabled" "$2"; }
rfile() { local v=""; [[ -r "$1" ]] && { read -r v <"$1" || true; }; echo "$v"; }

# name of the patch currently in transition (other than $1), if any
other_in_transition() {
  local d m
  for d in "$LP"/*/; do
    [[ -d "$d" ]] || continue
    m=${d%/}; m=${m##*/}
    [[ "$m" == "$1" ]] && continue
    [[ "$(rfile "$d/transition")" == 1 ]] && { echo "$m"; return 0; }
  done
  return 1
}

next_stack_order() {
  local d n max=0
  for d in "$LP"/*/; do
    [[ -r "$d/stack_order" ]] || continue
    n=$(rfile "$d/stack_order"); ((n > max)) && max=$n
  done
  echo $((max + 1))
}

# restack: stack_order is the patch's place in the kernel's list of patches, counted when read
# (docs/kpatch-behaviour.md §5.1): once a patch leaves sysfs, those after it move down one
restack() {
  [[ "$STACK_ORDER" == 1 && -d "$LP" ]] || return 0
  local d o i=0
  while read -r o d; do
    i=$((i + 1))
    [[ "$o" == "$i" ]] || wfile "$d/stack_order" "$i"
  done < <(for d in "$LP"/*/; do
    [[ -r "${d}stack_order" ]] && printf '%s %s\n' "$(rfile "${d}stack_order")" "${d%/}"
  done | sort -n)
}

taint_add() {
  local t f="$R/proc/sys/kernel/tainted"
  t=$(rfile "$f"); t=${t:-0}
  mkdir -p "${f%/*}"
  wfile "$f" $((t | $1))
}

# k_insmod PATH_AS_SHOWN REALPATH: prints insmod's output (empty = success); status 0/1
k_insmod() {
  local shown="$1" f="$2" reason="" m
  if ! is_root; then
    reason="Operation not permitted"
  elif fault_on insmod-error; then
    case "$(fault_arg insmod-error)" in
      key-rejected) reason="Key was rejected by service" ;;
      no-key) reason="Required key not available" ;;
      not-permitted) reason="Operation not permitted" ;;
      invalid-params) reason="Invalid parameters" ;;
      unknown-symbol) reason="Unknown symbol in module" ;;
      no-device) reason="No such device" ;;
      file-exists) reason="File exists" ;;
      *) reason="Invalid module format" ;;
    esac
  elif ! ko_read "$f"; then
    reason="Invalid module format"
  elif [[ "${KO_VERMAGIC%% *}" != "$KVER" ]]; then
    reason="Invalid module format"
  elif [[ "$KO_LIVEPATCH" == Y ]] && ! livepatch_on; then
    reason="Invalid module format"
  elif [[ "$KO_SIGNED" != 1 && "$SIG_ENFORCE" == 1 ]]; then
    reason="Key was rejected by service"
  elif [[ "$KO_SIGNED" != 1 && "$LOCKDOWN" == 1 ]]; then
    reason="Operation not permitted"
  elif [[ -d "$SYSMOD/$KO_NAME" ]]; then
    reason="File exists"
  elif fault_take busy; then
    reason="Device or resource busy"
  elif [[ "$KO_LIVEPATCH" == Y ]] && other_in_transition "$KO_NAME" >/dev/null; then
    reason="Device or resource busy"
  fi
  if [[ -n "$reason" ]]; then
    echo "insmod: ERROR: could not insert module $shown: $reason"
    return 1
  fi
  m=$KO_NAME
  mkdir -p "$SYSMOD/$m/holders" "$ST/mod"
  wfile "$SYSMOD/$m/initstate" live
  {
    echo "ko=$(show_path "$f")"
    echo "livepatch=$KO_LIVEPATCH"
    echo "replace=$KO_REPLACE"
    echo "functions=$KO_FUNCTIONS"
    echo "cves=$KO_CVES"
    echo "forced=0"
  } >"$ST/mod/$m"
  local taint=4096 tl="O"
  [[ "$KO_SIGNED" == 1 ]] || { taint=$((taint | 8192)); tl="OE"; }
  if [[ "$KO_LIVEPATCH" != Y ]]; then
    wfile "$SYSMOD/$m/refcnt" 0
    wfile "$SYSMOD/$m/taint" "$tl"
    taint_add "$taint"
    return 0
  fi
  wfile "$SYSMOD/$m/refcnt" 1
  wfile "$SYSMOD/$m/taint" "${tl}K"
  taint_add $((taint | 32768))
  local d="$LP/$m" fn obj fun
  mkdir -p "$d"
  set_enabled "$m" 1
  wfile "$d/transition" 1
  : >"$d/force"; chmod 0200 "$d/force"
  if [[ "$SIGNAL_ATTR" == 1 ]]; then : >"$d/signal"; chmod 0200 "$d/signal"; fi
  [[ "$REPLACE_ATTR" == 1 ]] && wfile "$d/replace" "$KO_REPLACE"
  [[ "$STACK_ORDER" == 1 ]] && wfile "$d/stack_order" "$(next_stack_order)"
  local IFS=,
  for fn in ${KO_FUNCTIONS:-cmdline_proc_show}; do
    if [[ "$fn" == *:* ]]; then obj=${fn%%:*} fun=${fn#*:}; else obj=vmlinux fun=$fn; fi
    [[ "$fun" == *,* ]] || fun="$fun,1"
    mkdir -p "$d/$obj/$fun"
    wfile "$d/$obj/patched" 1
  done
  unset IFS
  start_transition "$m" 1
  sysfsd_ensure
  return 0
}

# k_rmmod NAME: prints rmmod's error; status
k_rmmod() {
  local m="$1" rc
  if [[ ! -d "$SYSMOD/$m" ]]; then
    echo "rmmod: ERROR: Module $m is not currently loaded"; return 1
  fi
  if ! is_root; then
    echo "rmmod: ERROR: could not remove module $m: Operation not permitted"; return 1
  fi
  rc=$(rfile "$SYSMOD/$m/refcnt")
  if [[ "${rc:-0}" != 0 || -d "$LP/$m" ]]; then
    echo "rmmod: ERROR: Module $m is in use"; return 1
  fi
  rm -rf "${SYSMOD:?}/$m" "$ST/mod/$m"
  return 0
}

# sh_write_err PATH ERRTEXT: the message "sh -c 'echo V > PATH'" prints on failure
sh_write_err() {
  local p="$1" e="$2"
  if [[ "$SH_FLAVOR" == dash ]]; then
    case "$e" in
      perm) echo "sh: 1: cannot create $p: Permission denied" ;;
      noent) echo "sh: 1: cannot create $p: Directory nonexistent" ;;
      *) echo "sh: 1: echo: echo: I/O error" ;;
    esac
  else
    case "$e" in
      perm) echo "sh: line 1: $p: Permission denied" ;;
      noent) echo "sh: line 1: $p: No such file or directory" ;;
      busy) echo "sh: line 1: echo: write error: Device or resource busy" ;;
      *) echo "sh: line 1: echo: write error: Invalid argument" ;;
    esac
  fi
}

# k_enabled_store NAME 0|1: the kernel's enabled_store (§5.2) for a parsed bool; status 0, or 1
# with KERR=inval|busy (the write does not take). Caller holds the lock.
k_enabled_store() {
  local m="$1" v="$2" d="$LP/$1" cur tr
  KERR=
  cur=$(rfile "$ST/enabled/$m")
  [[ -n "$cur" ]] || cur=$(rfile "$d/enabled")
  tr=$(rfile "$d/transition")
  if [[ "$cur" == "$v" ]]; then KERR=inval; return 1; fi
  if fault_take busy; then KERR=busy; return 1; fi
  if [[ "$tr" == 1 ]]; then
    # reversal of this patch's own transition
    set_enabled "$m" "$v"
    start_transition "$m" "$v"
    return 0
  fi
  if other_in_transition "$m" >/dev/null; then KERR=busy; return 1; fi
  if [[ "$v" == 1 && "$KERNEL_MODEL" != pre5.1 ]]; then KERR=inval; return 1; fi
  set_enabled "$m" "$v"
  [[ "$v" == 1 ]] && wfile "$SYSMOD/$m/refcnt" 1
  wfile "$d/transition" 1
  start_transition "$m" "$v"
  return 0
}

# k_write_enabled NAME VALUE: as `sh -c "echo V > .../enabled"`; prints sh's error; status
k_write_enabled() {
  local m="$1" v="$2" d="$LP/$1" shown
  shown="/sys/kernel/livepatch/$m/enabled"
  [[ -e "$d/enabled" ]] || { sh_write_err "$shown" noent; return 1; }
  is_root || { sh_write_err "$shown" perm; return 1; }
  k_enabled_store "$m" "$v" && return 0
  sh_write_err "$shown" "$KERR"
  return 1
}

# kstrtobool (the kernel's parser of a bool written to sysfs): prints 1, 0 or nothing (EINVAL)
kstrtobool() {
  case "$1" in
    [yYtT1]* | [oO][nN]*) echo 1 ;;
    [nNfF0]* | [oO][fF]*) echo 0 ;;
  esac
}

# sysfs_take NAME: a raw write to <m>/enabled that the watcher saw (the file differs from the
# kernel's value): applied as enabled_store would, else the file shows the old value again.
# Status 2: the file is empty (a writer between its truncation and its write): look again later.
# Caller holds the lock.
sysfs_take() {
  local m="$1" d="$LP/$1" raw="" s v why
  [[ -d "$d" ]] || return 0
  { IFS= read -r raw || true; } <"$d/enabled" 2>/dev/null
  s=$(rfile "$ST/enabled/$m")
  if [[ -z "$s" ]]; then # no copy yet (state from an older simulator): adopt what sysfs shows
    [[ "$raw" == [01] ]] && { mkdir -p "$ST/enabled"; wfile "$ST/enabled/$m" "$raw"; }
    return 0
  fi
  [[ "$raw" == "$s" ]] && return 0
  [[ -n "$raw" ]] || return 2
  v=$(kstrtobool "$raw")
  KERR=inval # not a bool: kstrtobool's EINVAL, before enabled_store looks at anything
  if [[ -n "$v" ]] && k_enabled_store "$m" "$v"; then
    why=ok
  else
    why=$KERR
    wfile "$d/enabled" "$s"
  fi
  [[ "$why" == ok && "$raw" != "$v" ]] && wfile "$d/enabled" "$v"
  printf '%s %s enabled %q -> %s\n' "$(now_us)" "$m" "$raw" "$why" >>"$ST/sysfsd.log"
  return 0
}

# sysfsd_kill: end this host's sysfs watcher (kpsim kill-background)
sysfsd_kill() {
  local pid c=""
  pid=$(rfile "$ST/sysfsd.pid")
  [[ "$pid" =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 0
  c=$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null) || return 0
  [[ "$c" == *kpsim-sysfsd* ]] && kill "$pid" 2>/dev/null
  rm -f "$ST/sysfsd.pid"
  return 0
}

# sysfsd_ensure: the sysfs watcher (sysfsd.sh) runs while /sys/kernel/livepatch has a patch.
# Called under the lock after a patch directory is made; the watcher leaves (under the lock) once
# none is left, so a patch is never without one.
sysfsd_ensure() {
  local fd
  exec {fd}>>"$ST/sysfsd.lock"
  if flock -n "$fd"; then
    flock -u "$fd"
    setsid bash "$KPSIM_LIB/sysfsd.sh" kpsim-sysfsd "$R" </dev/null >/dev/null 2>&1 \
      {KPSIM_LOCKFD}>&- {fd}>&- &
  fi
  exec {fd}>&-
  return 0
}

# duration (real us) of a transition towards TARGET; -1 = forever
transition_us() {
  local f=stall a
  [[ "$1" == 0 ]] && f=stall-unload
  if fault_on "$f"; then
    a=$(fault_arg "$f")
    [[ -z "$a" || "$a" == forever ]] && { echo -1; return; }
    scaled_us "$a"; return
  fi
  scaled_us "$TRANSITION_SECONDS"
}

kill_flipper() {
  local pid="$1" c=""
  [[ -n "$pid" && "$pid" != 0 && -r /proc/$pid/cmdline ]] || return 0
  c=$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null) || return 0
  [[ "$c" == *kpsim-flip* ]] && kill -- -"$pid" 2>/dev/null
  return 0
}

start_transition() {
  local m="$1" target="$2" dur token pid=0 old
  dur=$(transition_us "$target")
  token="${EPOCHREALTIME//[!0-9]/}$$$RANDOM"
  mkdir -p "$ST/trans"
  if [[ -r "$ST/trans/$m" ]]; then read -r _ _ _ _ old <"$ST/trans/$m"; kill_flipper "$old"; fi
  wfile "$LP/$m/transition" 1
  if [[ "$dur" == 0 ]]; then
    rm -f "$ST/trans/$m"
    complete_transition "$m" "$target"
    return 0
  fi
  if [[ -n "${KPSIM_POLLER:-}" ]]; then
    mkdir -p "$ST/poll"
    echo "$KPSIM_POLLER" >"$ST/poll/$m"
  fi
  if [[ "$dur" != -1 ]]; then
    # the background completer fires half a simulated second late (at most half the duration), so
    # that kpatch's own polls, which complete due transitions themselves, count seconds exactly
    local late=$((SCALE_US / 2)); ((dur / 2 < late)) && late=$((dur / 2))
    setsid bash "$KPSIM_LIB/flip.sh" kpsim-flip "$R" "$m" "$token" "$(us_fmt $((dur + late)))" \
      </dev/null >/dev/null 2>&1 {KPSIM_LOCKFD}>&- &
    pid=$!
  fi
  echo "$token $(now_us) $dur $target $pid" >"$ST/trans/$m"
}

# complete_transition NAME TARGET (caller holds the lock)
complete_transition() {
  local m="$1" target="$2" d="$LP/$1" o od
  rm -f "$ST/trans/$m"
  [[ -d "$d" ]] || return 0
  if [[ "$target" == 1 ]]; then
    wfile "$d/transition" 0
    if [[ "$(sed -n 's/^replace=//p' "$ST/mod/$m" 2>/dev/null)" == 1 ]]; then
      for od in "$LP"/*/; do
        o=${od%/}; o=${o##*/}
        [[ "$o" == "$m" || ! -d "$od" ]] && continue
        rm -rf "${LP:?}/$o" "$ST/trans/$o" "$ST/enabled/$o"
        [[ "$(sed -n 's/^forced=//p' "$ST/mod/$o" 2>/dev/null)" == 1 ]] || wfile "$SYSMOD/$o/refcnt" 0
      done
    fi
  else
    if [[ "$KERNEL_MODEL" == pre5.1 ]]; then
      wfile "$d/transition" 0
    else
      rm -rf "${LP:?}/$m" "$ST/enabled/$m"
    fi
    [[ "$(sed -n 's/^forced=//p' "$ST/mod/$m" 2>/dev/null)" == 1 ]] ||
      { [[ -d "$SYSMOD/$m" ]] && wfile "$SYSMOD/$m/refcnt" 0; }
  fi
  restack
  return 0
}

# settle [NAME]: complete overdue transitions (tolerance: half a simulated second, at most half the
# transition) so that kpatch's own 1-s polls count deterministically.
settle() { # [NAME [NOW_US]]
  local f m token start dur target pid now tol vnow="${2:-}"
  [[ -d "$ST/trans" ]] || return 0
  for f in "$ST/trans"/${1:-*}; do
    [[ -r "$f" ]] || continue
    read -r token start dur target pid <"$f" || continue
    [[ "$dur" == -1 ]] && continue
    now=${vnow:-$(now_us)}
    tol=$((SCALE_US / 2)); ((dur / 2 < tol)) && tol=$((dur / 2))
    if ((now - start >= dur - tol)); then
      lock
      m=${f##*/}
      if [[ -r "$f" ]] && read -r t2 _ _ _ _ <"$f" && [[ "$t2" == "$token" ]]; then
        complete_transition "$m" "$target"
        kill_flipper "$pid"
      fi
      unlock
    fi
  done
  return 0
}

# force a patch's transition (as writing 1 to <patch>/force)
k_force() {
  local m="$1" target
  [[ -r "$ST/trans/$m" ]] || return 1
  read -r _ _ _ target _ <"$ST/trans/$m"
  sed -i 's/^forced=.*/forced=1/' "$ST/mod/$m" 2>/dev/null
  complete_transition "$m" "$target"
  wfile "$SYSMOD/$m/refcnt" 1
}
