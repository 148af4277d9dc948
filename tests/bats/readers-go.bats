#!/usr/bin/env bats
# Delve reads a core of the Go target (tests/targets/go/lcgo): the
# goroutines and the functions they wait in, globals and a heap value, and
# which goroutine runs on which thread. Delve finds the goroutine of a
# thread through the thread's fs_base and registers, and every goroutine
# through the runtime's data: a core with wrong notes or missing heap
# arenas shows up here, not in gdb.

bats_require_minimum_version 1.8.0
bats_load_library bats-support
bats_load_library bats-assert

setup() {
	load helpers
	load readers
	LCGO="$LIVECORE_BUILD/targets/lcgo"
	command -v go >/dev/null || skip "needs: go"
	[ -x "$LCGO" ] || fail "$LCGO is not built (make go-target)"
	command -v dlv >/dev/null || skip "needs: dlv"
	readers_require_dumper
	# Delve keeps its configuration under the user's config directory.
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
}

teardown() {
	lc_cleanup_targets
}

# go_target_core - starts lcgo, waits until its goroutines are parked (its
# info file is written then), dumps it to $CORE. Sets GO_INFO and CORE.
go_target_core() {
	local i pid

	GO_INFO="$BATS_TEST_TMPDIR/lcgo.info"
	CORE="$BATS_TEST_TMPDIR/lcgo.core"
	# 3>&-: bats waits for every holder of fd 3 before it ends a test
	"$LCGO" -o "$GO_INFO" 2>"$BATS_TEST_TMPDIR/lcgo.stderr" </dev/null >/dev/null 3>&- &
	pid=$!
	LC_TARGET_PIDS+=("$pid")
	for ((i = 0; i < 3000; i++)); do
		[ -s "$GO_INFO" ] && break
		[ -n "$(lc_proc_state "$pid")" ] || break
		sleep 0.01
	done
	[ -s "$GO_INFO" ] || {
		cat "$BATS_TEST_TMPDIR/lcgo.stderr" >&2
		fail "lcgo did not get ready"
	}
	assert_equal "$(lc_info pid "$GO_INFO")" "$pid"
	busy_tid=$(lc_info busy_tid "$GO_INFO")
	# Go's sysmon preempts a goroutine that runs for more than 10 ms; for a
	# few microseconds then busyLoop's thread is in the scheduler, not in
	# busyLoop. Dump again in the rare case that the stop fell there.
	for ((i = 0; i < 5; i++)); do
		rm -f "$CORE"
		readers_dump "$pid" "$CORE"
		threads=$(dlv_core threads) || fail "dlv core failed: $threads"
		grep -q "^[* ] Thread $busy_tid at 0x[0-9a-f]* .* main\.busyLoop\$" <<<"$threads" && return 0
	done
	fail "five dumps never caught thread $busy_tid in main.busyLoop; dlv threads says: $threads"
}

# dlv_core COMMAND... - runs each COMMAND in `dlv core` on the Go target and
# its core, then exits. Delve 1.20 reads --init scripts but wants a
# terminal unless told otherwise.
dlv_core() {
	local script="$BATS_TEST_TMPDIR/dlv.init"

	printf '%s\n' "$@" exit >"$script"
	dlv core "$LCGO" "$CORE" --init "$script" --allow-non-terminal-interactive=true </dev/null
}

# goroutine_functions - reads `goroutines -t` output on stdin and prints, for
# every frame of every goroutine, "FUNCTION STATE", where STATE is the
# goroutine's wait reason in brackets, or "(thread TID)" for one running.
goroutine_functions() {
	awk '
	/^[* ] Goroutine [0-9]+ - / {
		state = ""
		if (match($0, /\[[^]]*\]$/)) state = substr($0, RSTART)
		else if (match($0, /\(thread [0-9]+\)$/)) state = substr($0, RSTART)
		next
	}
	/^\t[0-9]+ +0x[0-9a-f]+ in / { print $4, state }
	'
}

@test "dlv core: goroutines wait in the functions the Go target parked them in" {
	go_target_core
	busy_tid=$(lc_info busy_tid "$GO_INFO")

	run -0 dlv_core 'goroutines' 'goroutines -t'
	# the list a user reads first: the user frame of each goroutine
	assert_line --regexp '^  Goroutine [0-9]+ - User: .*/main\.go:[0-9]+ main\.main \(0x[0-9a-f]+\) \[select \(no cases\)\]$'
	assert_line --regexp '^  Goroutine [0-9]+ - User: .*/main\.go:[0-9]+ main\.blockOnChannel \(0x[0-9a-f]+\) \[chan receive\]$'
	assert_line --regexp '^  Goroutine [0-9]+ - User: .*/main\.go:[0-9]+ main\.blockInSelect \(0x[0-9a-f]+\) \[select\]$'
	assert_line --regexp "^[* ] Goroutine [0-9]+ - User: .*/main\.go:[0-9]+ main\.busyLoop \(0x[0-9a-f]+\) \(thread $busy_tid\)\$"

	# every function the target names, in a goroutine stack with its state
	frames=$(goroutine_functions <<<"$output")
	run -0 echo "$frames"
	for fn in $(lc_info goroutines "$GO_INFO" | tr , ' '); do
		case $fn in
		main.blockOnChannel) assert_line "$fn [chan receive]" ;;
		main.blockInSelect) assert_line "$fn [select]" ;;
		# Go 1.19 says semacquire; later versions sync.Mutex.Lock
		main.blockOnMutex) assert_line --regexp "^main\.blockOnMutex \[(semacquire|sync\.Mutex\.Lock)\]\$" ;;
		main.sleepLoop) assert_line "$fn [sleep]" ;;
		main.busyLoop) assert_line "$fn (thread $busy_tid)" ;;
		*) fail "lcgo names $fn, which this test does not know" ;;
		esac
	done
	# the mutex waiter's stack goes through sync down to the runtime
	assert_line --regexp '^sync\.\(\*Mutex\)\.Lock '
	assert_line --regexp '^runtime\.gopark '
}

@test "dlv core: print reads the Go target's globals and a value on its heap" {
	go_target_core
	marker=$(lc_info marker "$GO_INFO")
	heap_marker=$(lc_info heap_marker "$GO_INFO")

	run -0 dlv_core 'print %x main.lcGlobalMarker' 'print main.lcGlobalString' \
		'print %x main.lcHeapRecord.Marker' 'print main.lcHeapRecord.Name'
	assert_line --index 1 "${marker#0x}"
	assert_line --index 2 "\"$(lc_info string "$GO_INFO")\""
	assert_line --index 3 "${heap_marker#0x}"
	assert_line --index 4 "\"$(lc_info heap_name "$GO_INFO")\""
	# the target's own values: the test would pass on zeros otherwise
	assert_equal "$marker" 0x6c69766563307265
	assert_equal "$heap_marker" 0x9396899a9ccf8d9a
}

@test "dlv core: the goroutine running on a thread is linked to that thread" {
	go_target_core
	busy_tid=$(lc_info busy_tid "$GO_INFO")
	pid=$(lc_info pid "$GO_INFO")
	# busyLoop runs on a thread of its own, not the main thread (the main
	# goroutine holds that one), so a reader that always picks the first
	# thread fails here
	[ "$busy_tid" != "$pid" ] || fail "lcgo's busyLoop runs on the main thread"

	run -0 dlv_core 'threads' "thread $busy_tid" 'goroutine'
	# thread -> its position
	assert_line --regexp "^[* ] Thread $busy_tid at 0x[0-9a-f]+ .*/main\.go:[0-9]+ main\.busyLoop\$"
	assert_line --regexp "^[* ] Thread $pid at 0x[0-9a-f]+ "
	# thread -> goroutine: switching to the thread makes busyLoop's
	# goroutine the current one
	assert_line --regexp "^Switched from [0-9]+ to $busy_tid\$"
	assert_output --regexp $'\nGoroutine [0-9]+:\n\tRuntime: [^\n]*main\\.busyLoop \\(0x[0-9a-f]+\\)\n'
}

@test "dlv core after gcore read the Go target once: the stop copies no more, the core takes no more space; Delve lists its goroutines and prints a heap value" {
	[ "${LC_READERS_DUMPER:-livecore}" = livecore ] || skip "needs: livecore as the dumper (this compares two of its dumps)"
	command -v gcore >/dev/null || skip "needs: gdb (gcore)"
	go_target_core
	pid=${LC_TARGET_PIDS[-1]}
	delta() { sed -n 's/.*delta [0-9.]* ms: \([0-9]*\) pages.*/\1/p' <<<"$1"; }
	kib() { echo $(($(stat -c '%b * %B' "$1") / 1024)); }
	run -0 --separate-stderr livecore.sh -w "$BATS_TEST_TMPDIR" "$pid" "$BATS_TEST_TMPDIR/before.core"
	pages_a=$(delta "$stderr") kib_a=$(kib "$BATS_TEST_TMPDIR/before.core")
	# gcore reads the Go runtime's ---p arena reservations through
	# /proc/PID/mem: each read maps the zero page there
	run -0 gcore -o "$BATS_TEST_TMPDIR/g" "$pid"
	rm -f "$BATS_TEST_TMPDIR"/g.*
	run -0 --separate-stderr livecore.sh -w "$BATS_TEST_TMPDIR" "$pid" "$BATS_TEST_TMPDIR/after.core"
	pages_b=$(delta "$stderr") kib_b=$(kib "$BATS_TEST_TMPDIR/after.core")
	printf '# before gcore: %s pages in the stop, core %s KiB; after: %s pages, %s KiB\n' \
		"$pages_a" "$kib_a" "$pages_b" "$kib_b" >&3
	# the Go target runs (a busy goroutine): some slack in pages
	[ "$pages_b" -le $((pages_a + 256)) ]
	[ "$kib_b" -le $((kib_a + kib_a / 10 + 8192)) ]
	CORE=$BATS_TEST_TMPDIR/after.core
	run -0 dlv_core 'goroutines' 'print %x main.lcHeapRecord.Marker'
	assert_output --regexp 'Goroutine [0-9]+ - .*main\.'
	assert_line "$(lc_info heap_marker "$GO_INFO" | sed 's/^0x//')"
}
