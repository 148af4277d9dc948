#!/usr/bin/env bats
# The throttle (issue 26, the ladder's second step in livecore(1)): where
# the default mode cannot clone the process in the stop, a process the
# pre-copy passes do not catch up with, and whose dirty pages the stop
# would copy in longer than the pause budget, is held in brief ptrace stops
# at a growing duty cycle until the passes converge; lc-freeze goes on with
# it until its own stop. The stops are counted and shown, and no outcome
# leaves a thread stopped or traced. LIVECORE_TEST_NO_CLONE stands for
# what refuses a clone on a real system (a memory cgroup without room,
# pids.max). The writer: lc-target rewriting 256 MiB of pattern pages as
# fast as it can (a stop would copy them in about 45 ms).
bats_require_minimum_version 1.8.0
bats_load_library bats-support
bats_load_library bats-assert

setup() {
	load helpers
	lc_require_root
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	T=$BATS_TEST_TMPDIR
	export LIVECORE_TEST_NO_CLONE=1
}

teardown() {
	lc_cleanup_targets
}

# field MANIFEST KEY - KEY= of its throttle header
field() {
	awk -v k="$2" '$2 == "throttle" { for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1"
}

# TRACER: the tracer of PID's main thread, 0 for none; no fork (a throttle
# stop lasts a few ms), and the file in one read (it is made again at each)
tracer_of() {
	local st
	st=$(<"/proc/$1/status") || return 1
	st=${st#*TracerPid:}
	st=${st%%$'\n'*}
	TRACER=${st//[[:space:]]/}
}

# PID is there and not a zombie (builtins only)
running() {
	local line
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	line=${line##*) }
	[ "${line%% *}" != Z ]
}

# no thread of PID is traced or in a ptrace stop (what they are, when not)
untraced() {
	local task
	for task in /proc/"$1"/task/*; do
		[ "$(awk '$1 == "TracerPid:" { print $2 }' "$task/status")" = 0 ] &&
			[ "$(lc_proc_state "${task##*/}")" != t ] && continue
		grep -E '^(State|TracerPid):' "$task/status" | tr '\n' ' '
		echo "(task ${task##*/})"
		return 1
	done
}

@test "throttle: where no clone can be made the default mode slows a writer the passes lose to; its stops (half the budget each) are counted in the manifest and shown; lc-freeze goes on with them; the core holds every page as at the stop; nothing is left traced" {
	lc_start_target --pattern-mib 256 --dirty-set 65000 --dirty-rate 100000000
	sleep 0.3
	LIVECORE_TEST_PRESTOP_DELAY_MS=100 run -0 --separate-stderr livecore.sh -k -b 8 -w "$T" \
		"$LC_TARGET_PID" "$T/a.core"
	summary=$(grep '^livecore: ' <<<"$stderr")
	lc_say "$summary"
	assert_regex "$summary" ', throttled: [1-9][0-9]* stops of up to [0-9.]+ ms \([0-9]+ ms in all, (25|50|75)% of the time at the end\)'
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	run -0 grep '^# throttle ' "$work/manifest.precopy"
	assert_regex "$output" '^# throttle duty-pct=(25|50|75) stop-us=4000 stops=[1-9][0-9]* longest-us=[1-9][0-9]* total-us=[1-9][0-9]* error=0$'
	# lc-freeze held the process at that duty during its 100 ms before
	# the stop: more stops, more time
	[ "$(field "$work/manifest.freeze" stops)" -gt "$(field "$work/manifest.precopy" stops)" ]
	[ "$(field "$work/manifest.freeze" total-us)" -gt "$(field "$work/manifest.precopy" total-us)" ]
	assert_equal "$(field "$work/manifest.freeze" duty-pct)" "$(field "$work/manifest.precopy" duty-pct)"
	# the passes went on under the throttle: more than one
	[ "$(grep -c '^# pass ' "$work/manifest.precopy")" -ge 2 ]
	lc_check_generations "$T/a.core"
	untraced "$LC_TARGET_PID"
	lc_assert_nothing_left "$LC_TARGET_PID"
}

@test "throttle: not with --no-throttle, not with -T uffd, not where a clone can be made (the ladder's first step), and not for a writer whose delta fits the budget" {
	lc_start_target --pattern-mib 256 --dirty-rate 100000000
	sleep 0.3
	for how in --no-throttle "-T uffd"; do
		# shellcheck disable=SC2086 # two words
		run -0 --separate-stderr livecore.sh -k -w "$T" $how "$LC_TARGET_PID" "$T/a.core"
		refute_regex "$stderr" 'throttled'
		work=$(find "$T" -maxdepth 1 -name '.livecore.*')
		run -1 grep '^# throttle ' "$work/manifest.freeze"
		rm -rf "$work" "$T/a.core"
	done
	LIVECORE_TEST_NO_CLONE='' run -0 --separate-stderr livecore.sh -k -w "$T" "$LC_TARGET_PID" "$T/a.core"
	assert_regex "$stderr" 'then a copy-on-write clone \(fork\) made in'
	refute_regex "$stderr" 'throttled'
	rm -rf "$T"/.livecore.* "$T/a.core"
	lc_kill_target "$LC_TARGET_PID" || true
	# 4 MiB (1000 pages of it) rewritten as fast as it can: a stop copies that in about 1 ms
	lc_start_target --pattern-mib 4 --dirty-set 1000 --dirty-rate 100000000
	sleep 0.3
	run -0 --separate-stderr livecore.sh -k -w "$T" "$LC_TARGET_PID" "$T/b.core"
	refute_regex "$stderr" 'throttled'
	lc_check_generations "$T/b.core"
	lc_assert_nothing_left "$LC_TARGET_PID"
}

@test "throttle: SIGKILL of lc-precopy inside a throttle stop leaves the process running and untraced (lc-precopy -R closes the userfaultfd); SIGTERM of livecore.sh while it throttles leaves nothing" {
	lc_start_target --pattern-mib 256 --dirty-rate 100000000
	sleep 0.3
	pid=$LC_TARGET_PID
	lc-maps "$pid" >"$T/m"
	lc-precopy -q -T uffd -S 8 -s "$T/stage" "$pid" <"$T/m" >"$T/p" 2>"$T/err" &
	pre=$!
	# a throttle stop: a thread of the process traced by lc-precopy
	# (not the injection at the start: a thread other than lc-precopy's
	# main one)
	TRACER=0
	while running "$pre"; do
		tracer_of "$pid"
		[ "$TRACER" != 0 ] && [ "$TRACER" != "$pre" ] && [ -d "/proc/$pre/task/$TRACER" ] && break
	done
	grep -E '^# (pass|precopy-end|throttle) ' "$T/p" || true
	[ "$TRACER" != 0 ] && [ "$TRACER" != "$pre" ]
	kill -KILL "$pre"
	wait "$pre" || true
	for ((i = 0; i < 100; i++)); do untraced "$pid" && break; sleep 0.01; done
	untraced "$pid"
	run -0 lc-precopy -R "$(awk '$2 == "uffd" { sub("^fd=", "", $3); print $3; exit }' "$T/p")" "$pid"
	lc_assert_nothing_left "$pid"

	livecore.sh -w "$T" "$pid" "$T/c.core" 2>"$T/lc.err" &
	driver=$!
	# (a throttle stop, or the injection before it)
	while running "$driver"; do
		tracer_of "$pid"
		[ "$TRACER" != 0 ] && break
	done
	kill -TERM "$driver"
	rc=0
	wait "$driver" || rc=$?
	# interrupted (8): the process resumed, no core
	assert_equal "$rc" 8
	for ((i = 0; i < 100; i++)); do untraced "$pid" && break; sleep 0.01; done
	untraced "$pid"
	lc_assert_nothing_left "$pid"
	[ ! -e "$T/c.core" ]
	run -0 find "$T" -maxdepth 1 -name '.livecore.*'
	assert_output ''
}

@test "throttle: another user's process (nobody) throttled: its core read by gdb, every thread untraced and running after, nothing left in it" {
	lc_start_target_as nobody --threads 2 --pattern-mib 32
	# a quiet target: a throttle step after every pass (LIVECORE_TEST_THROTTLE)
	LIVECORE_TEST_THROTTLE=1 run -0 --separate-stderr livecore.sh -w "$T" "$LC_TARGET_PID" "$T/n.core"
	assert_regex "$stderr" 'throttled: [1-9][0-9]* stops of up to'
	untraced "$LC_TARGET_PID"
	lc_assert_nothing_left "$LC_TARGET_PID"
	run -0 gdb -batch -nx -ex 'thread apply all bt' "$LIVECORE_BUILD/targets/lc-target" "$T/n.core"
	assert_output --partial "$(lc_info main.func)"
	run -0 lc_core_pagecheck "$T/n.core" "$(lc_info pattern.addr)" $(($(lc_info pattern.size) / 4096))
	assert_output "good $(($(lc_info pattern.size) / 4096)) bad 0"
}

@test "throttle: lc-precopy -S keeps CAP_SYS_NICE permitted, not in force (its thread takes a real-time priority with it); lc-freeze keeps it when it goes on throttling" {
	lc_start_target --pattern-mib 64
	lc-maps "$LC_TARGET_PID" >"$T/m"
	LIVECORE_DEBUG_PRIVILEGES=1 run -0 --separate-stderr lc-precopy -q -T uffd -S 20 -s "$T/stage" \
		"$LC_TARGET_PID" <"$T/m"
	# CAP_SYS_PTRACE (19) in force, CAP_SYS_NICE (23) permitted
	assert_regex "$stderr" 'CapPrm=0000000000880000 CapEff=0000000000080000'
	printf '%s\n' "$output" >"$T/p"
	# a throttle header as the pre-copy leaves it when it ended throttling
	sed 's/^\(# stage-end .*\)$/# throttle duty-pct=25 stop-us=4000 stops=1 longest-us=4000 total-us=4000 error=0\n\1/' \
		"$T/p" >"$T/p2"
	LIVECORE_DEBUG_PRIVILEGES=1 run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" \
		"$LC_TARGET_PID" <"$T/p2"
	assert_regex "$stderr" 'after setup: CapInh=0+ CapPrm=0000000000880000 CapEff=0000000000080000'
	lc_assert_nothing_left "$LC_TARGET_PID"
}
