#!/bin/bash
# Presents one simulated host's state at the real paths, inside a private mount namespace, then
# runs a command there (sshd for the real-SSH fleet, `sh -c CMD` for the in-process lab).
#
#   unshare -m --propagation private ns-setup.sh HOST_DIR -- COMMAND...      (as root)
#   unshare -Urm --propagation private ns-setup.sh HOST_DIR -- COMMAND...    (as any user)
#
# HOST_DIR is reachable in the namespace as /run/kpsim-host (commands should use that path), and
# this folder (test/fleet: the simulator) as /run/kpsim-fleet.
# HOST_DIR/root is the host's simulator root (lab/SPEC.md): its sys/kernel, sys/module, sys/firmware,
# var/lib/kpatch, var/lib/kpsim, usr/lib/kpatch (not on a host without kpatch: there they are
# hidden), etc/systemd/system, usr/lib/systemd/system, lib/modules (its installed kernels, not this
# machine's), proc/cmdline, proc/sys/kernel/tainted and
# proc/sys/kernel/random/boot_id are
# bound over the real paths, HOST_DIR/bin (the host's commands: kpatch, uname, dnf, ...) over
# /usr/local/bin and its uname over /usr/bin/uname, and HOST_DIR/sudoers.d (if present) over
# /etc/sudoers.d, and HOST_DIR/root/etc/os-release (if present) over /etc/os-release. Nothing outside the namespace changes: a mount point that does not exist on
# this machine is made inside an overlay of its parent, never on the real filesystem.
set -euo pipefail

host=${1:?usage: ns-setup.sh HOST_DIR -- COMMAND...}
shift
[ "${1:-}" = "--" ] && shift
host=$(readlink -f "$host")
scratch=$host/.ns
mkdir -p "$scratch"
# Overlay scratch space private to this namespace: several namespaces of one host (the lab
# runs each command in its own) must never share an overlay's work directory.
mount -t tmpfs -o size=1m,mode=755 kpsim-scratch "$scratch"

# The parent folders whose overlay already holds new mount points (one overlay per parent).
declare -A overlaid=()

overlay() { # DIR: an overlay of DIR whose changes stay in this namespace's scratch space
  local parent=$1 key
  [ -n "${overlaid[$parent]:-}" ] && return 0
  key=${parent//\//_}
  mkdir -p "$scratch/upper$key" "$scratch/work$key"
  mount -t overlay overlay -o "lowerdir=$parent,upperdir=$scratch/upper$key,workdir=$scratch/work$key" "$parent"
  overlaid[$parent]=1
}

mountpoint_for() { # DST KIND(dir|file): make sure DST exists, overlaying its parent if needed
  local dst=$1 kind=$2 parent
  [ -e "$dst" ] && return 0
  parent=$(dirname "$dst")
  overlay "$parent"
  if [ "$kind" = dir ]; then mkdir -p "$dst"; else touch "$dst"; fi
}

# Every mount point is made before the first bind: making one may overlay its parent folder,
# and an overlay made later would hide the binds already made below that parent (a machine
# that has /var/lib/kpatch, but no /var/lib/kpsim, would show every host its own empty
# /var/lib/kpatch).
FLEET_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
ALIAS=/run/kpsim-host
mountpoint_for "$ALIAS" dir
mountpoint_for /run/kpsim-fleet dir
# The host folder is reached through the alias from here on: the host gets private /tmp,
# /var/tmp and /home below, and its folder may well be inside one of them.
mount --rbind "$host" "$ALIAS" # recursive: the scratch tmpfs comes along
host=$ALIAS
# The simulator itself likewise: the host's bin/ links point into /run/kpsim-fleet.
mount --bind "$FLEET_DIR" /run/kpsim-fleet
root=$host/root
scratch=$host/.ns

# A host without kpatch (profile KPATCH_INSTALLED=0, the klp profiles) has no /var/lib/kpatch
# and no /usr/lib/kpatch: they are not made, and hidden if this machine has them.
kpatch_host=1
grep -qx 'KPATCH_INSTALLED=0' "$root/var/lib/kpsim/profile" 2>/dev/null && kpatch_host=0
mkdir -p "$root/sys/kernel" "$root/sys/module" "$root/sys/firmware" "$root/var/lib/kpsim" \
  "$root/proc/sys/kernel" "$root/tmp" "$root/var/tmp" "$root/var/lib/kpfleet" \
  "$root/home" "$root/etc/systemd/system" "$root/usr/lib/systemd/system" "$root/lib/modules"
[ "$kpatch_host" = 0 ] || mkdir -p "$root/var/lib/kpatch" "$root/usr/lib/kpatch"
chmod 1777 "$root/tmp" "$root/var/tmp"
[ -e "$root/proc/cmdline" ] || echo "BOOT_IMAGE=(hd0,gpt2)/vmlinuz ro quiet" >"$root/proc/cmdline"
[ -e "$root/proc/sys/kernel/tainted" ] || echo 0 >"$root/proc/sys/kernel/tainted"
mkdir -p "$root/proc/sys/kernel/random"
[ -s "$root/proc/sys/kernel/random/boot_id" ] || cat /proc/sys/kernel/random/uuid >"$root/proc/sys/kernel/random/boot_id"

binds=( # SRC DST pairs
  "$root/sys/kernel" /sys/kernel
  "$root/sys/module" /sys/module
  "$root/sys/firmware" /sys/firmware
  "$root/var/lib/kpsim" /var/lib/kpsim
  "$root/etc/systemd/system" /etc/systemd/system
  "$root/usr/lib/systemd/system" /usr/lib/systemd/system
  "$root/lib/modules" /lib/modules
  "$root/proc/cmdline" /proc/cmdline
  "$root/proc/sys/kernel/tainted" /proc/sys/kernel/tainted
  "$root/proc/sys/kernel/random/boot_id" /proc/sys/kernel/random/boot_id
)
[ "$kpatch_host" = 0 ] || binds+=("$root/var/lib/kpatch" /var/lib/kpatch "$root/usr/lib/kpatch" /usr/lib/kpatch)
if [ -d "$host/bin" ]; then
  binds+=("$host/bin" /usr/local/bin)
  if [ -e "$host/bin/uname" ]; then # absolute /usr/bin/uname too, through the host's own
    printf '#!/bin/sh\nexec /usr/local/bin/uname "$@"\n' >"$scratch/uname"
    chmod 755 "$scratch/uname"
    binds+=("$scratch/uname" /usr/bin/uname)
  fi
fi
[ -d "$host/sudoers.d" ] && binds+=("$host/sudoers.d" /etc/sudoers.d)
# The host's distribution (lab/sim-host.ts osReleaseFor), when its kernel names one.
[ -f "$root/etc/os-release" ] && binds+=("$root/etc/os-release" /etc/os-release)
# The host's own home, temporary folders and kpfleet's folder (hosts share nothing).
binds+=(
  "$root/var/lib/kpfleet" /var/lib/kpfleet
  "$root/home" /home
  "$root/var/tmp" /var/tmp
  "$root/tmp" /tmp
)
if [ "$kpatch_host" = 0 ]; then
  for gone in /var/lib/kpatch /usr/lib/kpatch; do
    [ -e "$gone" ] || continue
    overlay "$(dirname "$gone")" # the removal is a whiteout in this namespace's overlay
    [ -n "${overlaid[$(dirname "$gone")]:-}" ] && rm -rf -- "$gone"
  done
fi
for ((i = 0; i < ${#binds[@]}; i += 2)); do
  kind=dir
  [ -d "${binds[i]}" ] || kind=file
  mountpoint_for "${binds[i + 1]}" "$kind"
done
for ((i = 0; i < ${#binds[@]}; i += 2)); do mount --bind "${binds[i]}" "${binds[i + 1]}"; done
# Fault disk-full (SPEC.md): the writable places an upload can go are full.
if [ -e "$root/var/lib/kpsim/faults/disk-full" ]; then
  for d in /tmp /var/tmp /var/lib/kpfleet /home/*; do mount -t tmpfs -o size=4k,mode=1777 tmpfs "$d"; done
fi

# a session starts in the login user's home, as sshd starts it (the lab passes HOME)
cd "${HOME:-/}" 2>/dev/null || cd /
exec "$@"
