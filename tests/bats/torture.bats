#!/usr/bin/env bats
# A target that churns its memory the way real programs do (lc-torture:
# malloc/free of large and small buffers, munmap+mmap at the same address,
# MAP_FIXED over live ranges, mremap grow/shrink/move, MADV_DONTNEED of
# 4 KiB and of huge pages, mprotect flips, brk growth and shrink, fork and
# exit of children, threads born and ending), dumped again and again with
# every tracker; lc-torture-check proves from each core alone that it shows
# one instant: every word is what the target's ledger says it held then.
# A failure prints the address, the generation expected and found, and the
# steps of the dump that staged that address (LIVECORE_TRACE).
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	TORTURE="$LIVECORE_BUILD/targets/lc-torture"
	CHECK="$LIVECORE_BUILD/targets/lc-torture-check"
	INFO="$BATS_TEST_TMPDIR/torture.info"
}

teardown() {
	lc_cleanup_targets
}

# start_torture [lc-torture options] - sets TORTURE_PID and LEDGER
start_torture() {
	lc_start_program "$TORTURE" "$INFO" "$@" || return 1
	TORTURE_PID=$LC_STARTED_PID
	LEDGER=$(lc_info ledger "$INFO")
}

# explain CHECK_OUTPUT TRACE - for the first stale word the checker names,
# the steps of the dump that read or punched its page
explain() {
	local line addr word at
	line=$(grep -m1 '^stale:' <<<"$1") || return 0
	addr=$(sed -n 's/.* addr \(0x[0-9a-f]*\) word \([0-9]*\):.*/\1/p' <<<"$line")
	word=$(sed -n 's/.* addr \(0x[0-9a-f]*\) word \([0-9]*\):.*/\2/p' <<<"$line")
	[ -n "$addr" ] || return 0
	at=$(((addr + 8 * word) & ~4095))
	printf 'address 0x%x was staged by (the last step counts):\n' "$at"
	local step range s e found=0
	while read -r step; do
		range=${step##* }
		s=$((0x${range%-*})) e=$((0x${range#*-}))
		if ((at >= s && at < e)); then
			printf '  %s\n' "$step"
			found=1
		fi
	done <"$2"
	[ "$found" = 1 ] || printf '  no step: it was never read or punched\n'
}

# dump_and_check N [livecore.sh options...] - N dumps of the torture
# target, each checked; the target must live through every one and be left
# without a userfaultfd. LAST_DUMP_STDERR: the last livecore.sh's stderr
dump_and_check() {
	local n=$1 dump core trace explained=0
	shift
	for ((dump = 1; dump <= n; dump++)); do
		core=$BATS_TEST_TMPDIR/t$dump.core
		trace=$BATS_TEST_TMPDIR/t$dump.trace
		LIVECORE_TRACE=$trace run --separate-stderr livecore.sh -q "$@" "$TORTURE_PID" "$core"
		if [ "$status" -ne 0 ]; then
			echo "dump $dump: livecore.sh exited $status: $stderr"
			return 1
		fi
		LAST_DUMP_STDERR=$stderr
		if ! kill -0 "$TORTURE_PID" 2>/dev/null; then
			echo "dump $dump: the target died:"
			cat "$INFO.err"
			return 1
		fi
		run "$CHECK" "$core" "$LEDGER"
		if [ "$status" -ne 0 ]; then
			echo "dump $dump ($*): lc-torture-check exited $status:"
			echo "$output"
			explain "$output" "$trace"
			return 1
		fi
		[[ $output =~ failures\ 0,\ explained\ ([0-9]+) ]] || {
			echo "dump $dump: unexpected checker output: $output"
			return 1
		}
		explained=$((explained + BASH_REMATCH[1]))
		if ls -l "/proc/$TORTURE_PID/fd" 2>/dev/null | grep -q 'anon_inode:\[userfaultfd\]'; then
			echo "dump $dump: a userfaultfd is left in the target"
			return 1
		fi
		rm -f "$core" "$trace"
	done
	printf '# %d dumps (%s): 0 stale words, %d explained by an operation in flight\n' \
		"$n" "$*" "$explained" >&3
}

@test "torture: 20 dumps with the default tracker (uffd here) each show one instant, the target lives on" {
	start_torture
	dump_and_check 20
}

# bats test_tags=vm:arm64
@test "torture: under a seccomp filter that kills on userfaultfd, 5 dumps with the default tracker (uffd, its filter suspended) each show one instant" {
	[ "$(id -u)" = 0 ] || skip "needs: root (CAP_SYS_ADMIN suspends the filter)"
	LC_TARGET_RUNNER="$LIVECORE_BUILD/targets/lc-seccomp-run kill" start_torture
	[ "$(awk '$1 == "Seccomp:" { print $2 }' "/proc/$TORTURE_PID/status")" = 2 ]
	dump_and_check 5
	# it was uffd that tracked (the summary line of the last dump)
	assert_regex "$LAST_DUMP_STDERR" 'pre-copy passes \(uffd\)'
}

@test "torture: 5 dumps with the stop's look split across threads at every 64 KiB (the path of large targets) each show one instant" {
	start_torture
	LIVECORE_TEST_SCAN_CHUNK_KIB=64 dump_and_check 5
}

@test "torture: 5 dumps with -T none each show one instant" {
	start_torture
	dump_and_check 5 -T none
}

@test "torture: 10 dumps with -T fork (a clone copied after the stop) each show one instant; no clone is left" {
	start_torture
	dump_and_check 10 -T fork
	assert_regex "$LAST_DUMP_STDERR" 'a copy-on-write clone \(fork\)'
	run -0 lc_clones_of "$TORTURE_PID"
	assert_output ""
}

@test "torture: 10 dumps in the default mode with a clone in the stop after the passes (LIVECORE_TEST_CLONE): the look only at what was staged, the rest's holes from the clone; each shows one instant" {
	[ "$(id -u)" = 0 ] || skip "needs: root"
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	start_torture
	LIVECORE_TEST_CLONE=1 dump_and_check 10
	assert_regex "$LAST_DUMP_STDERR" '[1-9][0-9]* pre-copy passes \(uffd\).*then a copy-on-write clone \(fork\)'
	run -0 lc_clones_of "$TORTURE_PID"
	assert_output ""
	lc_assert_nothing_left "$TORTURE_PID"
}

@test "torture: 5 dumps in the default mode under the throttle (no clone, LIVECORE_TEST_NO_CLONE; a step after every pass, LIVECORE_TEST_THROTTLE) each show one instant; nothing is left traced" {
	[ "$(id -u)" = 0 ] || skip "needs: root"
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	start_torture
	LIVECORE_TEST_NO_CLONE=1 LIVECORE_TEST_THROTTLE=1 dump_and_check 5
	assert_regex "$LAST_DUMP_STDERR" 'throttled: [1-9][0-9]* stops of up to'
	lc_assert_nothing_left "$TORTURE_PID"
	run -0 awk '$1 == "TracerPid:" { print $2 }' "/proc/$TORTURE_PID/status"
	assert_output 0
}

@test "torture: the checker catches a core that holds zeros or an older generation where data was" {
	# without this, a checker that accepts everything would pass the tests above
	start_torture --quiet-after 2
	old=$BATS_TEST_TMPDIR/old.core
	core=$BATS_TEST_TMPDIR/good.core
	run -0 livecore.sh -q -T none "$TORTURE_PID" "$old"
	sleep 2.5
	run -0 livecore.sh -q -T none "$TORTURE_PID" "$core"
	run -0 "$CHECK" "$core" "$LEDGER"
	assert_output --regexp 'failures 0, explained 0$'
	# the shared region: one slot, at rest, page aligned, restamped in
	# place over and over until the target went quiet
	run -0 "$CHECK" -l "$core" "$LEDGER"
	read -r slot gen < <(awk '$4 == "shared" && $6 == "idle" { print $8, $12; exit }' <<<"$output")
	[ -n "$slot" ]
	run -0 "$CHECK" -l "$old" "$LEDGER"
	old_gen=$(awk -v a="$slot" '$4 == "shared" && $8 == a { print $12; exit }' <<<"$output")
	[ -n "$old_gen" ] && [ "$old_gen" -lt "$gen" ]
	off=$("$LIVECORE_BUILD/targets/lc-coreread" "$core" "$slot")
	off_old=$("$LIVECORE_BUILD/targets/lc-coreread" "$old" "$slot")
	# zeros where data was
	cp "$core" "$BATS_TEST_TMPDIR/zero.core"
	dd if=/dev/zero of="$BATS_TEST_TMPDIR/zero.core" bs=1 seek="$off" count=4096 conv=notrunc status=none
	run -1 "$CHECK" "$BATS_TEST_TMPDIR/zero.core" "$LEDGER"
	assert_output --regexp "stale: slot [0-9]+ kind shared addr $slot word 0: expected gen $gen .*found zero"
	# the page as the earlier dump held it: an older generation
	cp "$core" "$BATS_TEST_TMPDIR/stale.core"
	dd if="$old" of="$BATS_TEST_TMPDIR/stale.core" bs=1 skip="$off_old" seek="$off" count=4096 \
		conv=notrunc status=none
	run -1 "$CHECK" "$BATS_TEST_TMPDIR/stale.core" "$LEDGER"
	assert_output --regexp "stale: slot [0-9]+ kind shared addr $slot word 0: expected gen $gen .*found gen [0-9]+"
}

# bats test_tags=needs:soft-dirty
@test "torture, soft-dirty: 5 dumps each show one instant" {
	"$LIVECORE_BUILD/targets/lc-precopy-target" --probe-soft-dirty || skip "needs: soft-dirty kernel"
	start_torture --threads 2 --mib 24
	dump_and_check 5 -T soft-dirty
}
