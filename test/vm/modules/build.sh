#!/usr/bin/env bash
# Build kpfleet's test livepatch modules out of tree against one Debian kernel's headers.
#
#   test/vm/modules/build.sh HEADERS_DIR OUT_DIR
#
#   HEADERS_DIR  e.g. /usr/src/linux-headers-6.1.0-56-amd64 (package linux-headers-<abi>)
#   OUT_DIR      receives kpfleet-lp-cmdline.ko, kpfleet-lp-cmdline-v2.ko, kpfleet-lp-version.ko
#
# The sources are copied to a temporary directory and built there, so this folder stays clean.
# Build output goes to stderr; stdout gets one line per module: "<file>: <vermagic>".
# Any error (missing headers, compiler, modpost, a module that is not a GPL livepatch for the
# headers' kernel release) fails the script.
set -euo pipefail

die() {
  echo "build.sh: error: $*" >&2
  exit 1
}

[ "$#" -eq 2 ] || die "usage: $0 HEADERS_DIR OUT_DIR"
headers=$1
out=$2
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ -f "$headers/Makefile" ] || die "$headers is not a kernel headers/build directory (no Makefile)"
# the kernel release the modules' vermagic will carry (Debian's include/config/kernel.release
# holds the upstream version, e.g. 6.1.192, not the ABI name; utsrelease.h holds the ABI name)
uts=$headers/include/generated/utsrelease.h
[ -f "$uts" ] || die "$headers has no include/generated/utsrelease.h"
release=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$uts")
[ -n "$release" ] || die "no UTS_RELEASE in $uts"
grep -qx 'CONFIG_LIVEPATCH=y' "$headers/.config" 2>/dev/null ||
  die "$headers: kernel $release is not built with CONFIG_LIVEPATCH=y"
command -v make >/dev/null || die "make not found"
command -v modinfo >/dev/null || die "modinfo not found (package kmod)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kpfleet-lp-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$src/Kbuild" "$src"/*.c "$tmp/"

echo "build.sh: building against $headers ($release)" >&2
# -j2 at most: this runs next to other builds on small CI machines
make -C "$headers" M="$tmp" -j2 modules >&2 || die "kbuild failed for $release"

mkdir -p "$out"
for pair in \
  kpfleet_lp_cmdline:kpfleet-lp-cmdline.ko \
  kpfleet_lp_cmdline_v2:kpfleet-lp-cmdline-v2.ko \
  kpfleet_lp_version:kpfleet-lp-version.ko; do
  name=${pair%%:*}
  file=${pair#*:}
  ko=$tmp/$name.ko
  [ -f "$ko" ] || die "$name.ko was not built"
  [ "$(modinfo -F name "$ko")" = "$name" ] || die "$name.ko: modinfo name is not $name"
  [ "$(modinfo -F livepatch "$ko")" = "Y" ] || die "$name.ko: modinfo livepatch is not Y"
  [ "$(modinfo -F license "$ko")" = "GPL" ] || die "$name.ko: modinfo license is not GPL"
  vermagic=$(modinfo -F vermagic "$ko")
  case "$vermagic" in
    "$release "*) ;;
    *) die "$name.ko: vermagic '$vermagic' does not start with '$release '" ;;
  esac
  cp "$ko" "$out/$file"
  echo "$file: $vermagic"
done
