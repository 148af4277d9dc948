#!/usr/bin/env bats
# The cases where a dump was once wrong, larger than it should be, or left
# the process changed (issue "Cores that never lie"), each with the
# default tracker (uffd on this kernel), measured against -T none or gcore
# of the same process: a large buffer freed and malloc'd again at the same
# address, a range munmapped and mapped again (or mapped over) inside a
# VMA, thousands of idle threads, a mostly untouched mapping, the page
# tables and resident size after a dump, a second dump, a stopped process.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	TORTURE="$LIVECORE_BUILD/targets/lc-torture"
	CHECK="$LIVECORE_BUILD/targets/lc-torture-check"
	SHAPES="$LIVECORE_BUILD/targets/lc-shapes"
	SIDEFX="$LIVECORE_BUILD/targets/lc-sidefx"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	lc_cleanup_targets
}

say() { printf '# %s\n' "$*" >&3; }

# sidefx PID KEY - one value of lc-sidefx
sidefx() { "$SIDEFX" "$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# within PCT A B - A and B differ by at most PCT percent of B
within() { [ $((100 * ($2 > $3 ? $2 - $3 : $3 - $2))) -le $(($1 * $3)) ]; }

# torture_dumps N OPS - N default dumps of lc-torture --only OPS, each
# checked word by word
torture_dumps() {
	local dump
	lc_start_program "$TORTURE" "$T/torture.info" --only "$2" || return 1
	local pid=$LC_STARTED_PID ledger
	ledger=$(lc_info ledger "$T/torture.info")
	for ((dump = 1; dump <= $1; dump++)); do
		run --separate-stderr livecore.sh -q "$pid" "$T/c.core"
		[ "$status" -eq 0 ] || { echo "dump $dump: $stderr"; return 1; }
		run "$CHECK" "$T/c.core" "$ledger"
		[ "$status" -eq 0 ] || { echo "dump $dump: $output"; return 1; }
		rm -f "$T/c.core"
	done
	kill -0 "$pid"
}

@test "exact: a 8-64 MiB buffer freed and malloc'd again (munmap + mmap at the same address) over and over: 20 dumps, no stale page" {
	torture_dumps 20 large
}

@test "exact: ranges inside a VMA munmapped and mapped again, or mapped over with MAP_FIXED, then written: 10 dumps, no stale page" {
	torture_dumps 10 remap,fixed
}

# bats test_tags=slow
@test "sparse: 4000 idle threads (8 MiB stacks, mostly untouched): the core takes what -T none's takes, the page tables and RSS stay" {
	lc_start_program "$SHAPES" "$T/shapes.info" --idle-threads 4000
	pid=$LC_STARTED_PID
	pte=$(sidefx "$pid" vmpte_kb) rss=$(sidefx "$pid" rss_kb) zero=$(sidefx "$pid" zero_pages)
	run -0 --separate-stderr livecore.sh -q -T none "$pid" "$T/none.core"
	run -0 --separate-stderr livecore.sh -q "$pid" "$T/uffd.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	none=$(du -k "$T/none.core" | cut -f1) uffd=$(du -k "$T/uffd.core" | cut -f1)
	say "core on disk: uffd $uffd KiB, none $none KiB; VmPTE $pte -> $(sidefx "$pid" vmpte_kb) kB"
	within 10 "$uffd" "$none"
	within 1 "$(sidefx "$pid" vmpte_kb)" "$pte"
	within 1 "$(sidefx "$pid" rss_kb)" "$rss"
	[ "$(sidefx "$pid" zero_pages)" -le "$zero" ]
	[ "$(sidefx "$pid" uw_vmas)" = 0 ] && [ "$(sidefx "$pid" uffd_fds)" = 0 ]
}

@test "sparse: a 2 GiB mapping with every 16th page written: 128 MiB copied and on disk, as -T none; no side effect; a second dump is the same size" {
	lc_start_program "$SHAPES" "$T/shapes.info" --stride-mib 2048 --stride 16
	pid=$LC_STARTED_PID
	addr=$(lc_info stride.addr "$T/shapes.info")
	pte=$(sidefx "$pid" vmpte_kb) rss=$(sidefx "$pid" rss_kb) zero=$(sidefx "$pid" zero_pages)
	run -0 --separate-stderr livecore.sh -q -T none "$pid" "$T/none.core"
	run -0 --separate-stderr livecore.sh -q -k -w "$T" "$pid" "$T/uffd.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	# what the passes and the stop copied, and the pages of the mapping
	# the model holds as holes
	copied=$(awk '$2 == "pass" { for (i = 3; i <= NF; i++) if ($i ~ /^bytes=/) n += substr($i, 7) }
		$2 == "freeze" { for (i = 3; i <= NF; i++) if ($i ~ /^delta-bytes=/) n += substr($i, 13) }
		END { print n }' "$work/manifest.freeze")
	say "copied $((copied >> 20)) MiB for 128 MiB written"
	[ "$copied" -lt $((160 << 20)) ]
	run -0 grep -c ":hole" "$work/manifest.precopy"
	none=$(du -k "$T/none.core" | cut -f1) uffd=$(du -k "$T/uffd.core" | cut -f1)
	say "core on disk: uffd $uffd KiB, none $none KiB"
	within 10 "$uffd" "$none"
	# the written pages hold the pattern in the core
	run -0 "$LIVECORE_BUILD/targets/lc-coreread" -w "$T/uffd.core" "$addr" 4 $((16 * 4096))
	assert_equal "${lines[0]}" "$((addr))"
	assert_equal "${lines[3]}" "$((addr + 3 * 16 * 4096))"
	# the dump changed nothing in the process: no page tables for the
	# untouched pages, no zero pages mapped by reading them
	within 1 "$(sidefx "$pid" vmpte_kb)" "$pte"
	within 1 "$(sidefx "$pid" rss_kb)" "$rss"
	[ "$(sidefx "$pid" zero_pages)" -le "$zero" ]
	[ "$(sidefx "$pid" uw_vmas)" = 0 ] && [ "$(sidefx "$pid" uffd_fds)" = 0 ]
	# so a second dump is the same size
	run -0 --separate-stderr livecore.sh -q "$pid" "$T/again.core"
	within 1 "$(du -k "$T/again.core" | cut -f1)" "$uffd"
}

# private_kb PID - the memory PID alone maps (smaps_rollup), in kB
private_kb() { awk '/^Private_(Clean|Dirty):/ { n += $2 } END { print n }' "/proc/$1/smaps_rollup"; }

@test "no side effects: a forked child whose memory is shared copy-on-write with its parent still shares it after a dump with the default tracker, -T none and -T fork" {
	lc_start_program "$LIVECORE_BUILD/targets/lc-forkee" "$T/info" --mib 64 --cow-child
	child=$(lc_info cow.pid "$T/info")
	before=$(private_kb "$child")
	for mode in "" "-T none" "-T fork"; do
		# shellcheck disable=SC2086 # mode is options or nothing
		run -0 --separate-stderr livecore.sh -q $mode "$child" "$T/c.core"
		rm -f "$T/c.core"
		after=$(private_kb "$child")
		say "${mode:-default}: the child's own memory $before kB -> $after kB (64 MiB shared)"
		# process_vm_readv pins, and a pinned shared page is copied
		[ $((after - before)) -lt 1024 ]
	done
}

@test "stopped: a SIGSTOPped process is copied once while held, stays stopped, and its core holds gcore's bytes" {
	lc_start_target --pattern-mib 64 --threads 3
	lc_stop_target "$LC_TARGET_PID"
	run -0 --separate-stderr livecore.sh -k -w "$T" "$LC_TARGET_PID" "$T/live.core"
	assert_regex "$stderr" "lc-precopy: process $LC_TARGET_PID is stopped: nothing is copied now"
	assert_regex "$stderr" 'livecore: stopped process \(no downtime\), held [0-9.]+ ms .* 0 pre-copy passes'
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output T
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	run -0 grep -E '^# (target|tracking|stop-copy|pass) ' "$work/manifest.precopy"
	assert_output $'# target stopped\n# tracking none\n# stop-copy all'
	run -0 grep -E '^# freeze .* target=stopped$' "$work/manifest.freeze"
	# copied once: the stop copied the resident memory, nothing before it
	delta=$(sed -n 's/^# freeze .* delta-bytes=\([0-9]*\) .*/\1/p' "$work/manifest.freeze")
	[ "$delta" -ge $((64 << 20)) ] && [ "$delta" -lt $((80 << 20)) ]
	run -0 gcore -o "$T/gcore" "$LC_TARGET_PID"
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output T
	run -0 "$LIVECORE_BUILD/targets/lc-corecmp" "$T/live.core" "$T/gcore.$LC_TARGET_PID" \
		"$(lc_info pattern.addr):$(($(lc_info pattern.size)))"
	assert_line --regexp '^compared [0-9]+ bytes in [0-9]+ ranges, 0 pages differ$'
}

# side_effects TRACKER - a dump with -T TRACKER of a process whose huge
# pages are being written leaves it as it was: page tables and resident
# size within 1 %, huge pages within 5 %, no zero page mapped by reading,
# no userfaultfd and no uw VMA left, the same fds, the same VMAs with the
# same flags
side_effects() {
	local a b k
	lc_start_target --pattern-mib 64 --thp --dirty-rate 5000 --threads 2
	pid=$LC_TARGET_PID
	for _ in $(seq 100); do
		[ "$(sidefx "$pid" anon_huge_kb)" -ge $((60 << 10)) ] && break
		sleep 0.1
	done
	"$SIDEFX" "$pid" >"$T/before"
	run -0 --separate-stderr livecore.sh -q -T "$1" "$pid" "$T/$1.core"
	assert_regex "$stderr" "pre-copy passes \\($1\\)"
	"$SIDEFX" "$pid" >"$T/after"
	say "-T $1: before $(tr '\n' ' ' <"$T/before")"
	say "-T $1: after  $(tr '\n' ' ' <"$T/after")"
	v() { awk -F= -v k="$2" '$1 == k { print $2 }' "$1"; }
	within 1 "$(v "$T/after" vmpte_kb)" "$(v "$T/before" vmpte_kb)"
	within 1 "$(v "$T/after" rss_kb)" "$(v "$T/before" rss_kb)"
	[ $((100 * $(v "$T/after" anon_huge_kb))) -ge $((95 * $(v "$T/before" anon_huge_kb))) ]
	a=$(v "$T/before" zero_pages) b=$(v "$T/after" zero_pages)
	[ "$a" = - ] && [ "$b" = - ] || [ "$b" -le "$a" ]
	for k in uw_vmas uffd_fds; do [ "$(v "$T/after" $k)" = 0 ]; done
	for k in fds vmflags; do assert_equal "$(v "$T/after" $k)" "$(v "$T/before" $k)"; done
	kill -0 "$pid"
}

@test "no side effects: after a dump with -T none or uffd a process writing huge pages has its page tables, RSS, huge pages, fds and VMAs as before" {
	side_effects none
	lc_kill_target "$LC_TARGET_PID" || true
	side_effects uffd
}

# bats test_tags=needs:soft-dirty
@test "no side effects, soft-dirty: page tables, RSS, huge pages, fds and VMAs as before the dump" {
	"$LIVECORE_BUILD/targets/lc-precopy-target" --probe-soft-dirty || skip "needs: soft-dirty kernel"
	side_effects soft-dirty
}
