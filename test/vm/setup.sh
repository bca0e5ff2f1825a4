#!/usr/bin/env bash
# test/vm/setup.sh [CACHE_DIR] — builds (and caches) what `npm run test:vm` boots (SPEC.md):
#   CACHE/kernel/<abi>/vmlinuz       Debian 12's stock kernel, the ABI linux-image-amd64 points at now
#   CACHE/kernel/<abi>/vmlinux       the same, decompressed (QEMU boots it through PVH: faster)
#   CACHE/initramfs.cpio.gz          busybox + the virtio/ext4 drivers + /init: mounts /dev/vda, switch_root
#   CACHE/disk-kpatch.img            the root file system (ext4): systemd, dbus, sshd, sudo, dash, coreutils,
#                                    flock, kmod, busybox, test/vm/kpatch and kpatch.service (enabled)
#   CACHE/disk-klp.img               the same root without kpatch: no utility, no unit, no /var/lib/kpatch
#   CACHE/keys/                      the VM's ssh host key and the tests' client key (never committed)
#   CACHE/modules/<abi>/*.ko, ABIS   test/vm/modules/build.sh output for this ABI and the previous one
#   CACHE/ABI                        the running kernel's release
# Idempotent: each piece is rebuilt only when what it is made of changed.
# Needs root for apt-get (packages are installed only when missing) and for the images' owners.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${1:-${KPFLEET_VM_CACHE:-$REPO/test/.vm-cache}}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
T0=$(date +%s%N)

say() { printf 'vm-setup: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}
[[ $(uname -m) == x86_64 ]] || die "needs an x86_64 machine (Debian's amd64 kernel under qemu-system-x86_64)"

# ---- packages ---------------------------------------------------------------------------------
APT_UPDATED=0
apt_update() {
	((APT_UPDATED)) && return 0
	say "apt-get update"
	apt-get update -qq >&2 || die "apt-get update failed"
	APT_UPDATED=1
}
installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }
ensure_packages() {
	local p missing=()
	for p in "$@"; do installed "$p" || missing+=("$p"); done
	((${#missing[@]})) || return 0
	[[ $(id -u) == 0 ]] || die "missing packages (${missing[*]}) and not root: install them with apt-get"
	say "apt-get install ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
		apt_update
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
			die "apt-get install ${missing[*]} failed"
	fi
}

# The ABI: whatever linux-image-amd64 depends on today (e.g. linux-image-6.1.0-56-amd64).
resolve_abi() {
	local out
	out=$(apt-cache depends linux-image-amd64 2>/dev/null) || true
	[[ "$out" =~ Depends:\ linux-image-([0-9][^[:space:]]*-amd64) ]] && echo "${BASH_REMATCH[1]}"
	return 0
}
ABI=$(resolve_abi)
if [[ -z "$ABI" ]]; then
	apt_update
	ABI=$(resolve_abi)
fi
[[ "$ABI" =~ ^([0-9]+\.[0-9]+\.[0-9]+-)([0-9]+)(-amd64)$ ]] || die "cannot resolve the ABI of linux-image-amd64 (got '$ABI')"
# The previous ABI (N-1, or the newest older one the archive still has): its headers build a
# module that must be refused by this kernel.
A_PRE=${BASH_REMATCH[1]} A_N=${BASH_REMATCH[2]} A_SUF=${BASH_REMATCH[3]}
PREV_ABI=""
for ((n = A_N - 1; n > 0 && n >= A_N - 5; n--)); do
	cand="$A_PRE$n$A_SUF"
	if installed "linux-headers-$cand" || apt-cache show --no-all-versions "linux-headers-$cand" >/dev/null 2>&1; then
		PREV_ABI=$cand
		break
	fi
done
[[ -n "$PREV_ABI" ]] || die "no linux-headers package for an ABI before $ABI"

ensure_packages qemu-system-x86 busybox-static cpio gzip xz-utils e2fsprogs openssh-server openssh-client \
	systemd systemd-sysv dbus-daemon dbus-system-bus-common \
	sudo kmod dash coreutils grep sed util-linux gcc make \
	linux-headers-amd64 "linux-headers-$ABI" "linux-headers-$PREV_ABI"

# ---- the kernel (downloaded, never installed on this machine) ---------------------------------
KDIR=$CACHE/kernel/$ABI
# the QEMU devices' drivers (virtio-pci, -blk, -net, -rng), and ext4 (which wants crc32c)
VM_MODULES=(virtio_pci virtio_blk virtio_net virtio_rng crc32c_generic ext4)
if [[ ! -e "$KDIR/.done" ]]; then
	say "kernel $ABI: apt-get download + dpkg-deb -x"
	rm -rf "$KDIR" "$CACHE/kernel/.work"
	W=$CACHE/kernel/.work
	mkdir -p "$W"
	if ! (
		cd "$W"
		apt-get download -q -o APT::Sandbox::User=root "linux-image-$ABI" >&2 ||
			apt-get download -q -o APT::Sandbox::User=root "linux-image-$ABI-unsigned" >&2
	); then
		# stale package lists (the archive moved on): update them and resolve the ABI again
		[[ -z "${KPFLEET_VM_SETUP_RETRIED:-}" ]] || die "apt-get download linux-image-$ABI failed"
		apt_update
		rm -rf "$W"
		KPFLEET_VM_SETUP_RETRIED=1 exec bash "${BASH_SOURCE[0]}" "$CACHE"
	fi
	deb=$(ls "$W"/linux-image-*.deb)
	dpkg-deb -x "$deb" "$W/x"
	[[ -f "$W/x/boot/vmlinuz-$ABI" && -d "$W/x/lib/modules/$ABI" ]] || die "$deb has no vmlinuz-$ABI"
	depmod -b "$W/x" "$ABI"
	# modprobe's order: for each module, its modules.dep list from the last entry to the first
	declare -A seen=()
	order=()
	add() {
		local path="$1" line deps i
		[[ -n "${seen[$path]:-}" ]] && return 0
		line=$(grep -m1 "^$path:" "$W/x/lib/modules/$ABI/modules.dep") || die "$path is not in modules.dep"
		read -r -a deps <<<"${line#*:}"
		for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add "${deps[i]}"; done
		seen[$path]=1
		order+=("$path")
	}
	for m in "${VM_MODULES[@]}"; do
		re=${m//[-_]/[-_]} # a module's file name may have - where its name has _
		p=$(grep -m1 -o "^[^:]*/$re\.ko" "$W/x/lib/modules/$ABI/modules.dep") ||
			grep -qx "[^ ]*/$re\.ko" "$W/x/lib/modules/$ABI/modules.builtin" ||
			die "module $m is neither modular nor built in"
		[[ -n "${p:-}" ]] && add "$p"
	done
	mkdir -p "$W/k/lib/modules/$ABI"
	for f in modules.order modules.builtin modules.builtin.modinfo; do
		cp "$W/x/lib/modules/$ABI/$f" "$W/k/lib/modules/$ABI/"
	done
	for p in "${order[@]}"; do
		mkdir -p "$W/k/lib/modules/$ABI/$(dirname "$p")"
		cp "$W/x/lib/modules/$ABI/$p" "$W/k/lib/modules/$ABI/$p"
	done
	depmod -b "$W/k" "$ABI"
	printf '%s\n' "${order[@]}" >"$W/k/modules.load"
	cp "$W/x/boot/vmlinuz-$ABI" "$W/k/vmlinuz"
	cp "$W/x/boot/config-$ABI" "$W/k/config"
	# The same kernel, decompressed: QEMU boots an ELF vmlinux through its PVH entry point
	# (CONFIG_PVH), which spares TCG the XZ decompression (about 4 s of each boot).
	if grep -q '^CONFIG_PVH=y' "$W/k/config" && grep -q '^CONFIG_KERNEL_XZ=y' "$W/k/config"; then
		off=$(grep -obUaP '\xfd7zXZ\x00' "$W/k/vmlinuz" | head -n1 | cut -d: -f1 || true)
		# (xz stops after the first stream: tail's SIGPIPE is expected, hence no pipefail here)
		[[ -n "$off" ]] && (
			set +o pipefail
			tail -c +$((off + 1)) "$W/k/vmlinuz" | xz -dc --single-stream >"$W/k/vmlinux" 2>/dev/null
		)
		if [[ ! -s "$W/k/vmlinux" || "$(head -c4 "$W/k/vmlinux" | od -An -c | tr -d ' ')" != '177ELF' ]]; then
			say "note: could not extract vmlinux from vmlinuz-$ABI: booting the bzImage"
			rm -f "$W/k/vmlinux"
		fi
	fi
	dpkg-deb -f "$deb" Package Version >"$W/k/package"
	mv "$W/k" "$KDIR"
	rm -rf "$W"
	touch "$KDIR/.done"
fi
grep -q '^CONFIG_LIVEPATCH=y' "$KDIR/config" || die "kernel $ABI has no CONFIG_LIVEPATCH"
printf '%s\n' "$ABI" >"$CACHE/ABI.tmp" && mv "$CACHE/ABI.tmp" "$CACHE/ABI"
# older ABIs' kernels are not needed any more
for d in "$CACHE"/kernel/*/; do
	[[ -d "$d" && "$(basename "$d")" != "$ABI" ]] && rm -rf "$d"
done

# ---- keys ---------------------------------------------------------------------------------------
K=$CACHE/keys
mkdir -p -m 700 "$K"
[[ -f $K/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C kpfleet-vm-host -f "$K/ssh_host_ed25519_key"
[[ -f $K/client_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C kpfleet-vm-client -f "$K/client_ed25519"
chmod 600 "$K/ssh_host_ed25519_key" "$K/client_ed25519"

# ---- the root file system (two disk templates) and the initramfs ---------------------------------
# Rebuilt when any input changed: this script, the kpatch script and unit, the rootfs and
# initramfs files, the kernel, the keys, or the host packages whose files they copy.
HOST_PKGS=(busybox-static dash coreutils grep sed util-linux kmod sudo openssh-server libc6 libpam0g libpam-modules
	systemd systemd-sysv libsystemd-shared libsystemd0 dbus-daemon dbus-bin dbus-system-bus-common e2fsprogs)
IMAGES=("$CACHE/initramfs.cpio.gz" "$CACHE/disk-kpatch.img" "$CACHE/disk-klp.img")
stamp=$(
	{
		cat "$HERE/setup.sh" "$HERE/kpatch" "$HERE/kpatch.service" "$KDIR/package" "$KDIR/modules.load" \
			"$K/ssh_host_ed25519_key.pub" "$K/client_ed25519.pub"
		(cd "$HERE" && find rootfs initramfs -type f -print0 | sort -z | xargs -0 sha256sum)
		dpkg-query -W "${HOST_PKGS[@]}"
	} | sha256sum | cut -d' ' -f1
)
images_current() {
	local f
	[[ "$(cat "$CACHE/image.stamp" 2>/dev/null)" == "$stamp" ]] || return 1
	for f in "${IMAGES[@]}"; do [[ -f "$f" ]] || return 1; done
}
# what older versions of this script left (the initramfs was the root, the disk only /var/lib)
rm -f "$CACHE/disk.img" "$CACHE/disk.stamp" "$CACHE/initramfs.stamp"
if ! images_current; then
	# ---- the root tree, both flavours: merged-/usr Debian 12, systemd as /sbin/init
	say "root file system for $ABI"
	S=$CACHE/.root-staging
	rm -rf "$S"
	mkdir -p "$S"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,proc,sys,dev,run,tmp,root,home/kpfleet/.ssh,var/lib,var/log,mnt}
	ln -s usr/bin "$S/bin"
	ln -s usr/sbin "$S/sbin"
	ln -s usr/lib "$S/lib"
	ln -s usr/lib64 "$S/lib64"
	chmod 700 "$S/root"

	ELFS=()
	put() { # host file → the same path in the VM (symlinks followed), remembered for ldd
		local src="$1" dst="${2:-$1}"
		mkdir -p "$S$(dirname "$dst")"
		cp -L --preserve=mode "$src" "$S$dst"
		ELFS+=("$S$dst")
	}
	# dash as /bin/sh, as on Debian
	put /usr/bin/dash
	ln -s dash "$S/usr/bin/sh"
	# coreutils, grep, sed, util-linux's getopt: what kpatch and kpfleet's commands run, as on Debian
	while read -r f; do
		[[ -f "$f" && -x "$f" ]] || continue
		real=$(readlink -f "$f")
		[[ -e "$S$real" ]] || put "$real"
	done < <(dpkg -L coreutils grep sed | grep -E '^/(usr/)?s?bin/')
	put /usr/bin/getopt
	# util-linux's flock: the host lock kpfleet takes (src/apply/lock.ts), as on every Debian and RHEL
	put /usr/bin/flock
	# kmod: insmod, rmmod, modinfo, lsmod, modprobe, depmod
	put /usr/bin/kmod
	for t in insmod rmmod modinfo modprobe depmod; do ln -s ../bin/kmod "$S/usr/sbin/$t"; done
	ln -s kmod "$S/usr/bin/lsmod"
	# sudo (setuid root) with its sudoers plugin, and PAM with pam_permit only
	put /usr/bin/sudo
	chmod 4755 "$S/usr/bin/sudo"
	for f in /usr/libexec/sudo/sudoers.so /usr/libexec/sudo/libsudo_util.so.0; do put "$f"; done
	put /usr/lib/x86_64-linux-gnu/security/pam_permit.so
	# OpenSSH's sshd (internal-sftp is built in)
	put /usr/sbin/sshd
	# systemd 252 (this machine's package): PID 1, its shutdown, journald, systemctl, journalctl;
	# systemd-sysv's links (/sbin/init, reboot, poweroff, halt, shutdown). No udev: the initramfs
	# mounted the root, and the VM has no device to wait for.
	for f in systemd systemd-shutdown systemd-journald; do put "/lib/systemd/$f" "/usr/lib/systemd/$f"; done
	put /usr/bin/systemctl
	put /usr/bin/journalctl
	ln -s ../lib/systemd/systemd "$S/usr/sbin/init"
	for t in reboot poweroff halt shutdown; do ln -s ../bin/systemctl "$S/usr/sbin/$t"; done
	# the D-Bus system bus, as on every Debian 12 with systemd: `systemctl is-enabled` and the
	# other queries of a user who is not root go through it
	put /usr/bin/dbus-daemon
	mkdir -p "$S/usr/share/dbus-1/system.d" "$S/etc/dbus-1/system.d"
	cp /usr/share/dbus-1/system.conf "$S/usr/share/dbus-1/"
	cp /usr/share/dbus-1/system.d/org.freedesktop.systemd1.conf "$S/usr/share/dbus-1/system.d/"
	# shared libraries of all of the above
	while read -r lib; do
		[[ -e "$S$lib" ]] || put "$lib"
	done < <(for e in "${ELFS[@]}"; do ldd "$e" 2>/dev/null || true; done |
		sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' | sort -u)
	# busybox for everything else (mount, ip, hostname…); never over a real tool
	put /bin/busybox /usr/bin/busybox
	while read -r a; do
		[[ -e "$S/$a" || -L "$S/$a" || "$a" == linuxrc ]] && continue
		mkdir -p "$S/$(dirname "$a")"
		ln -s /usr/bin/busybox "$S/$a"
	done < <(/bin/busybox --list-full)
	# the units: Debian's own files for the targets, journald and D-Bus; the VM's sshd and network
	# (rootfs/usr/lib/systemd/system). multi-user.target is the default.
	U=$S/usr/lib/systemd/system
	mkdir -p "$U" "$S/etc/systemd/system"
	for u in basic.target sysinit.target sockets.target timers.target paths.target slices.target \
		local-fs-pre.target local-fs.target swap.target network-pre.target network.target \
		network-online.target multi-user.target emergency.target rescue.target shutdown.target \
		umount.target final.target reboot.target poweroff.target halt.target \
		systemd-reboot.service systemd-poweroff.service systemd-halt.service \
		systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket systemd-journald-audit.socket \
		dbus.service dbus.socket; do
		cp "/lib/systemd/system/$u" "$U/"
	done
	ln -s reboot.target "$U/ctrl-alt-del.target"
	ln -s multi-user.target "$U/default.target"
	wants() { # unit in target's .wants folder, as `systemctl enable` (or the package) links it
		mkdir -p "$S/$1/$2.wants"
		ln -s "/lib/systemd/system/$3" "$S/$1/$2.wants/$3"
	}
	wants usr/lib/systemd/system sysinit.target systemd-journald.service
	wants usr/lib/systemd/system sockets.target systemd-journald.socket
	wants usr/lib/systemd/system sockets.target systemd-journald-dev-log.socket
	wants usr/lib/systemd/system sockets.target systemd-journald-audit.socket
	wants usr/lib/systemd/system sockets.target dbus.socket
	wants usr/lib/systemd/system multi-user.target dbus.service
	# the kernel modules for the QEMU devices (the initramfs loaded them): /lib/modules lists the
	# one installed kernel
	cp -a "$KDIR/lib" "$S/usr/"
	# configuration
	cp -a "$HERE/rootfs/." "$S/"
	wants etc/systemd/system multi-user.target ssh.service
	ln -s /lib/systemd/system/ssh.service "$S/etc/systemd/system/sshd.service"
	wants etc/systemd/system multi-user.target kpfleet-vm-network.service
	# one machine id for every VM of this cache: a boot is never a first boot (no presets run)
	printf '%s\n' "${stamp:0:32}" >"$S/etc/machine-id"
	chmod 640 "$S/etc/shadow"
	chmod 440 "$S/etc/sudoers" "$S/etc/sudoers.d/kpfleet"
	chmod 750 "$S/etc/sudoers.d"
	install -m 600 "$K/ssh_host_ed25519_key" "$S/etc/ssh/ssh_host_ed25519_key"
	install -m 644 "$K/ssh_host_ed25519_key.pub" "$S/etc/ssh/ssh_host_ed25519_key.pub"
	install -m 600 "$K/client_ed25519.pub" "$S/home/kpfleet/.ssh/authorized_keys"
	chmod 700 "$S/home/kpfleet/.ssh"
	chmod 755 "$S/home/kpfleet"
	chown -R 1000:1000 "$S/home/kpfleet"
	chmod 1777 "$S/tmp"
	ln -s ../run "$S/var/run"
	ln -s ../run/lock "$S/var/lock"

	# ---- the disk templates: ext4 as on the hosts of issue 15 (journal, delayed allocation: what
	# is not synced is lost in a crash). klp: no kpatch at all; kpatch: test/vm/kpatch and
	# kpatch.service, enabled.
	mib=$(($(du -sm "$S" | cut -f1) + 128))
	mkdisk() {
		rm -f "$CACHE/$1.tmp"
		mke2fs -q -F -t ext4 -T default -L kpfleet-root -E root_owner=0:0 -d "$S" "$CACHE/$1.tmp" "${mib}M" >&2
		mv "$CACHE/$1.tmp" "$CACHE/$1"
		say "$1: ${mib} MiB ext4, $(du -m "$CACHE/$1" | cut -f1) MiB used"
	}
	mkdisk disk-klp.img
	install -m 755 "$HERE/kpatch" "$S/usr/sbin/kpatch"
	install -m 644 "$HERE/kpatch.service" "$U/kpatch.service"
	wants etc/systemd/system multi-user.target kpatch.service
	mkdisk disk-kpatch.img
	say "root tree: $(du -sh "$S" | cut -f1)"
	rm -rf "$S"

	# ---- the initramfs: busybox, the drivers, /init (mount /dev/vda, switch_root to systemd)
	I=$CACHE/.initramfs-staging
	rm -rf "$I"
	mkdir -p "$I"/{usr/bin,usr/sbin,usr/lib,etc/kpfleet-vm,proc,sys,dev,newroot}
	ln -s usr/bin "$I/bin"
	ln -s usr/sbin "$I/sbin"
	ln -s usr/lib "$I/lib"
	cp /bin/busybox "$I/usr/bin/busybox"
	while read -r a; do
		[[ -e "$I/$a" || -L "$I/$a" || "$a" == linuxrc ]] && continue
		mkdir -p "$I/$(dirname "$a")"
		ln -s /usr/bin/busybox "$I/$a"
	done < <(/bin/busybox --list-full)
	cp -a "$KDIR/lib" "$I/usr/"
	cp "$KDIR/modules.load" "$I/etc/kpfleet-vm/modules"
	install -m 755 "$HERE/initramfs/init" "$I/init"
	(cd "$I" && find . -mindepth 1 -print0 | sort -z | cpio --null -o -H newc -R 0:0 --quiet) |
		gzip -6 >"$CACHE/initramfs.cpio.gz.tmp"
	mv "$CACHE/initramfs.cpio.gz.tmp" "$CACHE/initramfs.cpio.gz"
	say "initramfs: $(du -sh "$I" | cut -f1) → $(du -h "$CACHE/initramfs.cpio.gz" | cut -f1)"
	rm -rf "$I"
	printf '%s\n' "$stamp" >"$CACHE/image.stamp"
fi

# ---- the livepatch modules (test/vm/modules) ------------------------------------------------
BUILD=$HERE/modules/build.sh
if [[ -f "$BUILD" ]]; then
	mstamp=$(
		{
			printf '%s %s\n' "$ABI" "$PREV_ABI"
			dpkg-query -W "linux-headers-$ABI" "linux-headers-$PREV_ABI" gcc
			(cd "$HERE/modules" && find . -type f ! -name '*.o' ! -name '*.ko' ! -name '*.mod*' ! -name '.*' -print0 |
				sort -z | xargs -0 sha256sum)
		} | sha256sum | cut -d' ' -f1
	)
	if [[ "$(cat "$CACHE/modules/.stamp" 2>/dev/null)" != "$mstamp" ]]; then
		rm -rf "$CACHE/modules"
		mkdir -p "$CACHE/modules"
		for a in "$ABI" "$PREV_ABI"; do
			say "livepatch modules for $a: test/vm/modules/build.sh"
			bash "$BUILD" "/usr/src/linux-headers-$a" "$CACHE/modules/$a" >&2 ||
				die "test/vm/modules/build.sh /usr/src/linux-headers-$a failed"
		done
		printf '%s\n%s\n' "$ABI" "$PREV_ABI" >"$CACHE/modules/ABIS"
		printf '%s\n' "$mstamp" >"$CACHE/modules/.stamp"
	fi
else
	say "note: test/vm/modules/build.sh does not exist yet: no livepatch modules built"
fi

say "ready: kernel $ABI (previous ABI $PREV_ABI), cache $CACHE, $((($(date +%s%N) - T0) / 1000000)) ms"
