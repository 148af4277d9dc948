#!/usr/bin/env bats
# The soft-dirty path end to end, on a kernel that has it: `make check-vm`
# runs these in a QEMU guest with Debian's 6.1 kernel (tests/vm/). On a
# kernel without CONFIG_MEM_SOFT_DIRTY every test skips ("needs: soft-dirty
# kernel"). The guest has no gdb: a core's bytes are found through its
# PT_LOADs by lc-coreread, and the addresses of lc-target's globals come
# from its info file. Figures worth a look (pass counts, pauses) are
# printed into the TAP output as "# " lines.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	T=$BATS_TEST_TMPDIR
	# the same probe as lc-precopy.bats: write, clear_refs, write, pagemap bit 55
	"$LIVECORE_BUILD/targets/lc-precopy-target" --probe-soft-dirty ||
		skip "needs: soft-dirty kernel"
}

teardown() {
	lc_cleanup_targets
}

# say TEXT - a line in the TAP output, passed or not
say() {
	printf '# %s\n' "$*" >&3
}

# pass_field N KEY MANIFEST - KEY= of "# pass N" (empty when no such pass)
pass_field() {
	awk -v n="$1" -v k="$2=" '$2 == "pass" && $3 == n {
		for (i = 4; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$3"
}

# freeze_field KEY MANIFEST - KEY= of the "# freeze" header
freeze_field() {
	awk -v k="$1=" '$2 == "freeze" {
		for (i = 3; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$2"
}

# precopy ARGS... PID - lc-maps, then lc-precopy: $T/maps.m, $T/pre.m, $T/stage
precopy() {
	local pid=${!#}

	lc-maps "$pid" >"$T/maps.m" &&
		lc-precopy -q -s "$T/stage" "$@" <"$T/maps.m" >"$T/pre.m"
}

# freeze_and_write - lc-freeze on $T/pre.m, lc-elfwrite: $T/out.m, $T/core
freeze_and_write() {
	lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/pre.m" >"$T/out.m" &&
		lc-elfwrite -s "$T/stage" -n "$T/notes" -o "$T/core" <"$T/out.m"
}

# ---- convergence -------------------------------------------------------------

# bats test_tags=needs:soft-dirty
@test "soft-dirty: a target rewriting 64 pages over and over: passes after the first copy about those 64" {
	# MADV_NOHUGEPAGE: the kernel's THP "always" would make each write
	# dirty 2 MiB. The writer rewrites the whole set every 10 ms.
	lc_start_target --pattern-mib 32 --nohuge --dirty-set 64 --dirty-rate 6400
	precopy -T soft-dirty -t 0 -p 5 "$LC_TARGET_PID"
	grep '^# pass ' "$T/pre.m" | while read -r line; do say "$line"; done
	run -0 grep -c '^# pass ' "$T/pre.m"
	n=$output
	[ "$n" -ge 2 ]
	# the first pass copies the whole region (8192 pages) and the rest
	[ "$(pass_field 1 pages "$T/pre.m")" -ge 8192 ]
	# the second sees the set dirty (the first lasted far longer than
	# 10 ms) and copies it, plus a few pages of stacks and data
	[ "$(pass_field 2 dirty "$T/pre.m")" -ge 64 ]
	[ "$(pass_field 2 pages "$T/pre.m")" -ge 64 ]
	for ((i = 2; i <= n; i++)); do
		[ "$(pass_field $i pages "$T/pre.m")" -le 128 ]
		[ "$(pass_field $i dirty "$T/pre.m")" -le 128 ]
	done
	run -0 grep -E '^# (tracking|stop-copy) ' "$T/pre.m"
	assert_output $'# tracking soft-dirty\n# stop-copy dirty'
}

# bats test_tags=needs:soft-dirty
@test "soft-dirty: the stop copies only the pages written since the last pass; the core holds their stop-time values" {
	lc_start_target --pattern-mib 32 --nohuge --dirty-set 64 --dirty-rate 6400
	precopy -T soft-dirty -t 0 -p 3 "$LC_TARGET_PID"
	freeze_and_write
	delta=$(freeze_field delta-pages "$T/out.m")
	say "$(grep '^# freeze ' "$T/out.m")"
	# the set (rewritten every 10 ms) and a few pages of stacks and data,
	# not the 8192 pages of the region
	[ "$delta" -ge 1 ]
	[ "$delta" -le 128 ]
	lc_check_generations "$T/core"
}

# ---- the address space changes between passes --------------------------------

# bats test_tags=needs:soft-dirty
@test "soft-dirty: a new mapping over staged addresses reads dirty in full: the stop copies it, its unpopulated half is zeros in the core" {
	lc_start_target --pattern-mib 8 --remap --threads 1
	raddr=$(lc_info remap.addr)
	precopy -T soft-dirty -t 0 -p 2 "$LC_TARGET_PID"
	# the region is staged (generation 1) and clean as of the last pass
	run -0 awk -v a="$(printf '%x' "$raddr")" 'index($1, a "-") == 1 { print $10 }' "$T/pre.m"
	[[ $output == *"$(printf '%x' "$raddr")-"* ]]
	# now the target maps it afresh: the first 32 pages generation 2, the
	# other 32 never touched (zeros). Only VM_SOFTDIRTY says they changed.
	kill -USR2 "$LC_TARGET_PID"
	for ((i = 0; i < 500; i++)); do
		[ "$(cat "$(lc_info remap.file)")" = 1 ] && break
		sleep 0.01
	done
	[ "$(cat "$(lc_info remap.file)")" = 1 ]
	freeze_and_write
	say "$(grep '^# freeze ' "$T/out.m")"
	[ "$(freeze_field delta-pages "$T/out.m")" -ge 32 ]
	run -0 lc_core_pagecheck "$T/core" "$raddr" 32 2
	assert_output "good 32 bad 0"
	off=$("$LC_COREREAD" "$T/core" $((raddr + 32 * 4096)))
	[ $((off % 4096)) = 0 ]
	run -0 sh -c "dd if='$T/core' bs=4096 skip=$((off / 4096)) count=32 2>/dev/null | tr -d '\\000' | wc -c"
	assert_output 0
	# the rest of the target is as it was
	run -0 lc_core_pagecheck "$T/core" "$(lc_info pattern.addr)" 2048
	assert_output "good 2048 bad 0"
}

# bats test_tags=needs:soft-dirty
@test "soft-dirty: a heap that grows and maps that churn between passes: the core holds every heap page and the pattern" {
	lc_start_target --pattern-mib 16 --dirty-set 256 --dirty-rate 2000 --churn --grow-heap 4096 --threads 2
	heap=$(lc_info heap.start)
	sleep 0.2
	# the passes' own rules may end them after one in a slow guest (a
	# heap that grows reads written in full: not-halving); -c runs one
	# more whatever they say, so that the heap grows between passes
	precopy -T soft-dirty -p 5 -t 0 "$LC_TARGET_PID"
	lc-precopy -q -c -p 1 -s "$T/stage" "$LC_TARGET_PID" <"$T/pre.m" >"$T/pre2.m"
	mv "$T/pre2.m" "$T/pre.m"
	freeze_and_write
	m=$T/out.m
	grep -q '^# tracking soft-dirty$' "$m"
	grep '^# pass ' "$m" | while read -r line; do say "$line"; done
	[ "$(grep -c '^# pass ' "$m")" -ge 2 ]
	# the heap record grew between the first look and the stop
	hend() { awk -v h="$heap" '$NF == "[heap]" { split($1, r, "-"); print r[2] }' "$1"; }
	say "[heap] ends at 0x$(hend "$T/maps.m") in lc-maps' view, 0x$(hend "$m") at the stop"
	[ $((16#$(hend "$m"))) -gt $((16#$(hend "$T/maps.m"))) ]
	end=$(lc_core_word "$T/core" "$(lc_info heap_end.addr)")
	pages=$(((end - heap) / 4096))
	say "heap pages filled at the stop: $pages"
	[ "$pages" -gt 0 ]
	run -0 lc_core_pagecheck "$T/core" "$heap" "$pages"
	assert_output "good $pages bad 0"
	lc_check_generations "$T/core"
}

# ---- transparent huge pages ----------------------------------------------------

# bats test_tags=needs:soft-dirty
@test "soft-dirty: a THP-backed region is dumped right, and one 4 KiB write shows as 512 dirty pages" {
	lc_start_target --pattern-mib 8 --thp --dirty-set 1 --dirty-rate 100
	paddr=$(lc_info pattern.addr)
	[ $((paddr % (2 << 20))) = 0 ]
	# the kernel did back it with huge pages (THP "always", MADV_HUGEPAGE)
	huge=$(awk -v a="$(printf '%x' "$paddr")" '
		index($1, a "-") == 1 { on = 1; next }
		/^[0-9a-f]+-/ { on = 0 }
		on && $1 == "AnonHugePages:" { print $2 }' "/proc/$LC_TARGET_PID/smaps")
	say "AnonHugePages of the region: $huge kB"
	[ "$huge" = 8192 ]
	precopy -T soft-dirty -t 0 -p 2 "$LC_TARGET_PID"
	grep '^# pass ' "$T/pre.m" | while read -r line; do say "$line"; done
	[ "$(pass_field 1 pages "$T/pre.m")" -ge 2048 ]
	# the writer rewrote page 0 only; the tracker knows only its 2 MiB
	[ "$(pass_field 2 dirty "$T/pre.m")" -ge 512 ]
	[ "$(pass_field 2 pages "$T/pre.m")" -ge 512 ]
	[ "$(pass_field 2 pages "$T/pre.m")" -lt 1024 ]
	freeze_and_write
	say "$(grep '^# freeze ' "$T/out.m")"
	# and the stop: the same huge page again, not the whole region
	delta=$(freeze_field delta-pages "$T/out.m")
	[ "$delta" -ge 512 ]
	[ "$delta" -lt 1024 ]
	lc_check_generations "$T/core"
}

# ---- the pause -----------------------------------------------------------------

# bats test_tags=needs:soft-dirty
@test "soft-dirty: the pause is shorter than without a tracker, on the same target" {
	# Under TCG on a busy machine one stop can take many times another:
	# two dumps each way, alternating, and the shortest of each compared.
	lc_start_target --pattern-mib 64 --nohuge --dirty-set 256 --dirty-rate 2000 --threads 2
	declare -A best
	for round in 1 2; do
		for mode in soft-dirty none; do
			d=$T/$mode.$round
			mkdir "$d"
			if [ "$mode" = none ]; then
				LIVECORE_FORCE_TRACKING=none run -0 --separate-stderr \
					livecore.sh -k -w "$d" "$LC_TARGET_PID" "$d/core" 3>&-
			else
				run -0 --separate-stderr livecore.sh -k -w "$d" "$LC_TARGET_PID" "$d/core" 3>&-
			fi
			m=$(echo "$d"/.livecore.*/manifest.freeze)
			grep -q "^# tracking $mode\$" "$m"
			pause=$(freeze_field pause-us "$m")
			say "pause with $mode: $pause us ($(freeze_field delta-pages "$m") pages in the stop)"
			if [ -z "${best[$mode]:-}" ] || [ "$pause" -lt "${best[$mode]}" ]; then
				best[$mode]=$pause
			fi
			lc_check_generations "$d/core"
			rm -rf "$d"
		done
	done
	say "shortest pause: soft-dirty ${best[soft-dirty]} us, none ${best[none]} us"
	[ "${best[soft-dirty]}" -lt "${best[none]}" ]
}
