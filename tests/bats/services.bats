#!/usr/bin/env bats
# Services run as their own users (issue 28): the default mode on a process
# root does not own, as a database or a JVM run by a service user is. Its
# /proc/PID/fd and fdinfo are mode 0500, owned by that user: a tool holding
# CAP_SYS_PTRACE alone cannot read them, so the userfaultfd is recognised
# from our own copy of it (pidfd_getfd), and whatever ends a dump, nothing
# of it stays in the process.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	lc_require_root
	id nobody >/dev/null 2>&1 || skip "needs: a user named nobody"
	D=$BATS_TEST_TMPDIR
}

teardown() {
	lc_cleanup_targets
}

uffd_here() { lc_kernel_has_uffd; }

# core_pattern_good CORE - every page of the target's pattern is in CORE
core_pattern_good() {
	local addr pages off

	addr=$(lc_info pattern.addr)
	pages=$(($(lc_info pattern.size) / 4096))
	off=$("$LIVECORE_BUILD/targets/lc-coreread" "$1" "$addr")
	run -0 "$LC_PAGECHECK" "$1" "$off" "$addr" "$pages"
	assert_output "good $pages bad 0"
}

# the running livecore.sh's child named TOOL, waited for (10 s at most)
tool_of() { # DRIVER TOOL
	local i p

	for ((i = 0; i < 2000; i++)); do
		p=$(pgrep -P "$1" -x "$2") && {
			echo "$p"
			return 0
		}
		sleep 0.005
	done
	echo "tool_of: no $2 under $1" >&2
	return 1
}

@test "services: the default mode dumps a nobody process with uffd; gdb reads it; nothing is left in it" {
	uffd_here || skip "needs: uffd (Linux 6.7+)"
	lc_start_target_as nobody --threads 2 --pattern-mib 32
	run -0 --separate-stderr livecore.sh -w "$D" "$LC_TARGET_PID" "$D/n.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	lc_assert_nothing_left "$LC_TARGET_PID"
	core_pattern_good "$D/n.core"
	run -0 gdb -batch -nx -ex 'thread apply all bt' "$LIVECORE_BUILD/targets/lc-target" "$D/n.core"
	assert_output --partial "$(lc_info main.func)"
	# a second dump finds nothing of the first
	run -0 --separate-stderr livecore.sh -w "$D" "$LC_TARGET_PID" "$D/n2.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	lc_assert_nothing_left "$LC_TARGET_PID"
}

@test "services: -T fork dumps a nobody process (the clone's memory opened with CAP_DAC_READ_SEARCH, then dropped); gdb reads it; no clone is left" {
	lc_require_root
	lc_start_target_as nobody --threads 2 --pattern-mib 32 --tls
	run -0 --separate-stderr env LIVECORE_DEBUG_PRIVILEGES=1 livecore.sh -w "$D" -T fork "$LC_TARGET_PID" "$D/f.core"
	assert_regex "$stderr" 'a copy-on-write clone \(fork\) made in [0-9.]+ ms of it, [0-9.]+ MiB copied from the clone'
	# nothing held once the clone is gone
	assert_regex "$stderr" 'lc-freeze: privileges after the stop: CapInh=0+ CapPrm=0+ CapEff=0+ '
	lc_assert_nothing_left "$LC_TARGET_PID"
	core_pattern_good "$D/f.core"
	run -0 gdb -batch -nx -ex 'thread apply all bt' "$LIVECORE_BUILD/targets/lc-target" "$D/f.core"
	assert_output --partial "$(lc_info main.func)"
}

@test "services: SIGKILL of lc-precopy, lc-freeze or lc-elfwrite in a dump of a nobody process leaves no userfaultfd, no registration, no core" {
	uffd_here || skip "needs: uffd (Linux 6.7+)"
	lc_start_target_as nobody --threads 2 --pattern-mib 128 --dirty-rate 2000 \
		--progress-file "$D/as-nobody/progress"
	for stage in lc-precopy lc-freeze lc-elfwrite; do
		rm -f "$D/err" "$D/fifo"
		out=$D/k.core delay=0
		case $stage in
		# held 3 s in its stop (a test hook), so that the kill lands
		# inside it, with the target's fd still open
		lc-freeze) delay=3000 ;;
		# streaming into a pipe nobody reads: blocked once it is full
		lc-elfwrite)
			mkfifo "$D/fifo"
			out=- ;;
		esac
		if [ "$out" = - ]; then
			LIVECORE_TEST_STOP_DELAY_MS=$delay livecore.sh -w "$D" "$LC_TARGET_PID" - 2>"$D/err" >"$D/fifo" &
			driver=$!
			exec {rd}<"$D/fifo"
		else
			LIVECORE_TEST_STOP_DELAY_MS=$delay livecore.sh -w "$D" "$LC_TARGET_PID" "$out" 2>"$D/err" &
			driver=$!
		fi
		tool=$(tool_of "$driver" "$stage")
		case $stage in
		lc-precopy)
			# past the injection: the fd is in the target
			for ((i = 0; i < 2000; i++)); do
				grep -qs '^# uffd fd=' "$D"/.livecore.*/manifest.precopy && break
				sleep 0.005
			done
			run -0 bash -c "ls -l /proc/$LC_TARGET_PID/fd | grep -c 'anon_inode:\[userfaultfd\]'"
			assert_output 1 ;;
		lc-freeze) lc_wait_state "$LC_TARGET_PID" t ;;
		esac
		kill -KILL "$tool"
		[ "$out" = - ] && exec {rd}<&-
		rc=0
		wait "$driver" || rc=$?
		[ "$rc" -ne 0 ] || {
			cat "$D/err"
			false
		}
		run -0 cat "$D/err"
		assert_output --partial 'no core written'
		refute_output --partial 'could not close the userfaultfd'
		[ ! -e "$D/k.core" ]
		run -0 find "$D" -maxdepth 1 -name '.livecore.*'
		assert_output ''
		lc_assert_nothing_left "$LC_TARGET_PID"
	done
	p1=$(cat "$D/as-nobody/progress")
	sleep 0.2
	[ "$(cat "$D/as-nobody/progress")" -gt "$p1" ]
}

@test "services: SIGKILL of livecore.sh itself during the pre-copy of a nobody process: lc-precopy (-P) closes the userfaultfd; nothing is left in the process" {
	uffd_here || skip "needs: uffd (Linux 6.7+)"
	lc_start_target_as nobody --threads 2 --pattern-mib 128 --dirty-rate 2000
	livecore.sh -w "$D" "$LC_TARGET_PID" "$D/k.core" 2>"$D/err" &
	driver=$!
	tool=$(tool_of "$driver" lc-precopy)
	for ((i = 0; i < 2000; i++)); do
		grep -qs '^# uffd fd=' "$D"/.livecore.*/manifest.precopy && break
		sleep 0.005
	done
	run -0 bash -c "ls -l /proc/$LC_TARGET_PID/fd | grep -c 'anon_inode:\[userfaultfd\]'"
	assert_output 1
	kill -KILL "$driver"
	wait "$driver" || true
	# lc-precopy hears of it (SIGTERM), releases, exits
	for ((i = 0; i < 1000; i++)); do
		kill -0 "$tool" 2>/dev/null || break
		sleep 0.01
	done
	run -1 kill -0 "$tool"
	lc_assert_nothing_left "$LC_TARGET_PID"
	[ ! -e "$D/k.core" ]
	rm -rf "$D"/.livecore.*
}

@test "services: lc-precopy -R removes the userfaultfd a killed pipeline left in a nobody process; then there is nothing to release" {
	uffd_here || skip "needs: uffd (Linux 6.7+)"
	lc_start_target_as nobody --pattern-mib 16 --dirty-rate 1000
	lc-maps "$LC_TARGET_PID" >"$D/m0"
	lc-precopy -q -T uffd -s "$D/stage" "$LC_TARGET_PID" <"$D/m0" >"$D/m1"
	fd=$(awk '$2 == "uffd" { sub("^fd=", "", $3); print $3; exit }' "$D/m1")
	run -0 readlink "/proc/$LC_TARGET_PID/fd/$fd"
	assert_output 'anon_inode:[userfaultfd]'
	# lc-freeze takes it (and closes it) whoever owns the process: a
	# -c pass does the same identification
	run -0 --separate-stderr lc-precopy -q -c -p 1 -s "$D/stage" "$LC_TARGET_PID" <"$D/m1"
	run -0 --separate-stderr lc-precopy -R "$fd" "$LC_TARGET_PID"
	assert_regex "$stderr" "closed the userfaultfd \\(fd $fd\\) in process $LC_TARGET_PID"
	lc_assert_nothing_left "$LC_TARGET_PID"
	run -0 --separate-stderr lc-precopy -R "$fd" "$LC_TARGET_PID"
	assert_regex "$stderr" 'not a livecore userfaultfd: nothing to release'
	# an fd that is something else is never closed
	run -0 --separate-stderr lc-precopy -R 0 "$LC_TARGET_PID"
	assert_regex "$stderr" 'fd 0 .* nothing to release'
	run -0 readlink "/proc/$LC_TARGET_PID/fd/0"
	assert_output /dev/null
}
