#!/usr/bin/env bats
# A busy JVM (issue 26): OpenJDK from Debian, threads allocating as fast as
# they can (tests/targets/java/LcAlloc.java), dumped live with each tracker
# that works here, and with -T fork, and read by the JDK's own core reader, jhsdb (the
# serviceability agent): every Java thread named, the heap walked to the
# end with the objects the program holds.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	lc_require_root
	command -v java >/dev/null && command -v jhsdb >/dev/null ||
		skip "needs: java and jhsdb (openjdk-17-jdk-headless)"
	[ -f "$LIVECORE_BUILD/java/LcAlloc.class" ] || skip "needs: javac (make java-target)"
	D=$BATS_TEST_TMPDIR
	JPID=
}

teardown() {
	if [ -n "${JPID:-}" ]; then
		kill -KILL "$JPID" 2>/dev/null
		wait "$JPID" 2>/dev/null
	fi
	return 0
}

modes_here() {
	if lc_kernel_has_uffd; then
		echo uffd fork none
	else
		echo fork none
	fi
}

# start_jvm THREADS LIVE_MIB - LcAlloc running, its allocators at speed
start_jvm() {
	local i

	java -Xmx256m -XX:+UseG1GC -cp "$LIVECORE_BUILD/java" LcAlloc "$D/ready" "$1" "$2" \
		</dev/null >"$D/jvm.out" 2>&1 &
	JPID=$!
	for ((i = 0; i < 600; i++)); do
		[ -s "$D/ready" ] && break
		sleep 0.05
	done
	[ "$(cat "$D/ready" 2>/dev/null)" = "$JPID" ] || {
		cat "$D/jvm.out"
		false
	}
	sleep 1
}

@test "a busy JVM dumped live, per tracker: jhsdb jstack names every allocating thread, jhsdb jmap --histo walks the heap to the 1000 markers it holds; the JVM runs on, nothing left in it" {
	start_jvm 4 64
	exe=$(readlink -f "/proc/$JPID/exe")
	for mode in $(modes_here); do
		core=$D/jvm-$mode.core
		run -0 --separate-stderr livecore.sh -T "$mode" -w "$D" "$JPID" "$core"
		lc_say "$mode: $(tail -n 1 <<<"$stderr")"
		if [ "$mode" = fork ]; then
			assert_regex "$stderr" 'a copy-on-write clone \(fork\) made in'
		else
			assert_regex "$stderr" "pre-copy passes \\($mode\\)"
		fi
		lc_assert_nothing_left "$JPID"
		kill -0 "$JPID"

		run -0 --separate-stderr timeout 300 jhsdb jstack --exe "$exe" --core "$core"
		for ((t = 0; t < 4; t++)); do
			assert_output --partial "\"lc-alloc-$t\""
		done
		assert_output --partial '"main"'
		# the allocators' frames, each thread's own
		[ "$(grep -c 'LcAlloc.allocate' <<<"$output")" -ge 4 ]

		run -0 --separate-stderr timeout 300 jhsdb jmap --histo --exe "$exe" --core "$core"
		# the walk went to the end ("Total" after the last class)
		assert_line --regexp '^Total :[[:space:]]+[0-9]+[[:space:]]+[0-9]+$'
		# "num #instances #bytes class name": the markers it holds, all
		# of them; more where the dump caught G1 moving them (the core is
		# the heap at an instant that need not be a safepoint, and jhsdb
		# counts an evacuated region's old copies too: 1004 and 1337 were
		# seen with uffd, 1000 otherwise), never more than twice over
		run -0 awk '$NF == "LcAlloc$LcMarker" { print $2 }' <<<"$output"
		lc_say "$mode: $output LcMarker instances in the heap walk"
		[ "$output" -ge 1000 ] && [ "$output" -le 2000 ]
		rm -f "$core"
	done
	# the JVM is as it was: still allocating, still holding its markers
	sleep 1.5
	kill -0 "$JPID"
	run -0 cat "$D/jvm.out"
	refute_output --partial Exception
}
