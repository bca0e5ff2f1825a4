# kpsim systemd model for unit files other than kpatch.service (lab/SPEC.md "systemctl").
# Sourced after common.sh.
# shellcheck shell=bash
# Unit files are read from the host's /etc/systemd/system, then /usr/lib/systemd/system, at every
# command (no cache: a missing daemon-reload is not noticed). Enabled = a symlink in
# /etc/systemd/system/<target>.wants/ for each WantedBy= (as systemctl enable makes it). Runtime
# state (active, inactive, failed) and the output of ExecStart= are in $ST/units/.
ETC_UNITS="$R/etc/systemd/system"
LIB_UNITS="$R/usr/lib/systemd/system"
UST="$ST/units"

# unit_norm NAME: the unit's full name (".service" added to a bare name)
unit_norm() { if [[ "$1" == *.* ]]; then echo "$1"; else echo "$1.service"; fi; }
# unit_file UNIT: the unit file's real path (first of /etc, /usr/lib); status 1 if none
unit_file() {
  local d
  for d in "$ETC_UNITS" "$LIB_UNITS"; do
    [[ -f "$d/$1" ]] && { echo "$d/$1"; return 0; }
  done
  return 1
}
# unit_values FILE SECTION KEY: every value of KEY in [SECTION], one a line (an empty
# assignment resets the list, as systemd does)
unit_values() {
  local f="$1" sec="$2" key="$3" line cur="" k v vals=()
  while IFS= read -r line || [[ -n "$line" ]]; do
    line=${line#"${line%%[![:space:]]*}"}
    [[ -z "$line" || "$line" == [#\;]* ]] && continue
    if [[ "$line" == \[*\] ]]; then cur=${line:1:${#line}-2}; continue; fi
    [[ "$cur" == "$sec" && "$line" == *=* ]] || continue
    k=${line%%=*} v=${line#*=}
    k=${k%"${k##*[![:space:]]}"}
    v=${v#"${v%%[![:space:]]*}"}
    [[ "$k" == "$key" ]] || continue
    if [[ -z "$v" ]]; then vals=(); else vals+=("$v"); fi
  done <"$f"
  ((${#vals[@]})) && printf '%s\n' "${vals[@]}"
  return 0
}
# unit_targets FILE: the targets of its WantedBy= (words)
unit_targets() { local l; for l in $(unit_values "$1" Install WantedBy); do echo "$l"; done; }
unit_is_enabled() {
  local t
  for t in $(unit_targets "$2"); do [[ -L "$ETC_UNITS/$t.wants/$1" ]] && return 0; done
  return 1
}
unit_state() {
  local s=inactive pid
  [[ -r "$UST/$1.active" ]] && read -r s <"$UST/$1.active"
  if [[ "$s" == running && -r "$UST/$1.pid" ]]; then
    read -r pid <"$UST/$1.pid"
    if kill -0 "$pid" 2>/dev/null; then s=active; elif [[ "$(rfile "$UST/$1.rc")" == 0 ]]; then s=inactive; else s=failed; fi
  fi
  echo "$s"
}
# cmdline_has ARG: systemd's ConditionKernelCommandLine= test against the host's /proc/cmdline:
# ARG with "=" must be a word of it; a bare ARG matches the word ARG or any ARG=...
cmdline_has() {
  local w words=""
  read -r words <"$R/proc/cmdline" 2>/dev/null || true
  for w in $words; do
    if [[ "$1" == *=* ]]; then [[ "$w" == "$1" ]] && return 0
    else [[ "$w" == "$1" || "$w" == "$1="* ]] && return 0; fi
  done
  return 1
}
# unit_conditions UNIT FILE: status 0 if every ConditionKernelCommandLine= holds ("!" negates);
# prints the first that does not
unit_conditions() {
  local c a neg
  while IFS= read -r c; do
    [[ -n "$c" ]] || continue
    a=${c#|} neg=0
    [[ "$a" == '!'* ]] && { neg=1; a=${a#!}; }
    if cmdline_has "$a"; then ((neg)) || continue; else ((neg)) && continue; fi
    echo "ConditionKernelCommandLine=$c"
    return 1
  done < <(unit_values "$2" Unit ConditionKernelCommandLine)
  return 0
}
# unit_start UNIT FILE: systemctl start (the caller checked root); status as systemctl's
unit_start() {
  local u="$1" f="$2" type remain failed=0 cmd c ign unmet
  mkdir -p "$UST"
  if ! unmet=$(unit_conditions "$u" "$f"); then
    echo inactive >"$UST/$u.active"
    echo "$unmet" >"$UST/$u.condition"
    printf '%s was skipped because of an unmet condition check (%s).\n' "$u" "$unmet" >>"$UST/$u.log"
    return 0
  fi
  rm -f "$UST/$u.condition"
  type=$(unit_values "$f" Service Type | tail -n 1)
  remain=$(unit_values "$f" Service RemainAfterExit | tail -n 1)
  if [[ "${type:-simple}" != oneshot ]]; then
    c=$(unit_values "$f" Service ExecStart | tail -n 1)
    c=${c#[-@:+!]}
    setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin KPSIM_UID=0 \
      KPSIM_ROOT="$R" /bin/sh -c "cd /; $c; echo \$? >'$UST/$u.rc'" </dev/null >>"$UST/$u.log" 2>&1 &
    echo $! >"$UST/$u.pid"
    echo running >"$UST/$u.active"
    return 0
  fi
  echo activating >"$UST/$u.active"
  while IFS= read -r cmd; do
    ign=0
    while [[ "$cmd" == [-@:+!]* ]]; do [[ "$cmd" == -* ]] && ign=1; cmd=${cmd:1}; done
    if ! env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin KPSIM_UID=0 \
      KPSIM_ROOT="$R" /bin/sh -c "cd /; $cmd" </dev/null >>"$UST/$u.log" 2>&1; then
      ((ign)) || { failed=1; break; }
    fi
  done < <(unit_values "$f" Service ExecStart)
  if ((failed)); then
    echo failed >"$UST/$u.active"
    echo "Job for $u failed because the control process exited with error code." >&2
    echo "See \"systemctl status $u\" and \"journalctl -xeu $u\" for details." >&2
    return 1
  fi
  if [[ "$remain" == yes || "$remain" == true || "$remain" == 1 || "$remain" == on ]]; then
    echo active >"$UST/$u.active"
  else
    echo inactive >"$UST/$u.active"
  fi
  return 0
}
unit_stop() {
  local pid
  if [[ -r "$UST/$1.pid" ]]; then
    read -r pid <"$UST/$1.pid"
    kill -- -"$pid" 2>/dev/null
    rm -f "$UST/$1.pid" "$UST/$1.rc"
  fi
  mkdir -p "$UST"
  echo inactive >"$UST/$1.active"
}
# units_boot: what multi-user.target pulls in at boot, in name order (kpatch.service by its own
# model, service.sh): prints the unit names
units_boot() {
  local l n
  {
    unit_exists && svc_enabled && echo kpatch.service
    for l in "$ETC_UNITS/multi-user.target.wants"/*; do
      [[ -L "$l" ]] || continue
      n=${l##*/}
      [[ "$n" == kpatch.service ]] || echo "$n"
    done
  } | LC_ALL=C sort -u
}
