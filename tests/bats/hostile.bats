#!/usr/bin/env bats
# hostile: paths and targets that try to make a dump write where it must
# not, follow what it must not, or leave something behind. Each case is
# checked against what the man pages promise: cores 0600, nothing followed,
# nothing overwritten, a clear error, no stopped process, no file under the
# output name, the work directory removed unless -k.

bats_require_minimum_version 1.8.0

setup() {
	load helpers
	D=$BATS_TEST_TMPDIR
	MOUNTS=()
	BG_PIDS=()
}

teardown() {
	local m p

	for p in "${BG_PIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	lc_cleanup_targets
	for m in "${MOUNTS[@]}"; do
		umount -l "$m" 2>/dev/null
	done
	return 0
}

# no work directory of livecore.sh in DIR
assert_no_workdir() {
	run -0 find "$1" -maxdepth 1 -name '.livecore.*'
	assert_output ''
}

# no file but the ones named in DIR (temporary outputs are .NAME.XXXXXX)
assert_only() {
	local dir=$1
	shift
	run -0 sh -c 'cd "$1" && ls -A | sort' _ "$dir"
	assert_output "$(printf '%s\n' "$@" | sed '/^$/d' | sort)"
}

# mount_tmpfs DIR OPTIONS - a small tmpfs for this test, gone in teardown
mount_tmpfs() {
	lc_require_root
	mkdir -p "$1"
	mount -t tmpfs -o "$2" lc-hostile "$1" || skip "needs: mount (tmpfs)"
	MOUNTS+=("$1")
}

# core_bytes CORE ADDR LEN - LEN bytes at ADDR as the core holds them (hex)
core_bytes() {
	local type off va pa fs rest a=$(($2))

	while read -r type off va pa fs rest; do
		[ "$type" = LOAD ] || continue
		if ((a >= va && a < va + fs)); then
			od -An -v -tx1 -j $((off + a - va)) -N "$3" "$1" | tr -d ' \n'
			return 0
		fi
	done < <(readelf -lW "$1")
	echo "core_bytes: $2 is in no PT_LOAD with bytes" >&2
	return 1
}

# mem_bytes PID ADDR LEN - the same bytes read from the live process
mem_bytes() {
	dd if="/proc/$1/mem" bs=4096 iflag=skip_bytes,count_bytes skip="$(($2))" count="$3" \
		status=none | od -An -v -tx1 | tr -d ' \n'
}


# assert_running PID - neither stopped nor traced
assert_running() {
	lc_wait_state "$1" RSD
	run -0 awk '$1 == "TracerPid:" { print $2 }' "/proc/$1/status"
	assert_output 0
}

# ---- output and staging paths ------------------------------------------------

@test "OUT a symbolic link: refused (7) and nothing written through it; with -f the link itself is replaced" {
	lc_start_target
	echo precious >"$D/victim"
	ln -s "$D/victim" "$D/link.core"
	ln -s "$D/not-there" "$D/dangling.core"
	run --separate-stderr -7 livecore.sh -q "$LC_TARGET_PID" "$D/link.core"
	run --separate-stderr -7 livecore.sh -q "$LC_TARGET_PID" "$D/dangling.core"
	[ ! -e "$D/not-there" ]
	# -f, in place and streamed from another directory
	run --separate-stderr -0 livecore.sh -q -f "$LC_TARGET_PID" "$D/link.core"
	mkdir "$D/w"
	run --separate-stderr -0 livecore.sh -q -f -w "$D/w" "$LC_TARGET_PID" "$D/dangling.core"
	[ "$(cat "$D/victim")" = precious ]
	[ ! -e "$D/not-there" ]
	for c in link.core dangling.core; do
		[ ! -L "$D/$c" ]
		[ -f "$D/$c" ]
		[ "$(stat -c %a "$D/$c")" = 600 ]
		[ "$(head -c 4 "$D/$c")" = $'\x7fELF' ]
	done
	assert_no_workdir "$D"
}

@test "lc-elfwrite -o a symbolic link to a file elsewhere: 7, or with -f the link replaced and its target untouched" {
	lc_start_target
	lc-maps "$LC_TARGET_PID" >"$D/m0"
	lc-precopy -q -T none -s "$D/stage" "$LC_TARGET_PID" <"$D/m0" >"$D/m1"
	lc-freeze -s "$D/stage" -n "$D/notes" "$LC_TARGET_PID" <"$D/m1" >"$D/m2" 2>/dev/null
	echo precious >"$D/victim"
	ln -s "$D/victim" "$D/out.core"
	run --separate-stderr -7 lc-elfwrite -q -c -s "$D/stage" -n "$D/notes" -o "$D/out.core" <"$D/m2"
	run --separate-stderr -0 lc-elfwrite -q -f -c -s "$D/stage" -n "$D/notes" -o "$D/out.core" <"$D/m2"
	[ "$(cat "$D/victim")" = precious ]
	[ ! -L "$D/out.core" ]
	[ "$(stat -c %a "$D/out.core")" = 600 ]
	# in place, too
	rm "$D/out.core"
	ln -s "$D/victim" "$D/out.core"
	run --separate-stderr -0 lc-elfwrite -q -f -s "$D/stage" -n "$D/notes" -o "$D/out.core" <"$D/m2"
	[ "$(cat "$D/victim")" = precious ]
	[ ! -L "$D/out.core" ]
	[ "$(stat -c %a "$D/out.core")" = 600 ]
}

@test "staging and notes paths that are symbolic links: lc-freeze and lc-elfwrite never follow them" {
	lc_start_target
	lc-maps "$LC_TARGET_PID" >"$D/m0"
	lc-precopy -q -T none -s "$D/stage" "$LC_TARGET_PID" <"$D/m0" >"$D/m1"
	ln -s "$D/stage" "$D/stage.link"
	# lc-freeze: a staging path that is a link is refused before any stop
	run --separate-stderr lc-freeze -s "$D/stage.link" -n "$D/notes" "$LC_TARGET_PID" <"$D/m1"
	assert_failure
	[ ! -e "$D/notes" ]
	assert_running "$LC_TARGET_PID"
	# lc-freeze -n a link to a file elsewhere: the link is replaced, not followed
	echo precious >"$D/victim"
	ln -s "$D/victim" "$D/notes.link"
	run --separate-stderr -0 lc-freeze -s "$D/stage" -n "$D/notes.link" "$LC_TARGET_PID" <"$D/m1"
	printf '%s\n' "$output" >"$D/m2"
	[ "$(cat "$D/victim")" = precious ]
	[ ! -L "$D/notes.link" ]
	[ "$(stat -c %a "$D/notes.link")" = 600 ]
	# lc-elfwrite: -s or -n a link: bad input (5), nothing written
	ln -s "$D/notes.link" "$D/notes.link2"
	run --separate-stderr -5 lc-elfwrite -q -s "$D/stage.link" -n "$D/notes.link" -o "$D/a.core" <"$D/m2"
	run --separate-stderr -5 lc-elfwrite -q -s "$D/stage" -n "$D/notes.link2" -o "$D/b.core" <"$D/m2"
	[ ! -e "$D/a.core" ]
	[ ! -e "$D/b.core" ]
	run -0 find "$D" -maxdepth 1 -name '.*.core.*'
	assert_output ''
}

@test "a world-writable sticky directory with another user's file at the output name: not overwritten" {
	lc_require_root
	lc_start_target
	mkdir -m 1777 "$D/tmp"
	lc_open_path "$D/tmp"
	# nobody plants a file and a link at names root will be asked to write
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- sh -c \
		'echo planted >"$1/x.core"; ln -s /etc/passwd "$1/y.core"' _ "$D/tmp"
	ln "$D/tmp/x.core" "$D/planted.keep" 2>/dev/null || cp -p "$D/tmp/x.core" "$D/planted.keep"
	cp /etc/passwd "$D/passwd.before"
	run --separate-stderr -7 livecore.sh -q "$LC_TARGET_PID" "$D/tmp/x.core"
	[ "$(cat "$D/tmp/x.core")" = planted ]
	[ "$(stat -c %U "$D/tmp/x.core")" = nobody ]
	run --separate-stderr -7 livecore.sh -q "$LC_TARGET_PID" "$D/tmp/y.core"
	# with -f: the names are replaced by root's own 0600 cores; nothing is
	# written into the planted file or through the planted link
	run --separate-stderr -0 livecore.sh -q -f "$LC_TARGET_PID" "$D/tmp/x.core"
	run --separate-stderr -0 livecore.sh -q -f "$LC_TARGET_PID" "$D/tmp/y.core"
	for c in x.core y.core; do
		[ "$(stat -c '%a %U %F' "$D/tmp/$c")" = "600 root regular file" ]
	done
	[ "$(cat "$D/planted.keep")" = planted ]
	cmp /etc/passwd "$D/passwd.before"
	assert_no_workdir "$D/tmp"
}

@test "a full filesystem: status 1 with a clear error, no core, no temporary file, work directory removed, target running" {
	mount_tmpfs "$D/small" size=2m
	lc_start_target --pattern-mib 16
	# in place: lc-precopy finds the staging filesystem too small before it copies
	run --separate-stderr -1 livecore.sh -q "$LC_TARGET_PID" "$D/small/a.core"
	assert_regex "$stderr" "lc-precopy: the staging file's filesystem has less than the [0-9]+ bytes"
	assert_only "$D/small"
	assert_running "$LC_TARGET_PID"
	# streamed from a work directory elsewhere: lc-elfwrite runs out of space
	mkdir "$D/w"
	run --separate-stderr -1 livecore.sh -q -w "$D/w" "$LC_TARGET_PID" "$D/small/b.core"
	assert_regex "$stderr" 'No space left on device'
	assert_only "$D/small"
	assert_no_workdir "$D/w"
	assert_running "$LC_TARGET_PID"
}

@test "a read-only filesystem: status 1 with a clear error and nothing created" {
	mount_tmpfs "$D/ro" size=8m
	touch "$D/ro/existing"
	mount -o remount,ro "$D/ro"
	lc_start_target
	run --separate-stderr -1 livecore.sh -q "$LC_TARGET_PID" "$D/ro/a.core"
	assert_regex "$stderr" "cannot create a work directory in $D/ro"
	mkdir "$D/w"
	run --separate-stderr -1 livecore.sh -q -w "$D/w" "$LC_TARGET_PID" "$D/ro/b.core"
	assert_regex "$stderr" 'Read-only file system'
	assert_only "$D/ro" existing
	assert_no_workdir "$D/w"
	assert_running "$LC_TARGET_PID"
	# the tools on their own: lc-precopy cannot create its staging file there
	lc-maps "$LC_TARGET_PID" >"$D/m0"
	run --separate-stderr -1 lc-precopy -q -T none -s "$D/ro/stage" "$LC_TARGET_PID" <"$D/m0"
	assert_regex "$stderr" 'Read-only file system'
}

# ---- hostile targets -----------------------------------------------------------

@test "a target whose executable was deleted: dumped, the mapping named \" (deleted)\", gdb finds its threads from a kept link" {
	cp "$LC_TARGET" "$D/victim exe"
	ln "$D/victim exe" "$D/exe.keep"
	LC_TARGET="$D/victim exe" lc_start_target --threads 2
	rm "$D/victim exe"
	run -0 readlink "/proc/$LC_TARGET_PID/exe"
	assert_output "$D/victim exe (deleted)"
	run --separate-stderr -0 livecore.sh -q -k -w "$D" "$LC_TARGET_PID" "$D/d.core"
	work=$(find "$D" -maxdepth 1 -name '.livecore.*')
	grep -qF " $D/victim exe (deleted)" "$work/manifest.freeze"
	[ "$(stat -c %a "$D/d.core")" = 600 ]
	run -0 eu-readelf -n "$D/d.core"
	assert_output --partial "$D/victim exe (deleted)"
	command -v gdb >/dev/null || skip "needs: gdb"
	run -0 gdb -nx -batch -ex 'thread apply all bt' "$D/exe.keep" "$D/d.core"
	assert_output --partial 'lc_main_wait'
	assert_output --partial 'lc_block_in_read'
}

@test "mapped files named with spaces, newlines and \" (deleted)\": one record each, the bytes right, no record injected" {
	# a name that, unescaped, would read as one more maps line and an end line
	evil="$D/a b"$'\n'"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 dump 4096 - - - x"$'\n'"end 1 (deleted)"
	lc_start_target --file-private "$evil" --file-shared "$D/shared (deleted)"
	addr=$(lc_info fileprivate.addr)
	saddr=$(lc_info fileshared.addr)
	run --separate-stderr -0 livecore.sh -q -k -w "$D" "$LC_TARGET_PID" "$D/n.core"
	work=$(find "$D" -maxdepth 1 -name '.livecore.*')
	for m in manifest.maps manifest.precopy manifest.freeze; do
		# the kernel's escape is kept: one line, no injected record
		run -0 grep -c 'a b\\0127f0000000000-7f0000001000 rw-p' "$work/$m"
		assert_output 1
		run -1 grep -c '^7f0000000000-' "$work/$m"
		assert_output 0
		records=$(grep -vc '^#\|^livecore-manifest\|^end ' "$work/$m")
		[ "$(tail -1 "$work/$m")" = "end $records" ]
	done
	# as many records as the kernel has mappings (the target is idle)
	[ "$(grep -vc '^#\|^livecore-manifest\|^end ' "$work/manifest.maps")" = "$(wc -l <"/proc/$LC_TARGET_PID/maps")" ]
	# the bytes: the core holds what the process holds
	[ "$(core_bytes "$D/n.core" "$addr" 65536)" = "$(mem_bytes "$LC_TARGET_PID" "$addr" 65536)" ]
	[ "$(core_bytes "$D/n.core" "$saddr" 65536)" = "$(mem_bytes "$LC_TARGET_PID" "$saddr" 65536)" ]
	# NT_FILE holds the real name (the newline unescaped)
	run -0 eu-readelf -n "$D/n.core"
	assert_output --partial "$D/a b"
	assert_output --partial "$D/shared (deleted)"
}

@test "a mapped file deleted after the start: dumped as the kernel does (bit 0x2 for a shared unlinked file)" {
	lc_start_target --file-shared "$D/gone"
	saddr=$(lc_info fileshared.addr)
	rm "$D/gone"
	grep -qF "$D/gone (deleted)" "/proc/$LC_TARGET_PID/maps"
	run --separate-stderr -0 livecore.sh -q -k -w "$D" "$LC_TARGET_PID" "$D/g.core"
	work=$(find "$D" -maxdepth 1 -name '.livecore.*')
	run -0 grep -F " $D/gone (deleted)" "$work/manifest.freeze"
	assert_output --regexp ' dump 65536 '
	[ "$(core_bytes "$D/g.core" "$saddr" 65536)" = "$(mem_bytes "$LC_TARGET_PID" "$saddr" 65536)" ]
}

# ---- a target (or a tool) that dies at each phase --------------------------------

# descends PID ANCESTOR - true when ANCESTOR is PID's parent, grandparent...
# (bats may run a background command under a subshell of its own)
descends() {
	local p=$1 i

	for ((i = 0; i < 4; i++)); do
		p=$(awk '{ sub(/.*\) /, ""); print $2 }' "/proc/$p/stat" 2>/dev/null) || return 1
		[ -n "$p" ] || return 1
		[ "$p" = "$2" ] && return 0
	done
	return 1
}

# catch DRIVER TOOL - waits (up to 30 s) until livecore.sh DRIVER runs
# TOOL, stops the tool (SIGSTOP) and sets TOOL_PID. The phases it catches
# run for a few hundred milliseconds at least (a 256 MiB target).
catch() {
	local p end=$((SECONDS + 30))

	while ((SECONDS < end)); do
		for p in $(pgrep -x "$2"); do
			if descends "$p" "$1"; then
				# it may have ended since pgrep saw it
				kill -STOP "$p" 2>/dev/null || continue
				TOOL_PID=$p
				BG_PIDS+=("$p")
				return 0
			fi
		done
	done
	echo "catch: $2 never ran under $1" >&2
	return 1
}

@test "the target killed during pre-copy: status 3, a clear error, no core; the work directory removed, or kept with -k" {
	for keep in '' -k; do
		lc_start_target --pattern-mib 256
		livecore.sh -q $keep -w "$D" "$LC_TARGET_PID" "$D/p.core" 2>"$D/err" &
		driver=$!
		catch "$driver" lc-precopy
		kill -KILL "$LC_TARGET_PID"
		kill -CONT "$TOOL_PID"
		rc=0
		wait "$driver" || rc=$?
		cat "$D/err"
		[ "$rc" = 3 ]
		grep -q "process $LC_TARGET_PID exited (or its pid was reused) during the dump; no core written" "$D/err"
		[ ! -e "$D/p.core" ]
		if [ -z "$keep" ]; then
			assert_no_workdir "$D"
		else
			grep -q 'work files kept in ' "$D/err"
			work=$(find "$D" -maxdepth 1 -name '.livecore.*')
			[ -s "$work/manifest.maps" ]
			rm -rf "$work"
		fi
	done
}

@test "the target killed during the stop: status 3, a clear error, no core, no work directory, nothing left stopped" {
	lc_start_target --threads 3
	LIVECORE_TEST_STOP_DELAY_MS=3000 livecore.sh -q -w "$D" "$LC_TARGET_PID" "$D/s.core" 2>"$D/err" &
	driver=$!
	lc_wait_state "$LC_TARGET_PID" t
	kill -KILL "$LC_TARGET_PID"
	rc=0
	wait "$driver" || rc=$?
	cat "$D/err"
	[ "$rc" = 3 ]
	grep -q "no core written" "$D/err"
	# and no advice about a process that is gone
	run -1 grep -q "could not close the userfaultfd" "$D/err"
	[ ! -e "$D/s.core" ]
	assert_no_workdir "$D"
	# nothing of this dump runs on (every tool named a path under $D)
	run -1 pgrep -f "$D/"
}

@test "lc-freeze killed during the stop: the kernel resumes the target; no core, no work directory" {
	lc_start_target --threads 3 --progress-file "$D/progress"
	LIVECORE_TEST_STOP_DELAY_MS=5000 livecore.sh -q -w "$D" "$LC_TARGET_PID" "$D/f.core" 2>"$D/err" &
	driver=$!
	lc_wait_state "$LC_TARGET_PID" t
	catch "$driver" lc-freeze
	kill -KILL "$TOOL_PID"
	rc=0
	wait "$driver" || rc=$?
	cat "$D/err"
	[ "$rc" != 0 ]
	grep -q "no core written" "$D/err"
	[ ! -e "$D/f.core" ]
	assert_no_workdir "$D"
	assert_running "$LC_TARGET_PID"
	p1=$(cat "$D/progress")
	sleep 0.2
	[ "$(cat "$D/progress")" -gt "$p1" ]
}

@test "the target killed during elfwrite: the core is still whole (all it needs was taken in the stop)" {
	# the core on another filesystem: streamed, long enough to be caught
	mount_tmpfs "$D/o" size=512m
	lc_start_target --threads 2 --pattern-mib 256
	livecore.sh -q -w "$D" "$LC_TARGET_PID" "$D/o/e.core" 2>"$D/err" &
	driver=$!
	catch "$driver" lc-elfwrite
	kill -KILL "$LC_TARGET_PID"
	kill -CONT "$TOOL_PID"
	wait "$driver"
	[ "$(stat -c %a "$D/o/e.core")" = 600 ]
	run -0 eu-readelf -n "$D/o/e.core"
	assert_output --partial "PRSTATUS"
	assert_no_workdir "$D"
}

@test "lc-elfwrite terminated during its write: no core, no temporary file, no work directory; the target untouched" {
	# the core on another filesystem: streamed into a temporary file beside OUT
	mount_tmpfs "$D/o" size=512m
	lc_start_target --pattern-mib 256
	mkdir "$D/w"
	livecore.sh -q -w "$D/w" "$LC_TARGET_PID" "$D/o/t.core" 2>"$D/err" &
	driver=$!
	catch "$driver" lc-elfwrite
	kill -TERM "$TOOL_PID"
	kill -CONT "$TOOL_PID"
	rc=0
	wait "$driver" || rc=$?
	cat "$D/err"
	[ "$rc" != 0 ]
	grep -q "no core written" "$D/err"
	assert_only "$D/o"
	assert_no_workdir "$D/w"
	assert_running "$LC_TARGET_PID"
}
