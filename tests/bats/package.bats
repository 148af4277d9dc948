#!/usr/bin/env bats
# The Debian package (debian/): built from a copy of the tree, checked by
# lintian, installed on this machine, used by a member of its group,
# purged. Root: it installs and removes a package, a user, a group.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	D=$BATS_TEST_TMPDIR
	TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	U=
	INSTALLED=0
}

teardown() {
	# whatever failed: the package purged (the group with it), the user gone
	if [ -n "$U" ]; then
		pkill -KILL -u "$U" 2>/dev/null
		userdel "$U" 2>/dev/null
	fi
	[ "$INSTALLED" = 0 ] || dpkg --purge livecore >/dev/null 2>&1
	lc_cleanup_targets
	return 0
}

@test "debian/: dpkg-buildpackage -us -uc -b builds a .deb of the tools, the driver and the man pages, lintian reports no error; installed, it makes the group livecore and the file capabilities of make install-caps; a member of the group dumps its own process with it; purge removes it all, the group too" {
	lc_require_root
	{ command -v dpkg-buildpackage && command -v dh && command -v lintian; } >/dev/null ||
		skip "needs: dpkg-dev, debhelper, lintian"
	[ "$(dpkg --print-architecture)" = amd64 ] || skip "needs: amd64 (the package's architecture)"
	if dpkg-query -W -f='${Status}' livecore 2>/dev/null | grep -q 'ok installed' ||
		getent group livecore >/dev/null; then
		skip "needs: no livecore package or group here already"
	fi
	# a copy of the tree: dpkg-buildpackage writes beside the tree it builds
	mkdir "$D/src"
	tar --exclude=./build --exclude=./build-fuzz --exclude=./build-asan --exclude=./.git \
		-C "$TOP" -cf - . | tar -C "$D/src" -xf -
	(cd "$D/src" && dpkg-buildpackage -us -uc -b) >"$D/build.log" 2>&1 || {
		tail -40 "$D/build.log"
		false
	}
	deb=$D/livecore_$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)_amd64.deb
	run -0 dpkg-deb -c "$deb"
	for f in lc-maps lc-precopy lc-freeze lc-elfwrite livecore.sh; do
		assert_output --partial "./usr/bin/$f"
	done
	for m in man1/livecore.1.gz man1/livecore.sh.1.gz man1/lc-freeze.1.gz man5/lc-manifest.5.gz; do
		assert_output --partial "./usr/share/man/$m"
	done
	run lintian "$D"/livecore_*_amd64.changes
	echo "$output"
	refute_output --regexp '^E: '

	INSTALLED=1
	run -0 dpkg -i "$deb"
	run -0 getent group livecore
	run -0 getcap /usr/bin/lc-maps /usr/bin/lc-precopy /usr/bin/lc-freeze /usr/bin/lc-elfwrite
	assert_line "/usr/bin/lc-maps cap_dac_read_search,cap_sys_ptrace=p"
	assert_line "/usr/bin/lc-precopy cap_dac_override,cap_dac_read_search,cap_sys_ptrace=p"
	assert_line "/usr/bin/lc-freeze cap_dac_override,cap_dac_read_search,cap_sys_ptrace,cap_sys_nice=p"
	[ "${#lines[@]}" = 3 ]
	for t in lc-maps lc-precopy lc-freeze; do
		[ "$(stat -c '%a %G' "/usr/bin/$t")" = "750 livecore" ]
	done
	run -0 man -w livecore.sh

	# a member of the group dumps a process of its own that another shell
	# started (not its descendant: ptrace needs CAP_SYS_PTRACE there)
	U=lcpkg$$
	useradd -M -N -g nogroup -G livecore -d /nonexistent -s /bin/sh "$U"
	setpriv --reuid="$U" --regid=nogroup --init-groups -- sleep 1000 </dev/null >/dev/null 2>&1 3>&- &
	LC_TARGET_PIDS+=("$!")
	target=$!
	for _ in $(seq 500); do
		[ "$(stat -c %U "/proc/$target" 2>/dev/null)" = "$U" ] &&
			[ "$(readlink "/proc/$target/exe")" != "$(command -v setpriv)" ] && break
		sleep 0.01
	done
	mkdir "$D/out"
	chown "$U" "$D/out"
	lc_open_path "$D/out"
	run -0 --separate-stderr lc_as "$U" /usr/bin/livecore.sh -q "$target" "$D/out/pkg.core"
	[ "$(stat -c '%a %U' "$D/out/pkg.core")" = "600 $U" ]
	run -0 eu-readelf -n "$D/out/pkg.core"
	assert_output --partial PRSTATUS
	# and one outside the group cannot run the privileged tools at all
	run -126 lc_as nobody /usr/bin/lc-maps "$target"

	run -0 dpkg --purge livecore
	INSTALLED=0
	[ ! -e /usr/bin/lc-freeze ] && [ ! -e /usr/bin/livecore.sh ]
	run -2 getent group livecore
}
