#!/usr/bin/env bats
# -T fork (issue 15): a copy-on-write clone of the process made in the
# stop, copied after it. What a clone does not hold as the process had it
# (MAP_SHARED, MADV_WIPEONFORK, MADV_DONTFORK) comes from the process in
# the stop; the process never sees the clone (no SIGCHLD, nothing for its
# wait, no fd held open by it), and no clone is left on any outcome.
# lc-forkee (tests/targets/lc-forkee.c) is the process; the torture target
# runs with -T fork in torture.bats.
bats_require_minimum_version 1.8.0
bats_load_library bats-support
bats_load_library bats-assert

setup() {
	load helpers
	load readers
	FORKEE="$LIVECORE_BUILD/targets/lc-forkee"
	COREREAD="$LIVECORE_BUILD/targets/lc-coreread"
	T=$BATS_TEST_TMPDIR
	export HOME="$T/home"
	mkdir -p "$HOME"
}

teardown() {
	lc_cleanup_targets
	# the memory cgroup test's, empty now
	lc_remove_cgroup "$CG"
}

# word CORE ADDR [N] - N words of CORE at ADDR, as 0x-hex, on one line
word() {
	"$COREREAD" -w "$1" "$2" "${3:-1}" | while read -r w; do printf '0x%x ' "$w"; done
}

# pattern ADDR [N] - what lc-forkee wrote at ADDR (each word: its address
# XOR the pattern), as word prints it
pattern() {
	local i
	for ((i = 0; i < ${2:-1}; i++)); do
		printf '0x%x ' $((($1 + 8 * i) ^ 0x5deece66d1f0c0de))
	done
}

# from_target MANIFEST ADDR - ADDR lies in a fork-from-target range
from_target() {
	local range
	for range in $(awk '$2 == "fork-from-target" { print $3 }' "$1"); do
		(($2 >= 0x${range%-*} && $2 < 0x${range#*-})) && return 0
	done
	return 1
}

@test "fork: shared, wipe-on-fork and dont-fork memory as the process had it in the stop; the counters agree; no SIGCHLD, no child for its wait, no clone left; a fifo it closes during the copy reaches EOF before the dump ends" {
	mkfifo "$T/fifo"
	(cat "$T/fifo" >/dev/null && touch "$T/eof") &
	lc_start_program "$FORKEE" "$T/info" --threads 3 --mib 64 --fifo "$T/fifo"
	pid=$LC_STARTED_PID
	# the copy from the clone waits 3 s: the process closes the fifo then
	LIVECORE_TEST_CLONE_DELAY_MS=3000 livecore.sh -k -w "$T" -T fork "$pid" "$T/f.core" \
		2>"$T/stderr" &
	dumper=$!
	lc_wait_state "$pid" SR
	for ((i = 0; i < 200; i++)); do
		[ -n "$(lc_clones_of "$pid")" ] && break
		sleep 0.01
	done
	run -0 lc_clones_of "$pid"
	refute_output ""
	clone=$output
	kill -USR1 "$pid"
	for ((i = 0; i < 200; i++)); do
		[ -e "$T/eof" ] && break
		sleep 0.01
	done
	# EOF while the clone lived: it shares the fd table, holds no copy
	[ -e "$T/eof" ] && [ -d "/proc/$clone" ] && kill -0 "$dumper"
	wait "$dumper" || fail "livecore.sh failed: $(cat "$T/stderr")"
	run -0 cat "$T/stderr"
	assert_output --regexp 'livecore: pause [0-9.]+ ms .* a copy-on-write clone \(fork\) made in [0-9.]+ ms of it, [0-9.]+ MiB copied from the clone in [0-9.]+ s while the process ran, duplicating [0-9.]+ MiB of its memory'
	# the memory a clone does not hold came from the process, in the stop
	for r in shared wipe dontfork; do
		a=$(lc_info "$r.addr" "$T/info")
		assert_equal "$(word "$T/f.core" $((a + 4096)) 4)" "$(pattern $((a + 4096)) 4)"
	done
	a=$(lc_info private.addr "$T/info")
	assert_equal "$(word "$T/f.core" $((a + 8192)) 4)" "$(pattern $((a + 8192)) 4)"
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	for r in shared wipe dontfork; do
		from_target "$work/manifest.freeze" "$(lc_info "$r.addr" "$T/info")"
	done
	! from_target "$work/manifest.freeze" "$(lc_info private.addr "$T/info")"
	# shared is written first: at one instant private <= shared <= private + 1
	private=$("$COREREAD" -w "$T/f.core" "$(lc_info counter.private "$T/info")")
	shared=$("$COREREAD" -w "$T/f.core" "$(lc_info counter.shared "$T/info")")
	lc_say "counters in the core: private $private, shared $shared"
	[ "$private" -gt 0 ] && [ "$shared" -ge "$private" ] && [ "$shared" -le $((private + 1)) ]
	# the process saw nothing: no SIGCHLD, no child reaped, no clone left
	sleep 0.1
	run -0 cat "$T/info.state"
	assert_output "sigchld=0 reaped=0"
	lc_assert_nothing_left "$pid"
	[ ! -d "/proc/$clone" ]
}

@test "fork: gdb, eu-stack and lldb find every thread of lc-target in a fork core where they find it in a none core" {
	command -v gdb >/dev/null || skip "needs: gdb"
	command -v eu-stack >/dev/null || skip "needs: eu-stack"
	command -v lldb >/dev/null || skip "needs: lldb"
	lc_start_target --threads 4 --pattern-mib 8 --tls
	bin=$(lc_info exe)
	run -0 --separate-stderr livecore.sh -q -T fork "$LC_TARGET_PID" "$T/fork.core"
	run -0 --separate-stderr livecore.sh -q -T none "$LC_TARGET_PID" "$T/none.core"
	for c in fork none; do
		gdb_core "$bin" "$T/$c.core" 'thread apply all bt' | gdb_frames >"$T/$c.gdb"
		eu-stack --core "$T/$c.core" -e "$bin" | eu_stack_frames >"$T/$c.eu"
		lldb_frames "$bin" "$T/$c.core" 2>/dev/null >"$T/$c.lldb"
	done
	for r in gdb eu lldb; do
		[ -s "$T/fork.$r" ] || fail "$r found no frame in the fork core"
		run -0 diff "$T/none.$r" "$T/fork.$r"
	done
	while read -r tid fn; do
		run -0 grep -c "^$tid $fn\$" "$T/fork.gdb"
		run -0 grep -c "^$tid [0-9]* $fn\$" "$T/fork.eu"
	done < <(expected_threads)
	lc_assert_nothing_left "$LC_TARGET_PID"
}

@test "fork: a clone its cgroup's pids.max refuses: the dump fails saying so, the process runs on, nothing is left" {
	lc_require_root
	cg=/sys/fs/cgroup/pids
	[ -w "$cg/cgroup.procs" ] || cg=/sys/fs/cgroup/unified
	[ -w "$cg/cgroup.procs" ] || skip "needs: a writable pids cgroup"
	grep -qw pids "$cg/cgroup.controllers" 2>/dev/null || [ "$cg" = /sys/fs/cgroup/pids ] ||
		skip "needs: the pids controller"
	lc_start_program "$FORKEE" "$T/info" --threads 2
	pid=$LC_STARTED_PID
	mkdir "$cg/livecore-test-$$"
	echo "$pid" >"$cg/livecore-test-$$/cgroup.procs"
	# its three tasks, and not one more
	echo 3 >"$cg/livecore-test-$$/pids.max"
	run --separate-stderr livecore.sh -T fork "$pid" "$T/f.core"
	echo "$pid" >"$cg/cgroup.procs"
	rmdir "$cg/livecore-test-$$"
	[ "$status" -ne 0 ]
	assert_regex "$stderr" "lc-freeze: cannot clone process $pid: its cgroup's pids.max or its user's RLIMIT_NPROC is reached"
	[ ! -e "$T/f.core" ]
	kill -0 "$pid"
	lc_assert_nothing_left "$pid"
}

# dump_killed SIGNAL WHO - a -T fork dump of lc-forkee whose copy from the
# clone waits (CLONE_DELAY_MS, default 20 s); once the clone exists,
# SIGNAL goes to WHO (lc-freeze or livecore.sh). Sets pid, clone, freeze
# (lc-freeze's pid), rc (livecore.sh's status) and DUMP_STDERR.
dump_killed() {
	lc_start_program "$FORKEE" "$T/info" --threads 2
	pid=$LC_STARTED_PID
	LIVECORE_TEST_CLONE_DELAY_MS=${CLONE_DELAY_MS:-20000} livecore.sh -T fork "$pid" "$T/f.core" \
		2>"$T/stderr" &
	local dumper=$! i
	for ((i = 0; i < 500; i++)); do
		clone=$(lc_clones_of "$pid")
		[ -n "$clone" ] && break
		sleep 0.01
	done
	[ -n "$clone" ] || fail "no clone appeared"
	freeze=$(pgrep -P "$dumper" -x lc-freeze)
	if [ "$2" = lc-freeze ]; then
		pkill "-$1" -P "$dumper" -x lc-freeze
	else
		kill "-$1" "$dumper"
	fi
	rc=0
	wait "$dumper" || rc=$?
	DUMP_STDERR=$(cat "$T/stderr")
}

# nothing_of_the_clone - the process runs, no copy of it ever ran its code,
# no clone (or its zombie) is left, no core
nothing_of_the_clone() {
	kill -0 "$pid"
	[ ! -e "$T/info.clone-ran" ]
	[ ! -d "/proc/$clone" ] || fail "the clone $clone is left: $(cat "/proc/$clone/stat")"
	lc_assert_nothing_left "$pid"
	[ ! -e "$T/f.core" ]
	run -0 cat "$T/info.state"
	assert_output "sigchld=0 reaped=0"
}

@test "fork: lc-freeze killed (SIGKILL) while it copies the clone: the kernel kills the clone before it runs, livecore.sh reaps its zombie, the process runs on" {
	dump_killed KILL lc-freeze
	[ "$rc" = 137 ]
	nothing_of_the_clone
}

@test "fork: lc-freeze killed (SIGKILL) after the clone: the kernel kills the clone (SIGKILL, not a fault of running the process's code); lc-freeze -R reaps its zombie" {
	lc_start_program "$FORKEE" "$T/info" --threads 2
	pid=$LC_STARTED_PID
	lc-maps "$pid" >"$T/m1"
	lc-precopy -q -T fork -s "$T/stage" "$pid" <"$T/m1" >"$T/m2"
	LIVECORE_TEST_CLONE_DELAY_MS=20000 lc-freeze -s "$T/stage" -n "$T/notes" "$pid" \
		<"$T/m2" >"$T/m3" 2>"$T/err" &
	freeze=$!
	for ((i = 0; i < 500; i++)); do
		clone=$(awk '$2 == "fork-clone" { sub("tid=", "", $3); print $3 }' "$T/m3")
		[ -n "$clone" ] && break
		sleep 0.01
	done
	[ -n "$clone" ] || fail "lc-freeze wrote no fork-clone header: $(cat "$T/err")"
	kill -KILL "$freeze"
	wait "$freeze" || true
	lc_wait_state "$clone" Z
	# the wait status the process would get: killed by SIGKILL
	assert_equal "$(lc_proc_field "$clone" 52)" 9
	run -0 --separate-stderr lc-freeze -R "$clone" "$pid"
	assert_regex "$stderr" "reaped the clone $clone left in process $pid"
	[ ! -d "/proc/$clone" ]
	kill -0 "$pid"
	[ ! -e "$T/info.clone-ran" ]
	lc_assert_nothing_left "$pid"
}

@test "fork: livecore.sh killed (SIGKILL) while the clone is copied: lc-freeze, left alone, finishes, kills and reaps the clone" {
	CLONE_DELAY_MS=1500 dump_killed KILL livecore.sh
	[ "$rc" = 137 ]
	for ((i = 0; i < 1000; i++)); do
		kill -0 "$freeze" 2>/dev/null || break
		sleep 0.01
	done
	kill -0 "$pid"
	[ ! -e "$T/info.clone-ran" ]
	[ ! -d "/proc/$clone" ]
	lc_assert_nothing_left "$pid"
}

@test "fork: livecore.sh interrupted (SIGTERM) while the clone is copied: lc-freeze kills and reaps the clone, no core" {
	dump_killed TERM livecore.sh
	[ "$rc" = 8 ]
	assert_regex "$DUMP_STDERR" 'lc-freeze: interrupted; the clone is killed'
	nothing_of_the_clone
}

@test "fork: lc-freeze -R reaps only a clone's zombie: a live process, another's child, a tid that is gone are left alone" {
	lc_start_program "$FORKEE" "$T/info"
	pid=$LC_STARTED_PID
	# the process itself, a child of another process, a tid long gone
	run -0 --separate-stderr lc-freeze -R "$pid" "$pid"
	assert_regex "$stderr" "process $pid is not a clone of process $pid: left alone"
	run -0 --separate-stderr lc-freeze -R $$ "$pid"
	run -0 --separate-stderr lc-freeze -R 4194304 "$pid"
	assert_equal "$stderr" ""
	kill -0 "$pid" && kill -0 $$
	run -2 --separate-stderr lc-freeze -R 12 -s x "$pid"
}

# the fields of /proc/PID/status a dump must leave as they were
status_shape() {
	awk '$1 == "VmPTE:" || $1 == "VmRSS:" || $1 == "AnonHugePages:" || $1 == "Threads:"' "/proc/$1/status"
	ls "/proc/$1/fd" | wc -l
}

@test "fork, the default mode's clone after the passes (LIVECORE_TEST_CLONE), on processes of another user: private memory rewritten as it is dumped, checked generation by generation; memory shared with a second process writing it, every page stamped; gdb reads every thread; the process's page tables, memory and fds as before" {
	lc_require_root
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	lc_start_target_as nobody --threads 2 --pattern-mib 16 --dirty-rate 2000 --dirty-set 256
	sleep 0.3
	before=$(status_shape "$LC_TARGET_PID")
	LIVECORE_TEST_CLONE=1 run -0 --separate-stderr livecore.sh -w "$T" "$LC_TARGET_PID" "$T/p.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\).*then a copy-on-write clone \(fork\)'
	lc_check_generations "$T/p.core"
	run -0 gdb -batch -nx -ex 'thread apply all bt' "$LIVECORE_BUILD/targets/lc-target" "$T/p.core"
	assert_output --partial "$(lc_info main.func)"
	run -0 grep -c '^Thread [0-9]' <<<"$output"
	assert_output "$(find "/proc/$LC_TARGET_PID/task" -mindepth 1 -maxdepth 1 | wc -l)"
	lc_assert_nothing_left "$LC_TARGET_PID"
	# the clone's copy-on-write copies are its, gone with it; VmRSS moves
	# with the writer's own allocations by a few pages at most
	after=$(status_shape "$LC_TARGET_PID")
	[ "$(grep -v VmRSS <<<"$before")" = "$(grep -v VmRSS <<<"$after")" ] ||
		{ echo "before: $before"; echo "after: $after"; false; }
	rss0=$(awk '$1 == "VmRSS:" { print $2 }' <<<"$before")
	rss1=$(awk '$1 == "VmRSS:" { print $2 }' <<<"$after")
	[ $((rss1 - rss0)) -le 256 ] && [ $((rss0 - rss1)) -le 256 ]

	lc_start_target_as nobody --pattern-mib 32 --pattern-shared --shared-writer 5000
	region=$(($(lc_info pattern.size) / 4096))
	LIVECORE_TEST_CLONE=1 run -0 --separate-stderr livecore.sh -w "$T" "$LC_TARGET_PID" "$T/s.core"
	assert_regex "$stderr" 'then a copy-on-write clone \(fork\)'
	kill -0 "$(lc_info shared_writer.pid)"
	paddr=$(lc_info pattern.addr)
	"$LC_COREREAD" -w "$T/s.core" "$paddr" "$region" 4096 >"$T/stamps"
	run -0 awk -v a="$paddr" '$1 != a + (NR - 1) * 4096 { bad++ } END { print NR, bad + 0 }' "$T/stamps"
	assert_output "$region 0"
	lc_assert_nothing_left "$LC_TARGET_PID"
}

@test "fork: a memory cgroup with less free than the process's anonymous memory refuses -T fork before anything stops; with room, the dump is made" {
	lc_require_root
	lc_memory_cgroup
	cg=$CG
	LC_TARGET_RUNNER=$LC_CG_RUNNER lc_start_program "$FORKEE" "$T/info" --mib 64
	pid=$LC_STARTED_PID
	usage=$(cat "$cg/memory.usage_in_bytes")
	# 16 MiB free: less than its 64 MiB that a clone may duplicate
	echo $((usage + (16 << 20))) >"$cg/memory.limit_in_bytes"
	run --separate-stderr livecore.sh -T fork "$pid" "$T/f.core"
	[ "$status" = 4 ]
	assert_regex "$stderr" "lc-freeze: process $pid: its memory cgroup has 1[0-9] MiB free, and the pages it writes while its clone lives are copied, up to its 6[4-9] MiB of anonymous memory: -T fork refused"
	[ ! -e "$T/f.core" ]
	run -0 lc_clones_of "$pid"
	assert_output ""
	echo $((usage + (256 << 20))) >"$cg/memory.limit_in_bytes"
	run -0 --separate-stderr livecore.sh -q -T fork "$pid" "$T/f.core"
	lc_assert_nothing_left "$pid"
}

@test "fork: mappings made after lc-precopy read smaps come from the clone; one MADV_WIPEONFORK, empty there, is copied from the process after the stop and named fork-late" {
	lc_start_program "$FORKEE" "$T/info" --threads 1
	pid=$LC_STARTED_PID
	lc-maps "$pid" >"$T/m1"
	lc-precopy -q -T fork -s "$T/stage" "$pid" <"$T/m1" >"$T/m2"
	# after lc-precopy, which reads smaps again
	kill -USR2 "$pid"
	for ((i = 0; i < 500; i++)); do
		[ -e "$T/info.late" ] && break
		sleep 0.01
	done
	plain=$(lc_info plain "$T/info.late")
	wipe=$(lc_info wipe "$T/info.late")
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$pid" <"$T/m2"
	printf '%s\n' "$output" >"$T/m3"
	assert_regex "$stderr" "256 pages of mappings made during the dump are not in the clone \(MADV_DONTFORK or MADV_WIPEONFORK\): copied from the process after the stop, not as of it \(fork-late\)"
	run -0 grep '^# fork-late ' "$T/m3"
	assert_output "# fork-late $(printf '%x-%x' "$wipe" $((wipe + (1 << 20))))"
	! from_target "$T/m3" "$plain"
	! from_target "$T/m3" "$wipe"
	lc-elfwrite -s "$T/stage" -n "$T/notes" -o "$T/f.core" <"$T/m3"
	for a in $plain $wipe; do
		assert_equal "$(word "$T/f.core" $((a + 4096)) 4)" "$(pattern $((a + 4096)) 4)"
	done
	lc_assert_nothing_left "$pid"
}

@test "fork, the ladder: the default mode gives a process writing faster than a pass copies a clone in the stop when copying its delta would be over the budget; -T uffd does not; both cores hold its memory" {
	lc_start_program "$FORKEE" "$T/info" --mib 256 --writer
	pid=$LC_STARTED_PID
	a=$(lc_info private.addr "$T/info")
	run -0 --separate-stderr livecore.sh "$pid" "$T/auto.core"
	assert_regex "$stderr" "lc-freeze: the stop foreseen at [0-9.]+ ms with the delta copied in it, over the 20 ms budget: a clone of the process instead \(-T fork\), foreseen at [0-9.]+ ms"
	assert_regex "$stderr" 'pre-copy passes \(uffd\), (not converging|outpaced \(pass 1 ended early\)) .*, then a copy-on-write clone \(fork\) made in'
	# whether pass 1 ends early (outpaced: about 1.25 times the core's
	# bytes copied) or whole (not converging: twice) depends on how the two
	# CPUs are shared at that moment; make bench-writers measures it
	read -r copied core < <(sed -n 's/.* \([0-9.]*\) MiB copied, core \([0-9.]*\) MiB on disk.*/\1 \2/p' <<<"$stderr")
	lc_say "default mode: $copied MiB copied for a core of $core MiB"
	run -0 --separate-stderr livecore.sh -T uffd "$pid" "$T/uffd.core"
	refute_regex "$stderr" 'clone'
	for c in auto uffd; do
		assert_equal "$(word "$T/$c.core" $((a + (200 << 20))) 4)" "$(pattern $((a + (200 << 20))) 4)"
	done
	lc_assert_nothing_left "$pid"
}

@test "fork, -T auto without a tracker (LIVECORE_TEST_NO_TRACKER): a clone in the stop, no pass; under seccomp without CAP_SYS_ADMIN, or the fallback forced, one pass and every page in the stop" {
	lc_start_program "$FORKEE" "$T/info" --threads 1
	pid=$LC_STARTED_PID
	LIVECORE_TEST_NO_TRACKER=1 run -0 --separate-stderr livecore.sh -k -w "$T" "$pid" "$T/a.core"
	assert_regex "$stderr" "lc-precopy: no dirty tracking \(LIVECORE_TEST_NO_TRACKER: as on a kernel with neither soft-dirty nor uffd\): no pass, a clone of process $pid in the stop \(-T fork\)"
	assert_regex "$stderr" 'livecore: pause [0-9.]+ ms .*, a copy-on-write clone \(fork\) made in'
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	run -0 grep -E '^# (tracking|stop-copy) ' "$work/manifest.freeze"
	assert_output $'# tracking fork\n# stop-copy fork'
	a=$(lc_info private.addr "$T/info")
	assert_equal "$(word "$T/a.core" $((a + 8192)) 2)" "$(pattern $((a + 8192)) 2)"
	# the fallback forced: no clone
	LIVECORE_FORCE_TRACKING=none run -0 --separate-stderr livecore.sh "$pid" "$T/b.core"
	refute_regex "$stderr" 'clone'
	assert_regex "$stderr" 'tracker none: LIVECORE_FORCE_TRACKING=none: every page is copied in the stop'
	lc_assert_nothing_left "$pid"
	# a filter (any: a clone is injected as userfaultfd is), and nothing to
	# suspend it with
	lc_require_root
	LC_TARGET_RUNNER="$LIVECORE_BUILD/targets/lc-seccomp-run kill" \
		lc_start_program "$FORKEE" "$T/info2" --threads 1
	pid=$LC_STARTED_PID
	LIVECORE_TEST_NO_TRACKER=1 run -0 --separate-stderr setpriv --bounding-set -sys_admin -- \
		livecore.sh "$pid" "$T/c.core"
	assert_regex "$stderr" "no dirty tracking \(LIVECORE_TEST_NO_TRACKER: .*; no clone: process under seccomp, CAP_SYS_ADMIN not held"
	refute_regex "$stderr" 'a copy-on-write clone'
	kill -0 "$pid"
	lc_assert_nothing_left "$pid"
}

@test "fork: a process under a seccomp filter is cloned with its filter suspended around the injected calls (CAP_SYS_ADMIN), keeps its filter and lives on" {
	lc_require_root
	LC_TARGET_RUNNER="$LIVECORE_BUILD/targets/lc-seccomp-run kill" \
		lc_start_program "$FORKEE" "$T/info" --threads 2
	pid=$LC_STARTED_PID
	run -0 --separate-stderr livecore.sh -T fork "$pid" "$T/f.core"
	assert_regex "$stderr" 'a copy-on-write clone \(fork\) made in'
	a=$(lc_info private.addr "$T/info")
	assert_equal "$(word "$T/f.core" $((a + 8192)) 2)" "$(pattern $((a + 8192)) 2)"
	run -0 awk '$1 == "Seccomp:" { print $2 }' "/proc/$pid/status"
	assert_output 2
	kill -0 "$pid"
	lc_assert_nothing_left "$pid"
	# without CAP_SYS_ADMIN: refused, nothing stopped
	run -4 --separate-stderr setpriv --bounding-set -sys_admin -- livecore.sh -T fork "$pid" "$T/g.core"
	assert_regex "$stderr" "lc-freeze: cannot clone process $pid: process under seccomp, CAP_SYS_ADMIN not held"
	lc_assert_nothing_left "$pid"
}

@test "fork: a process another tracer holds is refused (status 4), nothing stopped, no clone made" {
	command -v strace >/dev/null || skip "needs: strace"
	lc_start_program "$FORKEE" "$T/info" --threads 1
	pid=$LC_STARTED_PID
	strace -p "$pid" -o /dev/null 3>&- &
	tracer=$!
	for _ in $(seq 200); do
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$pid/status")" != 0 ] && break
		sleep 0.01
	done
	run -4 --separate-stderr livecore.sh -T fork "$pid" "$T/f.core"
	assert_regex "$stderr" "lc-freeze: process $pid is already traced by process $tracer: nothing was stopped"
	[ ! -e "$T/f.core" ]
	run -0 lc_clones_of "$pid"
	assert_output ""
	kill "$tracer"
	wait "$tracer" || true
	lc_assert_nothing_left "$pid"
}
