#!/bin/sh
# tests/deps.sh - make sure the Debian/Ubuntu packages that building and
# testing livecore need are installed. As root it installs what is missing
# (apt-get); otherwise it prints the exact apt-get line and fails.
#   tests/deps.sh          build + test packages
#   tests/deps.sh vm       also what `make check-vm` needs
set -u

pkgs="gcc make libc6-dev libcap-dev libseccomp-dev libcap2-bin scdoc man-db
bats bats-assert bats-support gdb elfutils binutils lldb golang-go delve zstd
shellcheck procps clang libclang-rt-dev strace redis-server redis-tools postgresql
jq golang-github-containers-common openjdk-17-jdk-headless"
if [ "${1:-}" = vm ]; then
	pkgs="$pkgs qemu-system-x86 busybox-static cpio kmod xz-utils"
fi

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

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
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
