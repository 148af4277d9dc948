#!/bin/bash
# tests/vm/run-guest.sh - `make check-vm`: boot Debian bookworm's own kernel
# (6.1, CONFIG_MEM_SOFT_DIRTY=y) under QEMU with a busybox initramfs that holds
# this build's tools, test targets, bash and bats, run every bats test tagged
# needs:soft-dirty plus a smoke run of the whole pipeline, and bring the
# results (TAP, the smoke core) back over a 9p share.
#
# The machines livecore is developed on run a kernel without soft-dirty; this
# is where the soft-dirty path is tested for real.
#
# Environment: LIVECORE_BUILD (default build), ACCEL=auto|kvm|tcg, MEM (MiB),
# SMP, TIMEOUT (s), VM_CACHE (where the kernel .deb is kept; default
# $LIVECORE_BUILD/vm-cache), BATS_FILTER_TAGS (default needs:soft-dirty).
# Exit status: 0 all guest tests passed, 1 a guest test failed, 2 the guest
# could not be built or did not come back.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${LIVECORE_BUILD:-$TOP/build}" && pwd)
CACHE=${VM_CACHE:-$BUILD/vm-cache}
ACCEL=${ACCEL:-auto}
MEM=${MEM:-1536}
SMP=${SMP:-2}
TIMEOUT=${TIMEOUT:-900}
TAGS=${BATS_FILTER_TAGS:-needs:soft-dirty}
W=$BUILD/vm
OUT=$W/out

die() { echo "check-vm: $*" >&2; exit 2; }

# One guest at a time per build directory: a second run would delete the
# first one's initramfs and results under it (and two TCG guests on a small
# machine only slow each other down). The lock goes with the process.
exec 9>"$BUILD/vm.lock"
if ! flock -n 9; then
	echo "check-vm: another check-vm is running in $BUILD; waiting for it"
	flock 9
fi

# KVM only where it is real VT-x/AMD-V: a paravirtual /dev/kvm (kvm-pvm, as
# on the machines here) cannot run a stock kernel ("emulation failure").
if [ "$ACCEL" = auto ]; then
	if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		ACCEL=kvm
	else
		ACCEL=tcg
	fi
fi
echo "check-vm: accelerator $ACCEL"

for cmd in qemu-system-x86_64 cpio depmod xz apt-get dpkg; do
	command -v "$cmd" >/dev/null || die "needs $cmd (tests/deps.sh vm installs it)"
done
[ -x /bin/busybox ] || die "needs busybox-static (tests/deps.sh vm installs it)"
for t in lc-maps lc-precopy lc-freeze lc-elfwrite livecore.sh; do
	[ -x "$BUILD/bin/$t" ] || die "no $BUILD/bin/$t: run make first"
done

# ---- the kernel: Debian's own package, unpacked (nothing is installed) ----
mkdir -p "$CACHE" "$W"
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$KPKG" ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	KPKG=$(apt-cache depends linux-image-amd64 |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
KVER=${KPKG#linux-image-}
K=$CACHE/$KPKG
if ! [ -f "$K/boot/vmlinuz-$KVER" ]; then
	(cd "$CACHE" && rm -f "${KPKG}"_*.deb && apt-get download "$KPKG" >/dev/null) ||
		die "apt-get download $KPKG failed"
	rm -rf "$K"
	dpkg -x "$CACHE/${KPKG}"_*.deb "$K"
fi
grep -q '^CONFIG_MEM_SOFT_DIRTY=y' "$K/boot/config-$KVER" ||
	die "$KPKG lacks CONFIG_MEM_SOFT_DIRTY"
[ -f "$K/lib/modules/$KVER/modules.dep" ] || depmod -b "$K" "$KVER"
# Boot the uncompressed vmlinux through its PVH entry: no real-mode setup or
# decompressor, about 3 s faster under TCG than the bzImage.
VMLINUX=$K/vmlinux-$KVER
if ! [ -s "$VMLINUX" ]; then
	off=$(LC_ALL=C grep -abo $'\xfd''7zXZ' "$K/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1)
	[ -n "$off" ] || die "no xz stream in vmlinuz-$KVER"
	# xz complains about the bytes after the stream; the output is complete
	tail -c +$((off + 1)) "$K/boot/vmlinuz-$KVER" | xz -dc >"$VMLINUX" 2>/dev/null || true
	head -c 4 "$VMLINUX" | grep -q ELF || die "could not extract vmlinux"
fi

# ---- the initramfs ----
R=$W/root
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,mnt,modules,lib64,lib/x86_64-linux-gnu,usr/lib,usr/libexec,root}
cp /bin/busybox "$R/bin/busybox"
mknod "$R/dev/console" c 5 1

copy_with_libs() { # binary destination-dir
	local lib
	cp -L "$1" "$2/"
	# scripts and static binaries have no libraries (ldd fails on them)
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
		case $lib in
		/lib64/*) [ -e "$R/lib64/${lib##*/}" ] || cp -L "$lib" "$R/lib64/" ;;
		*) [ -e "$R/lib/x86_64-linux-gnu/${lib##*/}" ] || cp -L "$lib" "$R/lib/x86_64-linux-gnu/" ;;
		esac
	done
}
copy_with_libs /bin/bash "$R/bin"
mkdir -p "$R/livecore/build/bin" "$R/livecore/build/targets"
for f in "$BUILD"/bin/*; do copy_with_libs "$f" "$R/livecore/build/bin"; done
for f in "$BUILD"/targets/*; do
	[ -f "$f" ] && [ -x "$f" ] && copy_with_libs "$f" "$R/livecore/build/targets"
done
cp -r "$TOP/tests" "$R/livecore/tests"
rm -rf "$R/livecore/tests/vm"
cp -L /usr/bin/bats "$R/usr/bin/bats"
cp -a /usr/lib/bats-core "$R/usr/lib/"
cp -a /usr/libexec/bats-core "$R/usr/libexec/"
cp -a /usr/lib/bats "$R/usr/lib/"   # bats-support, bats-assert

: >"$R/modules/load-order"
for mod in virtio_pci 9pnet_virtio 9p; do
	modprobe -d "$K" -S "$KVER" --show-depends "$mod"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
	cp "$ko" "$R/modules/"
	basename "$ko" >>"$R/modules/load-order"
done

cat >"$R/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/livecore/build/bin:/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb
export LIVECORE_BUILD=/livecore/build
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=70% tmpfs /tmp
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
for m in \$(cat /modules/load-order); do insmod /modules/\$m || echo "GUEST: insmod \$m failed"; done
mkdir -p /results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /results ||
	echo "GUEST: 9p mount failed"
echo "GUEST: kernel \$(uname -r), thp \$(cat /sys/kernel/mm/transparent_hugepage/enabled)"
cd /livecore
bats --tap --filter-tags '$TAGS' tests/bats >/results/guest.tap 2>&1
echo "bats=\$?" >/results/rc
cat /results/guest.tap
sh tests/vm/smoke.sh /results >/results/smoke.log 2>&1
echo "smoke=\$?" >>/results/rc
cat /results/smoke.log
echo "GUEST_RC \$(tr '\n' ' ' </results/rc)"
sync
umount /results
poweroff -f
INIT
chmod +x "$R/init"
mkdir -p "$R/livecore/tests/vm"
cp "$TOP/tests/vm/smoke.sh" "$R/livecore/tests/vm/"
(cd "$R" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet | gzip -1) >"$W/initrd.gz"

# ---- boot ----
rm -rf "$OUT"
mkdir -p "$OUT"
QEMU=(qemu-system-x86_64 -accel "$ACCEL" -m "$MEM" -smp "$SMP" -nographic -no-reboot
	-kernel "$VMLINUX" -initrd "$W/initrd.gz"
	-append "console=ttyS0 panic=-1 quiet transparent_hugepage=always"
	-virtfs "local,path=$OUT,mount_tag=results,security_model=none,id=results")
[ "$ACCEL" = tcg ] && QEMU+=(-cpu max)
echo "check-vm: booting $KPKG ($(du -h "$W/initrd.gz" | cut -f1) initramfs)"
t0=$(date +%s)
set +e
timeout --foreground -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tr -d '\r' >"$OUT/console.log"
qrc=${PIPESTATUS[0]}
set -e
echo "check-vm: guest ran $(($(date +%s) - t0)) s (qemu status $qrc); console: $OUT/console.log"
[ "$qrc" = 124 ] && { tail -20 "$OUT/console.log"; die "the guest timed out after $TIMEOUT s"; }
[ -f "$OUT/rc" ] || { tail -40 "$OUT/console.log"; die "the guest did not come back (no results)"; }
cat "$OUT/guest.tap"
echo "--- smoke run in the guest:"
cat "$OUT/smoke.log"
# the smoke core, read on the host by gdb
if [ -f "$OUT/smoke.core" ] && command -v gdb >/dev/null; then
	echo "--- gdb on the host reads the guest's core:"
	gdb -q -batch -ex 'thread apply all bt' "$BUILD/targets/lc-target" "$OUT/smoke.core" 2>&1 |
		grep -E '^(Thread|#)' | tee "$OUT/smoke-gdb.txt"
	grep -q 'lc_' "$OUT/smoke-gdb.txt" || { echo "check-vm: gdb found no lc-target frames in the guest's core"; exit 1; }
fi
tests_run=$(grep -c '^ok\|^not ok' "$OUT/guest.tap" || true)
skipped=$(grep -c '# skip' "$OUT/guest.tap" || true)
echo "check-vm: $tests_run guest tests, $skipped skipped; $(cat "$OUT/rc" | tr '\n' ' ')"
# This guest exists to have soft-dirty: a test that skips for the want of
# it means the guest or the detection broke, and the path went untested.
if grep -q '# skip needs: soft-dirty' "$OUT/guest.tap"; then
	echo "check-vm: tests skipped for want of soft-dirty in the soft-dirty guest"
	exit 1
fi
if grep -q '^bats=0$' "$OUT/rc" && grep -q '^smoke=0$' "$OUT/rc" && [ "$tests_run" -gt 0 ]; then
	exit 0
fi
exit 1
