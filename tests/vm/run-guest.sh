#!/bin/bash
# tests/vm/run-guest.sh [x86_64|aarch64] - boot a Debian kernel under QEMU
# with a busybox initramfs that holds a build's tools, test targets, bash and
# bats, run the bats tests tagged for that guest plus a smoke run of the whole
# pipeline, and bring the results (TAP, the smoke core) back over a 9p share.
#
#   x86_64 (`make check-vm`): bookworm's own kernel (6.1,
#     CONFIG_MEM_SOFT_DIRTY=y); the tests tagged needs:soft-dirty. The
#     machines livecore is developed on run a kernel without soft-dirty;
#     this is where the soft-dirty path is tested for real.
#   aarch64 (`make check-vm-arm64`): bookworm-backports' arm64 kernel
#     (6.12: userfaultfd write-protect, PAGEMAP_SCAN) under
#     qemu-system-aarch64 (TCG), the cross build (build-aarch64/), an arm64
#     userland unpacked from Debian's packages; the tests tagged vm:arm64.
#     The smoke core is read on the host by gdb-multiarch: every thread's
#     backtrace, a TLS variable, a register.
#
# Debian's packages come through an apt configuration of this script's own
# (tests/vm/apt/, the suites named there; lists and downloads under
# VM_CACHE): nothing is installed, and the system's apt is not touched.
#
# Environment: LIVECORE_BUILD (default build, or build-aarch64), ACCEL=auto|kvm|tcg,
# MEM (MiB), SMP, TIMEOUT (s), VM_CACHE (where the packages are kept; default
# $LIVECORE_BUILD/vm-cache), BATS_FILTER_TAGS (default needs:soft-dirty,
# vm:arm64, or vm:arm64-16k), KERNEL_FLAVOUR (aarch64: 16k boots Debian's
# kernel with 16 KiB pages, linux-image-arm64-16k, its results in
# $LIVECORE_BUILD/vm-16k).
# Exit status: 0 all guest tests passed, 1 a guest test failed, 2 the guest
# could not be built or did not come back.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
GUEST=${1:-x86_64}
case $GUEST in
x86_64)
	DEFAULT_BUILD=$TOP/build DEFAULT_TAGS=needs:soft-dirty DEFAULT_MEM=1536
	QEMU_BIN=qemu-system-x86_64 SMOKE_TRACKING=soft-dirty ;;
aarch64)
	DEFAULT_BUILD=$TOP/build-aarch64 DEFAULT_TAGS=vm:arm64 DEFAULT_MEM=3072
	QEMU_BIN=qemu-system-aarch64 SMOKE_TRACKING=uffd
	# what the tests chosen for the arm64 guest run, beside busybox: the
	# build's libraries, GNU coreutils (cp --sparse, stat -c),
	# getconf, eu-readelf, setpriv
	GUEST_PACKAGES=(busybox-static bash libcap2 libseccomp2 coreutils libc-bin elfutils util-linux) ;;
*) echo "usage: run-guest.sh [x86_64|aarch64]" >&2; exit 2 ;;
esac
BUILD=$(cd "${LIVECORE_BUILD:-$DEFAULT_BUILD}" && pwd)
CACHE=${VM_CACHE:-$BUILD/vm-cache}
ACCEL=${ACCEL:-auto}
MEM=${MEM:-$DEFAULT_MEM}
SMP=${SMP:-2}
TIMEOUT=${TIMEOUT:-1800}
die() { echo "check-vm: $*" >&2; exit 2; }

FLAVOUR=${KERNEL_FLAVOUR:-}
case $GUEST-$FLAVOUR in
x86_64- | aarch64- ) ;;
aarch64-16k) DEFAULT_TAGS=vm:arm64-16k ;;
*) die "no $FLAVOUR kernel for the $GUEST guest" ;;
esac
TAGS=${BATS_FILTER_TAGS:-$DEFAULT_TAGS}
W=$BUILD/vm${FLAVOUR:+-$FLAVOUR}
OUT=$W/out

# One guest at a time per build directory: a second run would delete the
# first one's initramfs and results under it (and two TCG guests on a small
# machine only slow each other down). The lock goes with the process.
exec 9>"$BUILD/vm.lock"
if ! flock -n 9; then
	echo "check-vm: another check-vm is running in $BUILD; waiting for it"
	flock 9
fi

# KVM only for a guest of the host's own architecture where it is real
# VT-x/AMD-V: a paravirtual /dev/kvm (kvm-pvm, as on the machines here)
# cannot run a stock kernel ("emulation failure").
if [ "$ACCEL" = auto ]; then
	if [ "$GUEST" = "$(uname -m)" ] && [ -w /dev/kvm ] &&
		{ [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		ACCEL=kvm
	else
		ACCEL=tcg
	fi
fi
echo "check-vm: $GUEST guest, accelerator $ACCEL"

for cmd in "$QEMU_BIN" cpio depmod modprobe xz apt-get dpkg; do
	command -v "$cmd" >/dev/null || die "needs $cmd (tests/deps.sh vm installs it)"
done
for t in lc-maps lc-precopy lc-freeze lc-elfwrite livecore.sh; do
	[ -x "$BUILD/bin/$t" ] || die "no $BUILD/bin/$t: run make first"
done

# ---- Debian's packages, through apt of our own ----
mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$CACHE/debs" "$W"
DEB_ARCH=$([ "$GUEST" = aarch64 ] && echo arm64 || echo amd64)
APT=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$TOP/tests/vm/apt"
	-o Dir::State::Lists="$CACHE/apt/lists" -o Dir::Cache="$CACHE/apt"
	-o APT::Architecture="$DEB_ARCH" -o APT::Architectures::="$DEB_ARCH"
	-o APT::Sandbox::User=root -o Debug::NoLocking=1)
# the lists are fetched once a day at most
if [ -z "$(find "$CACHE/apt/lists" -name '*_Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
	apt-get "${APT[@]}" update -qq >/dev/null || die "apt-get update (tests/vm/apt) failed"
fi
# fetch PACKAGE: its .deb in $CACHE/debs (kept), the path printed
fetch() {
	local f
	f=$(find "$CACHE/debs" -name "${1}_*.deb" | head -1)
	if [ -z "$f" ]; then
		(cd "$CACHE/debs" && apt-get "${APT[@]}" download -qq "$1" >/dev/null 2>&1) ||
			die "apt-get download $1 ($DEB_ARCH) failed"
		f=$(find "$CACHE/debs" -name "${1}_*.deb" | head -1)
	fi
	echo "$f"
}

# ---- the kernel: Debian's own package, unpacked (nothing is installed) ----
if [ "$GUEST" = aarch64 ]; then
	META=linux-image-arm64${FLAVOUR:+-$FLAVOUR}/bookworm-backports
else
	META=linux-image-amd64/bookworm
fi
KPKG=$(apt-cache "${APT[@]}" depends "$META" 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$KPKG" ] || die "cannot resolve $META (tests/vm/apt)"
KVER=${KPKG#linux-image-}
K=$CACHE/$KPKG
if ! [ -f "$K/boot/vmlinuz-$KVER" ]; then
	rm -rf "$K"
	dpkg -x "$(fetch "$KPKG")" "$K"
fi
if [ "$GUEST" = aarch64 ]; then
	for c in CONFIG_USERFAULTFD CONFIG_PTE_MARKER_UFFD_WP CONFIG_PROC_PAGE_MONITOR; do
		grep -q "^$c=y" "$K/boot/config-$KVER" || die "$KPKG lacks $c"
	done
else
	grep -q '^CONFIG_MEM_SOFT_DIRTY=y' "$K/boot/config-$KVER" ||
		die "$KPKG lacks CONFIG_MEM_SOFT_DIRTY"
fi
[ -f "$K/lib/modules/$KVER/modules.dep" ] || depmod -b "$K" "$KVER"
if [ "$GUEST" = aarch64 ]; then
	# an arm64 Image, loaded as it is
	KERNEL=$K/boot/vmlinuz-$KVER
else
	# Boot the uncompressed vmlinux through its PVH entry: no real-mode
	# setup or decompressor, about 3 s faster under TCG than the bzImage.
	KERNEL=$K/vmlinux-$KVER
	if ! [ -s "$KERNEL" ]; then
		off=$(LC_ALL=C grep -abo $'\xfd''7zXZ' "$K/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1)
		[ -n "$off" ] || die "no xz stream in vmlinuz-$KVER"
		# xz complains about the bytes after the stream; the output is complete
		tail -c +$((off + 1)) "$K/boot/vmlinuz-$KVER" | xz -dc >"$KERNEL" 2>/dev/null || true
		head -c 4 "$KERNEL" | grep -q ELF || die "could not extract vmlinux"
	fi
fi

# ---- the initramfs ----
R=$W/root
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,mnt,modules,lib64,lib/x86_64-linux-gnu,usr/lib,usr/libexec,root}
mknod "$R/dev/console" c 5 1
mkdir -p "$R/livecore/build/bin" "$R/livecore/build/targets"
if [ "$GUEST" = aarch64 ]; then
	# an arm64 userland: Debian's packages and every package they depend
	# on (apt works the closure out against an empty dpkg status),
	# unpacked; their maintainer scripts never run. busybox for the rest.
	U=$CACHE/userland
	mkdir -p "$U/partial"
	: >"$CACHE/empty-status"
	apt-get "${APT[@]}" -o Dir::State::status="$CACHE/empty-status" \
		-o Dir::Cache::archives="$U" -o APT::Get::Download-Only=1 \
		install -y -qq --no-install-recommends "${GUEST_PACKAGES[@]}" >/dev/null ||
		die "apt-get could not fetch the arm64 userland (${GUEST_PACKAGES[*]})"
	for deb in "$U"/*.deb; do
		dpkg -x "$deb" "$R"
	done
	[ -x "$R/bin/busybox" ] || die "no busybox in busybox-static:arm64"
	for f in "$BUILD"/bin/* "$BUILD"/targets/*; do
		[ -f "$f" ] && [ -x "$f" ] && cp -L "$f" "$R/livecore/build/${f#"$BUILD"/}"
	done
else
	[ -x /bin/busybox ] || die "needs busybox-static (tests/deps.sh vm installs it)"
	cp /bin/busybox "$R/bin/busybox"
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
	for f in "$BUILD"/bin/*; do copy_with_libs "$f" "$R/livecore/build/bin"; done
	for f in "$BUILD"/targets/*; do
		[ -f "$f" ] && [ -x "$f" ] && copy_with_libs "$f" "$R/livecore/build/targets"
	done
fi
cp -r "$TOP/tests" "$R/livecore/tests"
rm -rf "$R/livecore/tests/vm"
cp -L /usr/bin/bats "$R/usr/bin/bats"
cp -a /usr/lib/bats-core "$R/usr/lib/"
cp -a /usr/libexec/bats-core "$R/usr/libexec/"
cp -a /usr/lib/bats "$R/usr/lib/"   # bats-support, bats-assert

: >"$R/modules/load-order"
# virtio_pci is built into the arm64 kernel; modules compressed with xz
# (Debian's from 6.12 on) are unpacked for busybox's insmod
mods="9pnet_virtio 9p"
[ "$GUEST" = x86_64 ] && mods="virtio_pci $mods"
for mod in $mods; do
	modprobe -d "$K" -S "$KVER" --show-depends "$mod"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
	name=$(basename "$ko" .xz)
	case $ko in
	*.xz) xz -dc "$ko" >"$R/modules/$name" ;;
	*) cp "$ko" "$R/modules/" ;;
	esac
	echo "$name" >>"$R/modules/load-order"
done

cat >"$R/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
# busybox's applets where the userland has no program of the name (the
# arm64 guest's coreutils, setpriv: theirs, not busybox's)
for a in \$(/bin/busybox --list-full); do
	n=\${a##*/}
	[ -e /bin/\$n ] || [ -e /usr/bin/\$n ] || [ -e /sbin/\$n ] || [ -e /usr/sbin/\$n ] ||
		/bin/busybox ln -s /bin/busybox /\$a
done
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
SMOKE_TRACKING=$SMOKE_TRACKING sh tests/vm/smoke.sh /results >/results/smoke.log 2>&1
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
QEMU=("$QEMU_BIN" -accel "$ACCEL" -m "$MEM" -smp "$SMP" -nographic -no-reboot
	-kernel "$KERNEL" -initrd "$W/initrd.gz"
	-virtfs "local,path=$OUT,mount_tag=results,security_model=none,id=results")
if [ "$GUEST" = aarch64 ]; then
	# pauth-impdef: QEMU's own pointer-authentication algorithm, 2.5
	# times faster under TCG than the architected QARMA (notes/arm64.md)
	# shellcheck disable=SC2054 # the commas are -cpu's
	QEMU+=(-M virt -cpu max,pauth-impdef=on
		-append "console=ttyAMA0 panic=-1 quiet transparent_hugepage=always")
else
	QEMU+=(-append "console=ttyS0 panic=-1 quiet transparent_hugepage=always")
	[ "$ACCEL" = tcg ] && QEMU+=(-cpu max)
fi
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
# the smoke core, read on the host by gdb (gdb-multiarch for arm64, with
# the guest's userland as its sysroot)
if [ "$GUEST" = aarch64 ]; then
	command -v gdb-multiarch >/dev/null || die "needs gdb-multiarch (tests/deps.sh vm installs it)"
	[ -f "$OUT/smoke.core" ] || { echo "check-vm: no smoke core came back"; exit 1; }
	bash "$TOP/tests/vm/read-arm64-core.sh" "$BUILD/targets/lc-target" "$OUT/smoke.core" \
		"$OUT/smoke.info" "$R" | tee "$OUT/smoke-gdb.txt"
	[ "${PIPESTATUS[0]}" = 0 ] || { echo "check-vm: gdb-multiarch did not read the guest's core right"; exit 1; }
elif [ -f "$OUT/smoke.core" ] && command -v gdb >/dev/null; then
	echo "--- gdb on the host reads the guest's core:"
	gdb -q -batch -ex 'thread apply all bt' "$BUILD/targets/lc-target" "$OUT/smoke.core" 2>&1 |
		grep -E '^(Thread|#)' | tee "$OUT/smoke-gdb.txt"
	grep -q 'lc_' "$OUT/smoke-gdb.txt" || { echo "check-vm: gdb found no lc-target frames in the guest's core"; exit 1; }
fi
# Our notes are the kernel's: each thread's register notes (the types
# after its NT_PRSTATUS, and their sizes but for SVE's, which follow the
# thread's own use of SVE), as in the kernel's core of the same process.
thread_notes() {
	eu-readelf -n "$1" | awk '$1 == "CORE" || $1 == "LINUX" {
		type = $3 == "<unknown>:" ? $4 : $3
		if (type == "PRSTATUS") { if (seq != "") print seq; seq = "PRSTATUS" ; next }
		if (type == "PRPSINFO" || type == "SIGINFO" || type == "AUXV" || type == "FILE") next
		seq = seq " " type (type == "ARM_SVE" || type == "1029" ? "" : "/" $2)
	} END { print seq }' | sort -u
}
if [ -f "$OUT/kernel.core" ] && [ -f "$OUT/smoke.core" ] && command -v eu-readelf >/dev/null; then
	echo "--- each thread's register notes, ours and the kernel's core's:"
	thread_notes "$OUT/smoke.core" | tee "$OUT/notes.ours"
	thread_notes "$OUT/kernel.core" >"$OUT/notes.kernel"
	if ! cmp -s "$OUT/notes.ours" "$OUT/notes.kernel"; then
		echo "check-vm: the register notes differ from the kernel's core's:"
		diff "$OUT/notes.ours" "$OUT/notes.kernel"
		exit 1
	fi
	echo "(the same in the kernel's core)"
fi
tests_run=$(grep -c '^ok\|^not ok' "$OUT/guest.tap" || true)
skipped=$(grep -c '# skip' "$OUT/guest.tap" || true)
echo "check-vm: $tests_run guest tests, $skipped skipped; $(tr '\n' ' ' <"$OUT/rc")"
# This guest exists to have soft-dirty: a test that skips for the want of
# it means the guest or the detection broke, and the path went untested.
if grep -q '# skip needs: soft-dirty' "$OUT/guest.tap"; then
	echo "check-vm: tests skipped for want of soft-dirty in the soft-dirty guest"
	exit 1
fi
# The arm64 tests are chosen to run there: a skip (no uffd, a tool the
# guest lacks) is a test of the architecture that did not happen.
if [ "$GUEST" = aarch64 ] && [ "$skipped" != 0 ]; then
	echo "check-vm: $skipped arm64 guest tests skipped"
	exit 1
fi
if grep -q '^bats=0$' "$OUT/rc" && grep -q '^smoke=0$' "$OUT/rc" && [ "$tests_run" -gt 0 ]; then
	exit 0
fi
exit 1
