#!/usr/bin/env bats
# livecore.sh, the driver: the whole pipeline, its exit statuses, its
# cleanup, and that the target is never left stopped.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	CG=
}
teardown() {
	lc_cleanup_targets
	# the memory cgroup of the -c test, empty now
	lc_remove_cgroup "$CG"
}

# no work directory of livecore.sh may remain in DIR
assert_no_workdir() {
	run -0 find "$1" -maxdepth 1 -name '.livecore.*'
	assert_output ''
}

# bats test_tags=vm:arm64,vm:arm64-16k
@test "livecore.sh dumps a running target: 0600 core, summary line, target runs on, no work files" {
	lc_start_target --threads 2 --pattern-mib 8 --progress-file "$BATS_TEST_TMPDIR/progress"
	run --separate-stderr -0 livecore.sh "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/t.core"
	assert_regex "$stderr" 'livecore: pause [0-9.]+ ms \(seize [0-9.]+, registers [0-9.]+, maps [0-9.]+, delta [0-9.]+ ms: [0-9]+ pages\)(, over the 20 ms budget by [0-9.]+ ms \([^)]*\))?, [0-9]+ pre-copy passes \([a-z-]+\)(, (converged|not converging|at 1\.5x the bytes of pass 1|at the pass limit) \(dirty pages [0-9 ]+; the process wrote [0-9.]+ MB/s, the last pass copied [0-9.]+ MB/s\))?, [0-9.]+ MiB copied, core [0-9.]+ MiB on disk, [0-9.]+ s total'
	run -0 stat -c %a "$BATS_TEST_TMPDIR/t.core"
	assert_output 600
	run -0 head -c 4 "$BATS_TEST_TMPDIR/t.core"
	assert_output $'\x7fELF'
	assert_no_workdir "$BATS_TEST_TMPDIR"
	p1=$(cat "$BATS_TEST_TMPDIR/progress")
	sleep 0.2
	p2=$(cat "$BATS_TEST_TMPDIR/progress")
	[ "$p2" -gt "$p1" ]
	run -0 lc_proc_state "$LC_TARGET_PID"
	refute_output --regexp '^[tT]$'
}

@test "livecore.sh -k keeps the manifests, the notes and says where" {
	lc_start_target --pattern-mib 4
	run --separate-stderr -0 livecore.sh -k -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/k.core"
	assert_regex "$stderr" 'work files kept in '
	work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
	[ -n "$work" ]
	for f in manifest.maps manifest.precopy manifest.freeze notes; do
		[ -s "$work/$f" ] || { echo "missing $work/$f"; false; }
	done
	run -0 stat -c %a "$work"
	assert_output 700
	run -0 tail -n 1 "$work/manifest.freeze"
	assert_regex "$output" '^end [0-9]+$'
	run -0 grep -c '^# freeze pause-us=' "$work/manifest.freeze"
	assert_output 1
}

# bats test_tags=vm:arm64
@test "livecore.sh refuses to replace an existing core without -f (7), replaces it with -f" {
	lc_start_target
	echo precious >"$BATS_TEST_TMPDIR/x.core"
	run --separate-stderr -7 livecore.sh "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/x.core"
	assert_regex "$stderr" 'x.core exists \(use -f to replace it\)'
	run -0 cat "$BATS_TEST_TMPDIR/x.core"
	assert_output precious
	run --separate-stderr -0 livecore.sh -f "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/x.core"
	run -0 head -c 4 "$BATS_TEST_TMPDIR/x.core"
	assert_output $'\x7fELF'
}

# the pid in CORE's NT_PRPSINFO, and how many NT_PRSTATUS it holds
core_pid_threads() {
	eu-readelf -n "$1" | awk '/^ *CORE .* PRSTATUS/ { n++ } match($0, / pid: [0-9]+/) && !pid {
		pid = substr($0, RSTART + 6, RLENGTH - 6) } END { print pid, n }'
}

@test "livecore.sh -o PREFIX PID... (gcore's form): each process into PREFIX.PID, one summary line each; one that is gone or whose core exists fails alone, the status the highest of theirs" {
	lc_start_target --pattern-mib 4
	a=$LC_TARGET_PID
	lc_start_target --threads 2 --pattern-mib 4
	b=$LC_TARGET_PID
	run --separate-stderr -0 livecore.sh -q -o "$BATS_TEST_TMPDIR/core" "$a" "$b"
	run -0 grep -c '^livecore: pause ' <<<"$stderr"
	assert_output 2
	for p in "$a" "$b"; do
		run -0 stat -c %a "$BATS_TEST_TMPDIR/core.$p"
		assert_output 600
		# its own process, every thread of it
		run -0 core_pid_threads "$BATS_TEST_TMPDIR/core.$p"
		assert_output "$p $(find "/proc/$p/task" -mindepth 1 -maxdepth 1 | wc -l)"
	done
	assert_no_workdir "$BATS_TEST_TMPDIR"
	# 7 (a core that exists, kept), 3 (no such process), 0: the status is 7
	echo precious >"$BATS_TEST_TMPDIR/again.$a"
	run --separate-stderr -7 livecore.sh -q -o "$BATS_TEST_TMPDIR/again" "$a" 4194000 "$b"
	assert_regex "$stderr" "again.$a exists \(use -f to replace it\)"
	assert_regex "$stderr" 'no process 4194000'
	run -0 cat "$BATS_TEST_TMPDIR/again.$a"
	assert_output precious
	[ ! -e "$BATS_TEST_TMPDIR/again.4194000" ]
	run -0 core_pid_threads "$BATS_TEST_TMPDIR/again.$b"
	assert_output --regexp "^$b [0-9]+$"
	# a bad pid anywhere: a usage error before anything is dumped
	run --separate-stderr -2 livecore.sh -o "$BATS_TEST_TMPDIR/bad" "$a" 12abc
	assert_regex "$stderr" 'bad pid "12abc"'
	[ ! -e "$BATS_TEST_TMPDIR/bad.$a" ]
	run --separate-stderr -2 livecore.sh -o "$BATS_TEST_TMPDIR/bad"
}

@test "livecore.sh -o: SIGTERM to the driver, or SIGINT to its process group (a terminal's ^C), inside the first process's stop: status 8, that process resumed, the next never dumped, no core, no work files" {
	lc_start_target --threads 2 --pattern-mib 4 --progress-file "$BATS_TEST_TMPDIR/progress"
	a=$LC_TARGET_PID
	lc_start_target --pattern-mib 4
	b=$LC_TARGET_PID
	export LIVECORE_TEST_STOP_DELAY_MS=3000
	for how in TERM INT; do
		setsid env --default-signal=INT livecore.sh -q -w "$BATS_TEST_TMPDIR" -o "$BATS_TEST_TMPDIR/c$how" \
			"$a" "$b" 2>"$BATS_TEST_TMPDIR/err" &
		driver=$!
		for _ in $(seq 1000); do
			[[ $(lc_proc_state "$a") == [tT] ]] &&
				[ -n "$(find "$BATS_TEST_TMPDIR" -path "*/.livecore.*/manifest.precopy" -size +0 2>/dev/null)" ] &&
				break
			sleep 0.01
		done
		[[ $(lc_proc_state "$a") == [tT] ]]
		if [ "$how" = TERM ]; then kill -TERM "$driver"; else kill -INT -- "-$driver"; fi
		rc=0
		wait "$driver" || rc=$?
		cat "$BATS_TEST_TMPDIR/err"
		[ "$rc" -eq 8 ]
		[ ! -e "$BATS_TEST_TMPDIR/c$how.$a" ] && [ ! -e "$BATS_TEST_TMPDIR/c$how.$b" ]
		assert_no_workdir "$BATS_TEST_TMPDIR"
		lc_wait_state "$a" RS
		p1=$(cat "$BATS_TEST_TMPDIR/progress")
		sleep 0.2
		[ "$(cat "$BATS_TEST_TMPDIR/progress")" -gt "$p1" ]
		run -0 bash -c "ls -l /proc/$a/fd | grep -c 'anon_inode:\[userfaultfd\]' || true"
		assert_output 0
	done
}

@test "livecore.sh -m MIB (ProcDump's trigger): it waits, as nobody, until the process has MIB MiB resident, then dumps it: the core holds the heap grown that far" {
	lc_require_root
	lc_start_target --grow-heap 20000
	rss0=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$LC_TARGET_PID/status")
	mib=$((rss0 / 1024 + 3))
	livecore.sh -m "$mib" -i 1 "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/m.core" 2>"$BATS_TEST_TMPDIR/err" &
	driver=$!
	# the loop that waits: a child of the driver running as nobody
	for _ in $(seq 500); do
		pgrep -u 65534 -P "$driver" >/dev/null && break
		sleep 0.01
	done
	run -0 pgrep -u 65534 -P "$driver"
	run -0 awk '$1 == "CapEff:" { print $2 }' "/proc/$output/status"
	assert_output 0000000000000000
	[ ! -e "$BATS_TEST_TMPDIR/m.core" ]
	rc=0
	wait "$driver" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" -eq 0 ]
	assert_regex "$(cat "$BATS_TEST_TMPDIR/err")" "process $LC_TARGET_PID has $mib MiB resident or more"
	start=$(lc_info heap.start)
	end=$(lc_core_word "$BATS_TEST_TMPDIR/m.core" "$(lc_info heap_end.addr)")
	# the heap the process had grown when its resident memory reached MIB
	# (less what else it holds: 1 MiB of slack)
	[ $((end - start)) -ge $(((mib - 1) * 1048576 - rss0 * 1024)) ]
}

@test "livecore.sh -c -m MIB: it waits until the process's memory cgroup uses MIB MiB, then dumps it: the core holds the heap grown that far" {
	lc_require_root
	lc_memory_cgroup
	cg=$CG
	LC_TARGET_RUNNER=$LC_CG_RUNNER lc_start_target --grow-heap 20000
	used0=$(cat "$cg/memory.usage_in_bytes")
	mib=$((used0 / 1048576 + 3))
	run --separate-stderr -0 livecore.sh -c -m "$mib" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/c.core"
	assert_regex "$stderr" "process $LC_TARGET_PID's memory cgroup uses $mib MiB or more"
	start=$(lc_info heap.start)
	end=$(lc_core_word "$BATS_TEST_TMPDIR/c.core" "$(lc_info heap_end.addr)")
	[ $((end - start)) -ge $(((mib - 1) * 1048576 - used0)) ]
	# -c alone is no trigger
	run --separate-stderr -2 livecore.sh -c "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/x.core"
}

@test "livecore.sh -m: a process that exits while it waits is status 3, no core" {
	lc_start_target
	livecore.sh -q -m 1000000 "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/gone.core" 2>"$BATS_TEST_TMPDIR/err" &
	driver=$!
	sleep 0.3
	kill -KILL "$LC_TARGET_PID"
	rc=0
	wait "$driver" || rc=$?
	[ "$rc" -eq 3 ]
	assert_regex "$(cat "$BATS_TEST_TMPDIR/err")" "exited before its resident memory reached 1000000 MiB"
	[ ! -e "$BATS_TEST_TMPDIR/gone.core" ]
}

@test "livecore.sh -N 3 -s 1 -K 2: three dumps a second apart, OUT.2 and OUT.3 kept, each later than the one before; no room on the filesystem: status 1 before any dump" {
	lc_start_target --pattern-mib 8 --dirty-rate 200 --dirty-set 64
	run --separate-stderr -0 livecore.sh -q -N 3 -s 1 -K 2 "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/n.core"
	run -0 grep -c '^livecore: pause ' <<<"$stderr"
	assert_output 3
	[ ! -e "$BATS_TEST_TMPDIR/n.core.1" ]
	gen=$(lc_info generation.addr)
	g2=$(lc_core_word "$BATS_TEST_TMPDIR/n.core.2" "$gen")
	g3=$(lc_core_word "$BATS_TEST_TMPDIR/n.core.3" "$gen")
	[ "$g3" -gt "$g2" ]
	lc_check_generations "$BATS_TEST_TMPDIR/n.core.3"
	[ "$(id -u)" = 0 ] || return 0
	mkdir "$BATS_TEST_TMPDIR/small"
	mount -t tmpfs -o size=1m tmpfs "$BATS_TEST_TMPDIR/small"
	run --separate-stderr -1 livecore.sh -q -N 2 -s 1 "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/small/s.core"
	umount "$BATS_TEST_TMPDIR/small"
	assert_regex "$stderr" 'not enough space in .*/small for .*s.core.1: [0-9]+ MiB free, the process has [0-9]+ MiB resident and swapped'
}

# coredumpctl: the installed one, else systemd-coredump's that
# tests/deps.sh unpacked under build/ (not installed: see there)
coredumpctl_path() {
	command -v coredumpctl || { [ -x "$LIVECORE_BUILD/coredumpctl/usr/bin/coredumpctl" ] &&
		echo "$LIVECORE_BUILD/coredumpctl/usr/bin/coredumpctl"; }
}

@test "livecore.sh -J: the core registered with a real systemd-journald as systemd-coredump registers the kernel's: coredumpctl info finds it where it lies, signal 0 and ours saying live, and coredumpctl debug opens it in gdb, every thread's backtrace" {
	lc_require_root
	ctl=$(coredumpctl_path) || skip "needs: coredumpctl (tests/deps.sh)"
	[ -x /lib/systemd/systemd-journald ] || skip "needs: systemd-journald"
	command -v gdb >/dev/null || skip "needs: gdb"
	# a journald of our own where none runs (it makes its sockets under
	# /run/systemd/journal), stopped at the end
	started=
	if ! pgrep -x systemd-journal >/dev/null; then
		/lib/systemd/systemd-journald 3>&- &
		started=$!
		for _ in $(seq 500); do [ -S /run/systemd/journal/socket ] && break; sleep 0.01; done
		sleep 0.2
	fi
	lc_start_target --threads 2
	run --separate-stderr livecore.sh -q -J "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/j.core"
	st=$status
	if [ "$st" = 0 ]; then
		for _ in $(seq 100); do
			"$ctl" --no-pager info "$LC_TARGET_PID" 2>/dev/null | grep -q Storage && break
			sleep 0.05
		done
		info=$("$ctl" --no-pager info "$LC_TARGET_PID" 2>&1)
		verbose=$(journalctl --no-pager -o verbose "COREDUMP_PID=$LC_TARGET_PID" 2>&1)
		bt=$("$ctl" --no-pager debug "$LC_TARGET_PID" --debugger-arguments="-batch -ex 'thread apply all bt'" 2>&1)
	fi
	[ -z "$started" ] || { kill "$started"; wait "$started" || true; }
	[ "$st" = 0 ]
	# no journal to take it (ours stopped): said, status 1, the core kept
	if [ -n "$started" ]; then
		run --separate-stderr -1 livecore.sh -q -J "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/k.core"
		assert_regex "$stderr" 'k.core is written, but the journal did not take it'
		run -0 head -c 4 "$BATS_TEST_TMPDIR/k.core"
		assert_output $'\x7fELF'
	fi
	echo "$info"
	assert_regex "$info" "Storage: $BATS_TEST_TMPDIR/j.core \(present\)"
	assert_regex "$info" 'Signal: 0'
	assert_regex "$info" "Executable: $LC_TARGET"
	assert_regex "$info" "PID: $LC_TARGET_PID \(lc-target\)"
	assert_regex "$verbose" 'LIVECORE_LIVE=1'
	assert_regex "$verbose" 'MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1'
	# gdb read it: the main thread where lc-target waits, and its workers
	assert_regex "$bt" "$(lc_info main.func)"
	run -0 grep -c '^Thread [0-9]' <<<"$bt"
	assert_output 3
}

@test "livecore.sh -a (gcore -a, lc-maps -f all): libc's code, which the default coredump_filter leaves out, is in the core as the process maps it" {
	lc_start_target
	text=$(awk '$2 == "r-xp" && $6 ~ /libc\.so/ { split($1, r, "-"); print r[1]; exit }' "/proc/$LC_TARGET_PID/maps")
	[ -n "$text" ]
	addr=$((0x$text + 4096))
	run --separate-stderr -0 livecore.sh -q "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/default.core"
	run -1 "$LC_COREREAD" "$BATS_TEST_TMPDIR/default.core" "$addr"
	run --separate-stderr -0 livecore.sh -q -a "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/all.core"
	run -0 lc_core_word "$BATS_TEST_TMPDIR/all.core" "$addr"
	live=$(dd if="/proc/$LC_TARGET_PID/mem" bs=8 count=1 skip="$addr" iflag=skip_bytes status=none | od -An -t u8 | tr -d ' ')
	assert_output "$live"
	[ "$live" != 0 ]
}

@test "livecore.sh: a garbage pid is a usage error (2), a missing one is status 3" {
	run --separate-stderr -2 livecore.sh 12abc "$BATS_TEST_TMPDIR/a.core"
	assert_regex "$stderr" 'bad pid "12abc"'
	run --separate-stderr -3 livecore.sh 4194000 "$BATS_TEST_TMPDIR/a.core"
	assert_regex "$stderr" 'no process 4194000'
	[ ! -e "$BATS_TEST_TMPDIR/a.core" ]
}

@test "livecore.sh: a target that exits during pre-copy gives a clear error and no core" {
	lc_start_target --pattern-mib 1024
	livecore.sh -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/gone.core" \
		2>"$BATS_TEST_TMPDIR/err" &
	driver=$!
	# wait until the pre-copy runs, then end the target
	for _ in $(seq 500); do
		ls "$BATS_TEST_TMPDIR"/.livecore.*/stage >/dev/null 2>&1 && break
		sleep 0.01
	done
	kill -9 "$LC_TARGET_PID"
	rc=0
	wait "$driver" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" -eq 3 ]
	run -0 cat "$BATS_TEST_TMPDIR/err"
	assert_regex "$output" "process $LC_TARGET_PID exited \(or its pid was reused\) during the dump; no core written"
	[ ! -e "$BATS_TEST_TMPDIR/gone.core" ]
	assert_no_workdir "$BATS_TEST_TMPDIR"
}

# interrupt_during PHASE-WAIT-COMMAND: starts livecore.sh in its own
# process group, waits for the phase, sends SIGINT to the group as a
# terminal's ^C would, and checks the aftermath. The driver gets SIGINT
# at its default, as a command in the foreground has it (bats starts
# jobs with it ignored, and a shell cannot trap a signal ignored at its
# start): the pre-copy runs in a session of its own (lc-precopy -g),
# where the terminal's ^C does not reach it, and the driver passes the
# interrupt on.
interrupt_livecore() {
	local ready=$1
	shift
	setsid env --default-signal=INT livecore.sh -w "$BATS_TEST_TMPDIR" "$@" "$LC_TARGET_PID" \
		"$BATS_TEST_TMPDIR/int.core" 2>"$BATS_TEST_TMPDIR/err" &
	driver=$!
	for _ in $(seq 1000); do
		eval "$ready" && break
		sleep 0.01
	done
	eval "$ready"
	kill -INT -- "-$driver"
	rc=0
	wait "$driver" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" -ne 0 ]
	[ ! -e "$BATS_TEST_TMPDIR/int.core" ]
	assert_no_workdir "$BATS_TEST_TMPDIR"
	# no userfaultfd left behind by the uffd tracker
	run -0 bash -c "ls -l /proc/$LC_TARGET_PID/fd | grep -c 'anon_inode:\[userfaultfd\]' || true"
	assert_output 0
	# the target runs: not stopped, and its progress counter moves
	lc_wait_state "$LC_TARGET_PID" RS
	p1=$(cat "$BATS_TEST_TMPDIR/progress")
	sleep 0.2
	p2=$(cat "$BATS_TEST_TMPDIR/progress")
	[ "$p2" -gt "$p1" ]
}

@test "livecore.sh: SIGINT during pre-copy leaves the target running and no core" {
	lc_start_target --pattern-mib 1024 --progress-file "$BATS_TEST_TMPDIR/progress"
	interrupt_livecore 'ls "$BATS_TEST_TMPDIR"/.livecore.*/stage >/dev/null 2>&1'
}

@test "livecore.sh: SIGINT during the stop resumes the target and leaves no core" {
	lc_start_target --threads 2 --pattern-mib 4 --progress-file "$BATS_TEST_TMPDIR/progress"
	export LIVECORE_TEST_STOP_DELAY_MS=3000
	# lc-freeze's stop: after lc-precopy wrote its manifest (the uffd
	# tracker stops the target briefly too, during the pre-copy)
	interrupt_livecore '[ -n "$(find "$BATS_TEST_TMPDIR" -path "*/.livecore.*/manifest.precopy" -size +0 2>/dev/null)" ] &&
		[[ $(lc_proc_state "$LC_TARGET_PID") == [tT] ]]'
}

@test "livecore.sh: the pause budget when another pass cannot help (a writer as fast as the copy): no retry, it stops anyway and says by how much and why; the default budget of 20 ms is recorded" {
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	lc_start_target --pattern-mib 64 --dirty-rate 100000000
	sleep 0.3
	# 64 MiB rewritten as fast as it can: no stop copies that in 1 ms
	run -0 --separate-stderr livecore.sh -k -T uffd -b 1 -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" \
		"$BATS_TEST_TMPDIR/fast.core"
	summary=$(grep '^livecore: ' <<<"$stderr")
	lc_say "$summary"
	refute_regex "$stderr" 'pre-copying again'
	assert_regex "$summary" 'over the 1 ms budget by [0-9.]+ ms \(the stop copied [0-9]+ pages: the process writes about as fast as a pass copies\)'
	assert_regex "$stderr" 'lc-freeze: the pause was over the 1 ms budget by [0-9.]+ ms'
	work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
	run -0 grep '^# budget ' "$work/manifest.freeze"
	assert_regex "$output" '^# budget ms=1 over-us=[1-9][0-9]*$'
	run -0 head -c 4 "$BATS_TEST_TMPDIR/fast.core"
	assert_output $'\x7fELF'
	rm -rf "$work"
	lc_kill_target "$LC_TARGET_PID" || true
	# without -b: 20 ms, planned for and recorded
	lc_start_target --pattern-mib 8
	run -0 --separate-stderr livecore.sh -k -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/quiet.core"
	work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
	run -0 grep '^# budget ' "$work/manifest.freeze"
	assert_regex "$output" '^# budget ms=20 over-us=[0-9]+$'
}

@test "livecore.sh: a stop over the pause budget pre-copies again with lc-precopy -c, then succeeds or exits 6 with the target running" {
	lc_start_target --pattern-mib 64 --dirty-rate 50000 --progress-file "$BATS_TEST_TMPDIR/progress"
	# -p 1: one pass, so that the stop is left a dirty set over the budget
	# (with uffd, lc-precopy would otherwise pass on until it converges);
	# -T uffd, not auto: auto's first step over the budget is a clone
	run --separate-stderr livecore.sh -k -p 1 -b 1 -r 2 -T uffd -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" \
		"$BATS_TEST_TMPDIR/b.core"
	rc=$status err=$stderr
	echo "status $rc: $err"
	[ "$rc" -eq 0 ] || [ "$rc" -eq 6 ]
	assert_regex "$stderr" 'the stop would exceed 1 ms; pre-copying again \(retry 1 of 2\)'
	work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
	# each retry kept the manifest it continued from; each is whole and
	# numbers its passes on from the one before
	[ -s "$work/manifest.precopy.1" ]
	n1=$(grep -c '^# pass ' "$work/manifest.precopy.1")
	for m in "$work"/manifest.precopy*; do
		run -0 "$LIVECORE_BUILD/targets/lc-manifest-check" out <"$m"
	done
	n=$(grep -c '^# pass ' "$work/manifest.precopy")
	[ "$n" -gt "$n1" ]
	run -0 awk '$2 == "pass" { if ($3 != ++k) { print "pass " $3 " at " k; exit 1 } }' "$work/manifest.precopy"
	run -0 grep -c '^# stage-end ' "$work/manifest.precopy"
	assert_output 1
	if [ "$rc" -eq 6 ]; then
		assert_regex "$err" 'exceed the pause budget of 1 ms after 2 retries'
		[ -s "$work/manifest.precopy.2" ]
		[ ! -e "$BATS_TEST_TMPDIR/b.core" ]
	else
		run -0 head -c 4 "$BATS_TEST_TMPDIR/b.core"
		assert_output $'\x7fELF'
	fi
	lc_wait_state "$LC_TARGET_PID" RS
	p1=$(cat "$BATS_TEST_TMPDIR/progress")
	sleep 0.2
	p2=$(cat "$BATS_TEST_TMPDIR/progress")
	[ "$p2" -gt "$p1" ]
}

@test "livecore.sh: SIGINT while lc-elfwrite streams the core leaves no core, no temporary file, the target running" {
	[ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" != "$(stat -f -c %T "$BATS_TEST_TMPDIR")" ] ||
		skip "needs: /dev/shm on another filesystem than \$BATS_TEST_TMPDIR"
	lc_start_target --pattern-mib 1536 --progress-file "$BATS_TEST_TMPDIR/progress"
	# the work directory on another filesystem: lc-elfwrite streams the
	# core out of the staging file (seconds for 1.5 GiB), not a rename
	shm=$(mktemp -d /dev/shm/lc-livecore-test.XXXXXX)
	setsid livecore.sh -T none -w "$shm" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/int.core" \
		2>"$BATS_TEST_TMPDIR/err" &
	driver=$!
	for _ in $(seq 3000); do
		[ -n "$(find "$shm" -path '*/.livecore.*/manifest.freeze' -size +0 2>/dev/null)" ] && break
		sleep 0.01
	done
	sleep 0.1
	pgrep -s "$driver" -x lc-elfwrite >/dev/null || {
		rm -rf "$shm"
		skip "lc-elfwrite finished before the interrupt could be sent"
	}
	kill -INT -- "-$driver"
	rc=0
	wait "$driver" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"
	run -0 find "$shm" "$BATS_TEST_TMPDIR" -maxdepth 2 -name '.livecore.*' -o -maxdepth 2 -name '.int.core.*'
	rm -rf "$shm"
	assert_output ''
	[ "$rc" -eq 8 ]
	[ ! -e "$BATS_TEST_TMPDIR/int.core" ]
	lc_wait_state "$LC_TARGET_PID" RS
	p1=$(cat "$BATS_TEST_TMPDIR/progress")
	sleep 0.2
	p2=$(cat "$BATS_TEST_TMPDIR/progress")
	[ "$p2" -gt "$p1" ]
}

@test "livecore.sh: the pre-copy runs at niceness 19 by default, as -n says, in a scheduling group of its own at that niceness, and as the caller with -n 0; a bad -n is a usage error (2)" {
	local autogroup=0 ours group
	run -2 --separate-stderr livecore.sh -n 20 1 "$BATS_TEST_TMPDIR/x.core"
	assert_regex "$stderr" 'bad niceness "20"'
	# with autogroup a session is a scheduling group: a niceness counts
	# only within it, so the pre-copy leaves the caller's (lc-precopy -g)
	[ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ] &&
		[ -r /proc/self/autogroup ] && autogroup=1
	ours=$(sed 's/ nice .*//' /proc/self/autogroup 2>/dev/null)
	lc_start_target --pattern-mib 512
	for arg in default 7 0; do
		want=$arg opt=(-n "$arg")
		[ "$arg" = default ] && want=19 opt=()
		rm -f "$BATS_TEST_TMPDIR/n.core"
		livecore.sh "${opt[@]}" -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/n.core" \
			2>"$BATS_TEST_TMPDIR/err" &
		driver=$!
		seen= group=
		# (lc-precopy leaves the group right after it starts: until
		# then it is seen in ours)
		for ((i = 0; i < 2000; i++)); do
			if p=$(pgrep -P "$driver" -x lc-precopy) && seen=$(lc_proc_field "$p" 19) &&
				[ -n "$seen" ]; then
				[ "$autogroup" = 1 ] || break
				group=$(cat "/proc/$p/autogroup" 2>/dev/null)
				[ "$want" = 0 ] && break
				[ "${group% nice *}" != "$ours" ] && [ "${group#* nice }" = "$want" ] && break
			fi
			sleep 0.005
		done
		wait "$driver"
		assert_equal "$seen" "$want"
		lc_say "-n $arg: lc-precopy at niceness $seen, autogroup \"$group\" (ours: $ours)"
		[ "$autogroup" = 1 ] || continue
		if [ "$want" = 0 ]; then
			assert_equal "${group% nice *}" "$ours"
		else
			[ "${group% nice *}" != "$ours" ]
			assert_equal "${group#* nice }" "$want"
		fi
	done
}

# foreseen CORE-NAME PID - sets est to the estimate-us of the stop of a
# dump of PID (the summary says it too)
foreseen() {
	run -0 --separate-stderr livecore.sh -k -T uffd -w "$BATS_TEST_TMPDIR" "$2" "$BATS_TEST_TMPDIR/$1.core"
	assert_regex "$stderr" ', the stop foreseen at [0-9.]+ ms'
	work=$(sed -n 's/^livecore.sh: work files kept in //p' <<<"$stderr")
	est=$(sed -n 's/^# freeze .* estimate-us=\([0-9]*\) .*/\1/p' "$work/manifest.freeze")
	rm -rf "$work"
	[ -n "$est" ]
}

@test "livecore.sh: the stop is foreseen before it happens, from what the dump knows: 400 more threads foresee it at least 8 ms longer (the model's 21 us a thread), and the summary says so" {
	local few many
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	lc_start_target --threads 2 --pattern-mib 8
	foreseen few "$LC_TARGET_PID"
	few=$est
	lc_start_program "$LIVECORE_BUILD/targets/lc-shapes" "$BATS_TEST_TMPDIR/shapes.info" --idle-threads 400
	foreseen many "$LC_STARTED_PID"
	many=$est
	lc_say "foreseen: 2 threads $few us, 400 idle threads more $many us"
	[ "$few" -gt 0 ]
	[ "$many" -ge $((few + 8000)) ]
}
