# kpsim kpatch.service model.  Sourced after common.sh.
# shellcheck shell=bash
SVC="$ST/service"
unit_exists() { kpatch_on && [[ "$KPATCH_UNIT" == 1 ]]; }
svc_enabled() { [[ -e "$SVC/kpatch.enabled" ]]; }
svc_state() { local s=inactive; [[ -r "$SVC/kpatch.active" ]] && read -r s <"$SVC/kpatch.active"; echo "$s"; }
unit_path() {
  if [[ "$KPATCH_FLAVOR" == rhel ]]; then echo /usr/lib/systemd/system/kpatch.service
  else echo /usr/local/lib/systemd/system/kpatch.service; fi
}
# run ExecStart=kpatch load --all as the service would (oneshot, RemainAfterExit); status
svc_start() {
  mkdir -p "$SVC"
  if grep -qw 'kpatch.enable=0' "$R/proc/cmdline" 2>/dev/null; then
    echo "kpatch.service: condition ConditionKernelCommandLine=!kpatch.enable=0 unmet" >>"$SVC/kpatch.log"
    return 0
  fi
  echo activating >"$SVC/kpatch.active"
  if KPSIM_UID=0 "$KPSIM_BIN/kpatch" load --all >>"$SVC/kpatch.log" 2>&1; then
    echo active >"$SVC/kpatch.active"; return 0
  fi
  echo failed >"$SVC/kpatch.active"
  return 1
}
