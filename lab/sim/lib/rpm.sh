# kpsim rpm database and kpatch-patch scriptlets (docs/kpatch-behaviour.md §4.3).  Sourced after common.sh.
# shellcheck shell=bash
RPMDB="$ST/rpmdb"
pget() { sed -n "s/^$2=//p" "$1"; } # pget FILE KEY
# pseudo packages always present: kernel(s), and kpatch when installed
pseudo_pkgs() {
  local k dist rel
  for k in $INSTALLED_KERNELS; do echo "kernel ${k%.*} ${k##*.} kernel-${k}"; done
  if kpatch_on; then
    dist=${KERNEL_RELEASE%.*}; dist=${dist##*.}
    [[ "$dist" =~ ^el([0-9]+) ]] && dist="el${BASH_REMATCH[1]}" || dist=""
    rel=${KPATCH_PKG_RELEASE:-1${dist:+.$dist}}
    echo "kpatch $KPATCH_VERSION-$rel noarch kpatch-$KPATCH_VERSION-$rel.noarch"
  fi
}
# installed kpatch-patch NVRAs
db_nvras() { local f; for f in "$RPMDB"/*; do [[ -r "$f" ]] && pget "$f" nvra; done; }
db_file_of_name() { [[ -r "$RPMDB/$1" ]] && echo "$RPMDB/$1"; }
# match SPEC against a package file: name, nvr, nvra, or "kpatch-patch = KVER"
pkg_matches() {
  local f="$1" s="$2" n v r a
  n=$(pget "$f" name) v=$(pget "$f" version) r=$(pget "$f" release) a=$(pget "$f" arch)
  case "$s" in
    "$n" | "$n-$v-$r" | "$n-$v-$r.$a" | "$n.$a") return 0 ;;
  esac
  if [[ "$s" =~ ^kpatch-patch\ *=\ *(.+)$ ]]; then
    local k; k=$(pget "$f" kernel)
    [[ "${BASH_REMATCH[1]}" == "$k" || "${BASH_REMATCH[1]}" == "${k%.*}" ]] && return 0
  fi
  # shellcheck disable=SC2053
  [[ "$n" == $s || "$n-$v-$r.$a" == $s ]]
}

run_kpatch() { KPSIM_UID=0 "$KPSIM_BIN/kpatch" "$@"; }

# %post of a kpatch-patch package (pkg file): never fails
scriptlet_post() {
  local f="$1" kver file mod x re loaded ours newest
  file=$(pget "$f" file); [[ -n "$file" ]] || return 0
  kver=$(pget "$f" kernel); mod=${file##*/}
  run_kpatch install -k "$kver" "$file"
  sync
  if [[ "$KERNEL_RELEASE" == "$kver" ]]; then
    x=${mod#kpatch-}; x=${x%-*-*.ko}   # 5_14_0-362_8_1
    re="^kpatch_${x/-/_}_([0-9_]+) \[enabled\]$"
    ours=${mod%.ko}; ours=${ours#kpatch-"$x"-}; ours=${ours//-/_}
    loaded=$(run_kpatch list 2>/dev/null | sed -n -E "s/$re/\1/p" | head -n 1)
    if [[ -n "$loaded" ]]; then
      newest=$(printf '%s\n%s\n' "${loaded//_/.}" "${ours//_/.}" | sort -V | tail -n 1)
      if [[ "$newest" != "${ours//_/.}" ]]; then
        echo "WARNING: at least one loaded kpatch-patch (kpatch_${x/-/_}_$loaded) has a newer version than the one being installed."
        echo "WARNING: You will have to reboot to load a downgraded kpatch-patch"
        return 0
      fi
    fi
    run_kpatch load "$mod"
  fi
  return 0
}
# The post-fail fault (SPEC.md): a %post that exits 1 before any of its work. As rpm 4.14/4.16
# and dnf 4 (RHEL 8/9) do, rpm warns, dnf reports the error and goes on: the package stays
# installed, its module in /usr/lib/kpatch, and dnf exits 0 (the caller must check the result).
scriptlet_post_fails() {
  echo "kpsim: post-fail fault: %post exits 1" >&2
  echo "warning: %post($(pget "$1" nvra)) scriptlet failed, exit status 1" >&2
  echo "Error in POSTIN scriptlet in rpm package $(pget "$1" name)" >&2
}
scriptlet_postun() {
  local f="$1" file kver
  file=$(pget "$f" file); [[ -n "$file" ]] || return 0
  kver=$(pget "$f" kernel)
  run_kpatch uninstall -k "$kver" "${file##*/}"
  sync
  return 0
}
