#!/usr/bin/env bats
# Shared memory (issue 28): anonymous shared memory (MAP_SHARED |
# MAP_ANONYMOUS, System V segments: a database's shared buffers) is watched
# by the uffd tracker through the target's own page tables and copied in
# pre-copy, so that the stop copies only what the target wrote, not the
# whole segment. The target's own writes are exact as of the stop (the
# generations check); writes by another process are not seen by any
# tracker of the target, and the manifest names those ranges.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	D=$BATS_TEST_TMPDIR
	lc_kernel_has_uffd || skip "needs: uffd (userfaultfd async write-protect, PAGEMAP_SCAN: Linux 6.7+)"
}

teardown() {
	lc_cleanup_targets
}

# delta_pages STDERR - the pages the stop copied, from livecore.sh's summary
delta_pages() {
	sed -n 's/.*delta [0-9.]* ms: \([0-9]*\) pages.*/\1/p' <<<"$1"
}

# bats test_tags=vm:arm64
@test "shared memory: the target's own writes to MAP_SHARED|MAP_ANONYMOUS memory are tracked with uffd; 5 dumps, each exact, the stop copies what it wrote" {
	lc_start_target --pattern-mib 64 --pattern-shared --dirty-set 64 --dirty-rate 6400
	[ "$(lc_info pattern.shared)" = 1 ]
	region=$(($(lc_info pattern.size) / 4096))
	sleep 0.1
	for dump in 1 2 3 4 5; do
		rm -f "$D/s.core"
		run -0 --separate-stderr livecore.sh -T uffd -w "$D" "$LC_TARGET_PID" "$D/s.core"
		assert_regex "$stderr" 'pre-copy passes \(uffd\)'
		pages=$(delta_pages "$stderr")
		lc_say "dump $dump: the stop copied $pages pages of a $region-page shared region"
		# the 64 pages it rewrites, and what else the process wrote
		[ "$pages" -lt $((region / 8)) ]
		lc_check_generations "$D/s.core"
		lc_assert_nothing_left "$LC_TARGET_PID"
	done
}

@test "shared memory written by another process: the stop copies what the target wrote, not the segment; the manifest names the tracked range; -T none copies it all in the stop" {
	lc_start_target --pattern-mib 128 --pattern-shared --shared-writer 5000
	writer=$(lc_info shared_writer.pid)
	region=$(($(lc_info pattern.size) / 4096))
	start=$(printf '%x' "$(lc_info pattern.addr)")
	end=$(printf '%x' $(($(lc_info pattern.addr) + $(lc_info pattern.size))))
	run -0 --separate-stderr livecore.sh -k -T uffd -w "$D" "$LC_TARGET_PID" "$D/w.core"
	pages=$(delta_pages "$stderr")
	lc_say "uffd: the stop copied $pages pages of a $region-page segment another process writes"
	[ "$pages" -lt $((region / 16)) ]
	work=$(find "$D" -maxdepth 1 -name '.livecore.*')
	run -0 grep -c "^# shared-tracked $start-$end\$" "$work/manifest.freeze"
	assert_output 1
	lc_assert_nothing_left "$LC_TARGET_PID"
	kill -0 "$writer"
	# every page of the segment is in the core, each stamped with its own
	# address (word 0; the rest of a page the other process was writing
	# may be torn: no tracker of the target sees that process)
	paddr=$(lc_info pattern.addr)
	"$LC_COREREAD" -w "$D/w.core" "$paddr" "$region" 4096 >"$D/stamps"
	run -0 awk -v a="$paddr" '$1 != a + (NR - 1) * 4096 { bad++ } END { print NR, bad + 0 }' "$D/stamps"
	assert_output "$region 0"
	# without a tracker the segment is copied whole in the stop
	run -0 --separate-stderr livecore.sh -T none -w "$D" "$LC_TARGET_PID" "$D/n.core"
	pages=$(delta_pages "$stderr")
	lc_say "none: the stop copied $pages pages"
	[ "$pages" -ge "$region" ]
}
