#!/usr/bin/env bats
# A real program from Debian dumped live: redis-server (packages
# redis-server and redis-tools), under a client load on loopback, dumped
# with livecore.sh's default tracker, and its core read by gdb with
# Debian's stripped binary: every thread's backtrace by the names of the
# dynamic symbol table (redis links with -rdynamic for its crash reports),
# and a value SET before the dump, at the address tests/targets/lc-memfind.c
# found it in the live process.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	command -v redis-server >/dev/null || skip "needs: redis-server"
	command -v redis-cli >/dev/null || skip "needs: redis-cli (redis-tools)"
	command -v redis-benchmark >/dev/null || skip "needs: redis-benchmark (redis-tools)"
	command -v gdb >/dev/null || skip "needs: gdb"
	LC_MEMFIND="$LIVECORE_BUILD/targets/lc-memfind"
	REDIS_DIR="$BATS_TEST_TMPDIR/redis"
	mkdir -p "$REDIS_DIR"
}

teardown() {
	lc_cleanup_targets
}

# redis_start - starts redis-server (behind REDIS_RUNNER, a command line,
# when set) on 127.0.0.1 at a free port, without
# persistence, its files in $REDIS_DIR, registered for lc_cleanup_targets;
# waits (at most ~10 s) until it answers PING. Sets REDIS_PID and
# REDIS_PORT. A port that another program holds makes redis exit (bind:
# Address already in use): then it tries another, up to 10 times. Ports
# below 32768, the kernel's default range for outgoing connections.
redis_start() {
	local try i port log

	for ((try = 0; try < 10; try++)); do
		port=$((20000 + RANDOM % 12000))
		log="$REDIS_DIR/redis.$port.log"
		# 3>&-: bats waits for every holder of fd 3 before it ends a test
		# shellcheck disable=SC2086 # REDIS_RUNNER is a command line
		${REDIS_RUNNER:-} redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--daemonize no --dir "$REDIS_DIR" --logfile "$log" \
			</dev/null >/dev/null 2>&1 3>&- &
		REDIS_PID=$!
		LC_TARGET_PIDS+=("$REDIS_PID")
		for ((i = 0; i < 500; i++)); do
			kill -0 "$REDIS_PID" 2>/dev/null || break
			if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
				# and it is ours that answered, not another server's
				redis-cli -h 127.0.0.1 -p "$port" info server | tr -d '\r' |
					grep -qx "process_id:$REDIS_PID" || break
				REDIS_PORT=$port
				return 0
			fi
			sleep 0.02
		done
		lc_kill_target "$REDIS_PID"
		grep -qs 'Address already in use' "$log" && continue
		echo "redis_start: redis-server on port $port did not answer PING:" >&2
		cat "$log" >&2
		return 1
	done
	echo "redis_start: no free port found in 10 tries" >&2
	return 1
}

rcli() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# expected_tracking - the mode `lc-precopy -T auto` picks here: the one
# LIVECORE_FORCE_TRACKING forces, else soft-dirty where it works, else uffd
# on Linux 6.7+ (redis runs under no seccomp filter and no other tracer),
# else none.
expected_tracking() {
	local v major minor

	if [ -n "${LIVECORE_FORCE_TRACKING:-}" ]; then
		echo "$LIVECORE_FORCE_TRACKING"
		return
	fi
	if "$LIVECORE_BUILD/targets/lc-precopy-target" --probe-soft-dirty >/dev/null 2>&1; then
		echo soft-dirty
		return
	fi
	v=$(uname -r)
	major=${v%%.*} minor=${v#*.}
	minor=${minor%%.*}
	if [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 7 ]; }; then
		echo uffd
	else
		echo none
	fi
}

# gdb_frames - `thread apply all bt` output on stdin to "LWP FUNCTION"
# lines, one per frame, innermost first (?? where gdb knows no name)
gdb_frames() {
	awk '/^Thread [0-9]+ \(.*LWP [0-9]+\)\)?:$/ {
		lwp = $0; sub(/.*LWP /, "", lwp); sub(/\).*/, "", lwp); next }
	lwp != "" && $1 ~ /^#[0-9]+$/ { f = ($2 ~ /^0x/ && $3 == "in") ? $4 : $2; print lwp, f }'
}

# bats test_tags=slow
@test "redis-server under load: dumped live, it serves on; gdb reads every thread's backtrace and a SET value from the core" {
	lc_require_root
	redis_start

	# tens of MB of data: ~63 000 keys of 100 bytes
	run -0 redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -t set -n 100000 -r 100000 -d 100
	run -0 rcli dbsize
	[ "$output" -ge 50000 ] || fail "only $output keys after the fill"

	# 48 random hex characters: longer than an embedded string (44), so
	# redis keeps it in an allocation of its own
	value=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	[ ${#value} -eq 48 ]
	run -0 rcli set livecore:known "$value"
	assert_output OK
	run -0 "$LC_MEMFIND" "$REDIS_PID" "$value"
	before=$output

	# a load on other keys (key:NNNNNNNNNNNN) until the dump is over:
	# rounds of 100 000 requests (under a second here; redis-benchmark 7
	# exits at the first error reply, which ends the loop), the last one
	# started before the stop file appears (a fixed count once ended
	# before a dump slowed by a loaded machine)
	(
		while [ ! -e "$BATS_TEST_TMPDIR/load.stop" ]; do
			redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -c 20 -t set,get -n 50000 \
				-r 100000 -d 100 || exit
		done
	) >"$BATS_TEST_TMPDIR/load.out" 2>&1 </dev/null 3>&- &
	load=$!
	LC_TARGET_PIDS+=("$load")
	# its first progress report: requests are flowing
	for _ in $(seq 500); do
		grep -qs 'rps=[1-9]' "$BATS_TEST_TMPDIR/load.out" && break
		kill -0 "$load" 2>/dev/null || break
		sleep 0.02
	done
	run -0 grep -c 'rps=[1-9]' "$BATS_TEST_TMPDIR/load.out"

	core="$BATS_TEST_TMPDIR/redis.core"
	run --separate-stderr livecore.sh "$REDIS_PID" "$core"
	summary=$stderr
	echo "livecore.sh: status $status; its stderr: $summary" # shown if the test fails
	assert_equal "$status" 0
	kill -0 "$load" 2>/dev/null || fail "the load had ended before the dump did: not a dump under load"
	assert_regex "$summary" "livecore: pause [0-9.]+ ms .*, [0-9]+ pre-copy passes \\($(expected_tracking)\\), "

	# the server serves on, with the value
	run -0 rcli ping
	assert_output PONG
	run -0 rcli get livecore:known
	assert_output "$value"
	run -0 bash -c "ls -l /proc/$REDIS_PID/fd | grep -c 'anon_inode:\[userfaultfd\]' || true"
	assert_output 0

	# the load ends with the round under way, every request answered
	touch "$BATS_TEST_TMPDIR/load.stop"
	rc=0
	wait "$load" || rc=$?
	run -0 tr '\r' '\n' <"$BATS_TEST_TMPDIR/load.out"
	[ "$rc" -eq 0 ] || fail "redis-benchmark exited $rc: $output"
	assert_line --regexp '^SET: [0-9.]+ requests per second'
	assert_line --regexp '^GET: [0-9.]+ requests per second'
	refute_output --regexp '[Ee]rror'

	# The value's addresses: of those lc-memfind found before the dump,
	# the ones that still hold it now held it at the stop too (the load
	# writes other keys; freed query buffers that held it may be reused).
	# There is at least one: the stored value.
	run -0 "$LC_MEMFIND" "$REDIS_PID" "$value"
	addrs=$(comm -12 <(sort <<<"$before") <(sort <<<"$output"))
	[ -n "$addrs" ] || fail "the value moved: before the dump at $before, after at $output"

	gdb_core() {
		local c args=()
		for c in "$@"; do
			args+=(-ex "$c")
		done
		gdb -batch -nx -iex 'set debuginfod enabled off' "${args[@]}" "$(command -v redis-server)" "$core"
	}

	xs=()
	for a in $addrs; do
		xs+=("x/s $a")
	done
	run -0 gdb_core "${xs[@]}"
	for a in $addrs; do
		assert_line --regexp "^$a( <[^>]*>)?:[[:space:]]+\"$value"
	done

	# every thread of the process, and the function redis put each in:
	# the main thread in its event loop, the bio threads (bio_close_file,
	# bio_aof_fsync, bio_lazy_free) in bioProcessBackgroundJobs, jemalloc's
	# background thread started by libc
	run -0 gdb_core 'thread apply all bt'
	ntasks=$(find "/proc/$REDIS_PID/task" -mindepth 1 -maxdepth 1 | wc -l)
	assert_equal "$(grep -c '^Thread [0-9]* (Thread 0x[0-9a-f]* (LWP [0-9]*)):$' <<<"$output")" "$ntasks"
	frames=$(gdb_frames <<<"$output")
	# the main thread's two outermost frames
	run -0 awk -v t="$REDIS_PID" '$1 == t { f[n++] = $2 } END { print f[n - 2], f[n - 1] }' <<<"$frames"
	assert_output 'aeMain main'
	run -0 echo "$frames"
	nbio=0
	for task in "/proc/$REDIS_PID/task"/*; do
		tid=${task##*/}
		case $(cat "$task/comm") in
		bio_*)
			assert_line "$tid bioProcessBackgroundJobs"
			assert_line "$tid start_thread"
			nbio=$((nbio + 1)) ;;
		jemalloc_bg_thd) assert_line "$tid start_thread" ;;
		esac
	done
	[ "$nbio" -ge 1 ] || fail "no bio thread in redis-server $REDIS_PID"
}

# redis_fill_and_dump CORE - ~20 000 keys, then a dump with the default
# tracker; prints the pages its stop copied. The server must answer after.
redis_fill_and_dump() {
	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -t set -n 20000 -r 20000 -d 100 >/dev/null
	run -0 --separate-stderr livecore.sh "$REDIS_PID" "$1"
	lc_say "$(tail -n 1 <<<"$stderr")"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	run -0 rcli ping
	assert_output PONG
	lc_assert_nothing_left "$REDIS_PID"
	sed -n 's/.*delta [0-9.]* ms: \([0-9]*\) pages.*/\1/p' <<<"$stderr" >"$1.pages"
}

@test "redis-server under Podman's default seccomp profile: dumped with the default tracker (uffd, its filter suspended), as small a stop as without it; it serves on, its filter as it was; gdb reads the core" {
	lc_require_root
	profile=/usr/share/containers/seccomp.json
	[ -r "$profile" ] || skip "needs: golang-github-containers-common (its seccomp.json)"
	command -v jq >/dev/null || skip "needs: jq"
	[ "$(expected_tracking)" = uffd ] || skip "needs: uffd as the default tracker"
	arch=$(dpkg --print-architecture)
	rules=$BATS_TEST_TMPDIR/podman.rules
	jq -r --arg arch "$arch" -f "$BATS_TEST_DIRNAME/../seccomp-rules.jq" "$profile" >"$rules"
	# Podman's profile answers userfaultfd with EPERM: the call the uffd
	# tracker injects, had the filter seen it
	grep -q '^SCMP_ACT_ERRNO 1 userfaultfd 0$' "$rules"
	# the same server without a filter, for the size of the stop
	redis_start
	redis_fill_and_dump "$BATS_TEST_TMPDIR/plain.core"
	lc_kill_target "$REDIS_PID" || true
	REDIS_RUNNER="$LIVECORE_BUILD/targets/lc-seccomp-profile $rules" redis_start
	[ "$(awk '$1 == "Seccomp:" { print $2 }' "/proc/$REDIS_PID/status")" = 2 ]
	filters=$(awk '$1 == "Seccomp_filters:" { print $2 }' "/proc/$REDIS_PID/status")
	core=$BATS_TEST_TMPDIR/podman.core
	redis_fill_and_dump "$core"
	plain=$(cat "$BATS_TEST_TMPDIR/plain.core.pages") filtered=$(cat "$core.pages")
	[ "$filtered" -le $((2 * plain + 256)) ]
	[ "$(awk '$1 == "Seccomp_filters:" { print $2 }' "/proc/$REDIS_PID/status")" = "$filters" ]
	run -0 gdb -batch -nx -iex 'set debuginfod enabled off' -ex 'thread apply all bt' \
		"$(command -v redis-server)" "$core"
	assert_output --partial aeMain
}
