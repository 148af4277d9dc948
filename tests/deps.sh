#!/bin/sh
# tests/deps.sh - make sure the Debian/Ubuntu packages that building and
# testing livecore need are installed. As root it installs what is missing
# (apt-get); otherwise it prints the exact apt-get line and fails.
#   tests/deps.sh          build + test packages
#   tests/deps.sh vm       also what `make check-vm` needs
#   tests/deps.sh vm-arm64 also what `make check-vm-arm64` needs: the cross
#                          compiler, arm64 libcap and libseccomp (dpkg's
#                          arm64 architecture added), qemu-system-aarch64,
#                          gdb-multiarch
set -u

pkgs="gcc make libc6-dev libcap-dev libseccomp-dev libcap2-bin scdoc man-db
bats bats-assert bats-support gdb elfutils binutils lldb golang-go delve zstd
shellcheck procps clang libclang-rt-dev strace redis-server redis-tools postgresql
jq golang-github-containers-common openjdk-17-jdk-headless dpkg-dev debhelper lintian"
case ${1:-} in
vm) pkgs="$pkgs qemu-system-x86 busybox-static cpio kmod xz-utils" ;;
vm-arm64)
	pkgs="$pkgs qemu-system-arm cpio kmod xz-utils gdb-multiarch gcc-aarch64-linux-gnu
libc6-dev-arm64-cross libcap-dev:arm64 libseccomp-dev:arm64"
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		[ "$(id -u)" = 0 ] || { echo "tests/deps.sh: as root: dpkg --add-architecture arm64" >&2; exit 1; }
		dpkg --add-architecture arm64 || exit 1
	fi ;;
esac

# coredumpctl (livecore.bats, -J): systemd-coredump's, unpacked under
# build/coredumpctl and not installed, since installing the package points
# kernel.core_pattern at systemd-coredump (its sysctl.d file), which the
# tests that make kernel cores of their own cannot have. It links against
# the installed systemd's libsystemd-shared: the same version where the
# archive still has it.
coredumpctl_unpacked() {
	top=$(cd "$(dirname "$0")/.." && pwd)
	dest=$top/build/coredumpctl
	command -v coredumpctl >/dev/null 2>&1 && return 0
	[ -x "$dest/usr/bin/coredumpctl" ] && return 0
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
	tmp=$(mktemp -d) || return 1
	version=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null)
	(cd "$tmp" && { apt-get download -qq "systemd-coredump=$version" 2>/dev/null ||
		apt-get download -qq systemd-coredump; }) >&2 &&
		mkdir -p "$dest" && dpkg-deb -x "$tmp"/systemd-coredump_*.deb "$dest"
	rc=$?
	rm -rf "$tmp"
	return $rc
}

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	[ -n "${1:-}" ] || coredumpctl_unpacked || echo "tests/deps.sh: could not unpack coredumpctl" >&2
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "tests/deps.sh: missing packages:$missing (and no apt-get here)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "tests/deps.sh: missing packages; as root, run:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "tests/deps.sh: installing:$missing" >&2
apt-get update -qq || exit 1
# shellcheck disable=SC2086 # the list is meant to split
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 || exit 1
[ -n "${1:-}" ] || coredumpctl_unpacked || echo "tests/deps.sh: could not unpack coredumpctl" >&2
