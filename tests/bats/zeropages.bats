#!/usr/bin/env bats
# Zero pages are holes (issue 29). Memory that was read but never written
# is backed by the kernel's shared zero page: a process's own reads of
# fresh memory, and every page a debugger reads through /proc/PID/mem
# (gcore, gdb's x) in a reservation it never touched. The kernel's core
# writes a hole there (FOLL_DUMP) and does not count such a VMA as written
# (no anon_vma); livecore does the same, so a process that gcore has read
# once is dumped as fast and as small as before.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	D=$BATS_TEST_TMPDIR
}

teardown() {
	lc_cleanup_targets
}

# delta_pages STDERR - the pages the stop copied, from livecore.sh's summary
delta_pages() {
	sed -n 's/.*delta [0-9.]* ms: \([0-9]*\) pages.*/\1/p' <<<"$1"
}

# disk_kib FILE - the space FILE takes on disk, KiB
disk_kib() {
	echo $(($(stat -c '%b * %B' "$1") / 1024))
}

# modes that work here: uffd where the kernel has it, and none
modes_here() {
	if lc_kernel_has_uffd; then
		echo uffd none
	else
		echo none
	fi
}

@test "zero pages: after gcore read a 1 GiB PROT_NONE reservation, the stop copies no more and the core takes no more space than before; gdb reads zeros there and the data intact" {
	command -v gcore >/dev/null || skip "needs: gdb (gcore)"
	lc_start_target --pattern-mib 64 --reserve-gib 1
	raddr=$(lc_info reserve.addr)
	for mode in $(modes_here); do
		rm -f "$D/a.core" "$D/b.core"
		run -0 --separate-stderr livecore.sh -T "$mode" -w "$D" "$LC_TARGET_PID" "$D/a.core"
		pages_a=$(delta_pages "$stderr") kib_a=$(disk_kib "$D/a.core")
		# gcore reads every page of every mapping, the PROT_NONE
		# reservation too (FOLL_FORCE): each read maps the zero page
		run -0 gcore -o "$D/g" "$LC_TARGET_PID"
		rm -f "$D/g".*
		run -0 --separate-stderr livecore.sh -T "$mode" -w "$D" "$LC_TARGET_PID" "$D/b.core"
		pages_b=$(delta_pages "$stderr") kib_b=$(disk_kib "$D/b.core")
		lc_say "$mode: before gcore the stop copied $pages_a pages, core $kib_a KiB on disk; after: $pages_b pages, $kib_b KiB"
		[ "$pages_b" -le $((pages_a + 64)) ]
		[ "$kib_b" -le $((kib_a + kib_a / 10 + 8192)) ]
		# the data is intact, the reservation reads as zeros
		run -0 lc_core_pagecheck "$D/b.core" "$(lc_info pattern.addr)" $(($(lc_info pattern.size) / 4096))
		assert_output "good $(($(lc_info pattern.size) / 4096)) bad 0"
		run -0 gdb -batch -nx -ex "x/2gx $raddr" -ex "x/2gx $((raddr + (1 << 29)))" \
			"$LIVECORE_BUILD/targets/lc-target" "$D/b.core"
		assert_output --regexp "$(printf '0x%x' "$raddr"):[[:space:]]+0x0+[[:space:]]+0x0+"
		refute_output --partial 'Cannot access memory'
	done
}

@test "zero pages: memory a process read but never wrote is a hole: 16 MiB of data and 512 MiB read in the same VMA make a core of about 16 MiB on disk" {
	lc_start_target --read-mib 512
	for mode in $(modes_here); do
		rm -f "$D/r.core"
		run -0 --separate-stderr livecore.sh -T "$mode" -w "$D" "$LC_TARGET_PID" "$D/r.core"
		kib=$(disk_kib "$D/r.core")
		lc_say "$mode: core $kib KiB on disk for 16 MiB written and 512 MiB read; $(tail -n 1 <<<"$stderr")"
		[ "$kib" -lt $((48 * 1024)) ]
		run -0 lc_core_pagecheck "$D/r.core" "$(lc_info readonly.addr)" 4096
		assert_output "good 4096 bad 0"
		# the pages only read are zeros in the core
		run -0 "$LC_COREREAD" -w "$D/r.core" $(($(lc_info readonly.addr) + (16 << 20))) 4 4096
		assert_output $'0\n0\n0\n0'
	done
}

@test "zero pages: after gcore read a reservation, the core's segments are the kernel's (vaddr, size and file size of every PT_LOAD, from a kernel core of the same stopped process)" {
	lc_core_pattern_is_plain || skip "needs: core_pattern \"core\" or \"core.%p\""
	command -v gcore >/dev/null || skip "needs: gdb (gcore)"
	command -v readelf >/dev/null || skip "needs: readelf"
	local dir=$D/kernel core rc=0
	mkdir "$dir"
	cd "$dir"
	ulimit -c unlimited
	lc_start_target --pattern-mib 16 --reserve-gib 1
	run -0 gcore -o "$D/g" "$LC_TARGET_PID"
	rm -f "$D/g".*
	lc_stop_target "$LC_TARGET_PID"
	run -0 --separate-stderr livecore.sh -w "$D" "$LC_TARGET_PID" "$D/live.core"
	# the kernel dumps the same stopped process
	kill -ABRT "$LC_TARGET_PID"
	kill -CONT "$LC_TARGET_PID"
	wait "$LC_TARGET_PID" || rc=$?
	[ "$rc" -eq $((128 + 6)) ]
	core=$(ls "$dir"/core* 2>/dev/null | head -n 1)
	[ -n "$core" ] || skip "needs: core_pattern=core (the kernel wrote no core, ulimit -c?)"
	loads() { readelf -lW "$1" | awk '$1 == "LOAD" { print $3, $6, $5 }'; }
	loads "$core" >"$D/kernel.loads"
	loads "$D/live.core" >"$D/live.loads"
	run -0 diff -u "$D/kernel.loads" "$D/live.loads"
	# the reservation is there, with nothing in the file, in both
	run -0 grep -c "^$(printf '0x%016x' "$(lc_info reserve.addr)") 0x40000000 0x0*$" "$D/live.loads"
	assert_output 1
}
