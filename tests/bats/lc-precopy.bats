#!/usr/bin/env bats
# lc-precopy: pre-copy into the staging file (lc-stage(5)), the annotated
# manifest (lc-manifest(5)), tracking and its fallback, bad input.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	LC_PT="$LIVECORE_BUILD/targets/lc-precopy-target"
	LC_VMREAD="$LIVECORE_BUILD/targets/lc-vmread"
	M="$BATS_TEST_TMPDIR/m"
	OUT="$BATS_TEST_TMPDIR/out"
	STAGE="$BATS_TEST_TMPDIR/stage"
	LC_PT_PIDS=()
}

teardown() {
	local pid

	lc_cleanup_targets
	for pid in "${LC_PT_PIDS[@]}"; do
		lc_kill_target "$pid"
	done
	if [ -n "${LC_TMPFS:-}" ]; then
		umount "$LC_TMPFS" 2>/dev/null || true
	fi
}

# start_pt ARGS... - starts lc-precopy-target; sets PT_PID and PT_INFO
start_pt() {
	PT_INFO="$BATS_TEST_TMPDIR/pt${#LC_PT_PIDS[@]}.info"
	lc_start_program "$LC_PT" "$PT_INFO" "$@"
	local rc=$?
	PT_PID=$LC_STARTED_PID
	LC_PT_PIDS+=("$PT_PID")
	return $rc
}

# record MANIFEST ADDR - the record whose range holds ADDR (hex, 0x...)
record() {
	local line a=$(($2)) s e

	while read -r line; do
		case $line in [0-9a-f]*-[0-9a-f]*' '*) ;; *) continue ;; esac
		s=${line%%-*}
		e=${line#*-}
		e=${e%% *}
		if ((a >= 0x$s && a < 0x$e)); then
			printf '%s\n' "$line"
			return 0
		fi
	done <"$1"
	echo "no record holds $2 in $1" >&2
	return 1
}

# field N LINE - field N (1-based) of a record line
field() {
	awk -v n="$1" '{ print $n }' <<<"$2"
}

# stage_offset MANIFEST ADDR - the staging offset of ADDR through the
# extents of its record (decimal), or failure when no extent holds it
stage_offset() {
	local rec x s e o a=$(($2))

	rec=$(record "$1" "$2") || return 1
	for x in $(field 9 "$rec" | tr , ' '); do
		[ "$x" = - ] && break
		s=0x${x%%-*}
		e=${x#*-}
		o=0x${e#*@}
		e=0x${e%@*}
		if ((a >= s && a < e)); then
			echo $((o + a - s))
			return 0
		fi
	done
	echo "no extent holds $2 in: $rec" >&2
	return 1
}

# staged MANIFEST STAGE ADDR LEN - LEN bytes staged for ADDR (one extent)
staged() {
	local off

	off=$(stage_offset "$1" "$3") || return 1
	dd if="$2" bs=4096 skip=$((off / 4096)) count=$(($4 / 4096)) status=none
}

# unreadable_at ADDR - true when a "# unreadable" range of $OUT holds ADDR
unreadable_at() {
	local r

	for r in $(awk '$2 == "unreadable" { print $3 }' "$OUT"); do
		(($1 >= 0x${r%-*} && $1 < 0x${r#*-})) && return 0
	done
	return 1
}

precopy() { # [lc-precopy options] PID: lc-maps, then lc-precopy
	local pid=${!#}

	lc-maps "$pid" >"$M"
	lc-precopy -q -s "$STAGE" "$@" <"$M" >"$OUT"
}

soft_dirty_kernel() {
	"$LC_PT" --probe-soft-dirty
}

# ---- the copy --------------------------------------------------------------

# lc-target without threads or a dirtier is quiescent: its main thread waits
# in sigsuspend. It is not stopped: lc-precopy leaves a stopped process to
# lc-freeze (exact.bats).
@test "a quiescent target: staged pages equal its memory, holes stay holes, a 3 GiB sparse VMA is one extent" {
	lc_start_target --pattern-mib 16 --sparse-gib 3
	run --separate-stderr -0 precopy -T none "$LC_TARGET_PID"

	# the pattern region, page by page, by lc-target's own checker
	paddr=$(lc_info pattern.addr)
	poff=$(stage_offset "$OUT" "$paddr")
	run -0 "$LC_PAGECHECK" "$STAGE" "$poff" "$paddr" 4096
	assert_output 'good 4096 bad 0'

	# the sparse VMA: one record of 3 GiB, one extent, its touched pages good
	saddr=$(lc_info sparse.addr)
	rec=$(record "$OUT" "$saddr")
	[ "$(field 6 "$rec")" = dump ]
	[ "$(field 7 "$rec")" = $((3 << 30)) ]
	[[ $(field 9 "$rec") != *,* ]]
	for t in $(lc_info sparse.touched | tr , ' '); do
		run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT" "$t")" "$t" 1
		assert_output 'good 1 bad 0'
	done

	# every other staged VMA of up to 64 MiB, against a process_vm_readv read
	compared=0
	while read -r start len x; do
		case $x in *@*) ;; *) continue ;; esac
		((len <= 64 << 20)) || continue
		unreadable_at "0x$start" && continue
		cmp <(staged "$OUT" "$STAGE" "0x$start" "$len") \
			<("$LC_VMREAD" "$LC_TARGET_PID" "0x$start" "$len") ||
			{ echo "staged $start (+$len) differs from the target's memory"; false; }
		compared=$((compared + 1))
	done < <(awk '$6 == "dump" && $9 != "-" { split($1, r, "-"); print r[1], $7, $9 }' "$OUT")
	[ "$compared" -ge 5 ]

	# sparse: allocated about the resident size, not the 3 GiB virtual size
	rss=$(($(awk '/^VmRSS/ { print $2 }' "/proc/$LC_TARGET_PID/status") * 1024))
	alloc=$(($(stat -c '%b * %B' "$STAGE")))
	size=$(stat -c %s "$STAGE")
	echo "rss $rss allocated $alloc size $size"
	[ "$alloc" -ge $((16 << 20)) ]
	[ "$alloc" -le $((rss + rss / 10 + (1 << 20))) ]
	[ "$size" -gt $((3 << 30)) ]
	[ "$(stat -c %a "$STAGE")" = 600 ]
	run -0 head -c 8 "$STAGE"
	assert_output 'LCSTAGE'
}

@test "workers split the copy: -j 1 and -j 4 stage the same bytes" {
	lc_start_target --pattern-mib 32 --sparse-gib 1
	run --separate-stderr -0 precopy -T none -j 1 "$LC_TARGET_PID"
	mv "$STAGE" "$STAGE.j1"
	mv "$OUT" "$OUT.j1"
	run --separate-stderr -0 precopy -T none -j 4 "$LC_TARGET_PID"
	# same layout, same bytes
	diff <(grep -v '^# pass ' "$OUT.j1") <(grep -v '^# pass ' "$OUT")
	cmp "$STAGE.j1" "$STAGE"
	paddr=$(lc_info pattern.addr)
	run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT" "$paddr")" "$paddr" 8192
	assert_output 'good 8192 bad 0'
}

@test "O_DIRECT and the page cache stage the same bytes (LIVECORE_COPY_WRITE)" {
	lc_start_target --pattern-mib 32 --sparse-gib 1
	LIVECORE_COPY_WRITE=buffered run --separate-stderr -0 precopy -T none "$LC_TARGET_PID"
	mv "$STAGE" "$STAGE.buffered"
	mv "$OUT" "$OUT.buffered"
	if command -v strace >/dev/null; then
		# the 32 MiB pattern is one run: written with O_DIRECT
		lc-maps "$LC_TARGET_PID" >"$M"
		LIVECORE_COPY_WRITE=direct strace -f -qq -e trace=openat -o "$BATS_TEST_TMPDIR/strace" \
			lc-precopy -q -s "$STAGE" -T none "$LC_TARGET_PID" <"$M" >"$OUT"
		run -0 grep 'O_DIRECT' "$BATS_TEST_TMPDIR/strace"
	else
		LIVECORE_COPY_WRITE=direct run --separate-stderr -0 precopy -T none "$LC_TARGET_PID"
	fi
	diff <(grep -v '^# pass ' "$OUT.buffered") <(grep -v '^# pass ' "$OUT")
	cmp "$STAGE.buffered" "$STAGE"
	paddr=$(lc_info pattern.addr)
	run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT" "$paddr")" "$paddr" 8192
	assert_output 'good 8192 bad 0'
	# the extents allocated before the direct writes are the copied ones:
	# the holes stay holes
	buffered=$(($(stat -c '%b * %B' "$STAGE.buffered")))
	direct=$(($(stat -c '%b * %B' "$STAGE")))
	echo "allocated: buffered $buffered direct $direct"
	[ "$direct" -le $((buffered + (1 << 20))) ]
}

@test "the annotated manifest: readable by the next tool, headers of lc-manifest(5), extents cover exactly the dumped bytes" {
	lc_start_target --pattern-mib 4
	run --separate-stderr -0 precopy -T none "$LC_TARGET_PID"
	run -0 "$LIVECORE_BUILD/targets/lc-manifest-check" out <"$OUT"
	run -0 grep -c '^# pass ' "$OUT"
	assert_output 1
	run -0 grep -E '^# pass 1 pages=[0-9]+ bytes=[0-9]+ dirty=[0-9]+ vanished=[0-9]+ ms=[0-9]+$' "$OUT"
	run -0 grep -E '^# stage-end 0x[0-9a-f]+$' "$OUT"
	end=$(awk '$2 == "stage-end" { print $3 }' "$OUT")
	[ "$(stat -c %s "$STAGE")" -ge $((end)) ]
	# lc-maps' headers pass through unchanged
	diff <(grep '^# ' "$M") <(grep '^# ' "$OUT" | grep -vE '^# (tracking|stop-copy|pass|stage-end|unreadable) ')
	# per record: the extents' union is [start, start + dumpsize), and a
	# skipped record has none, nor has the gate VMA above the user address
	# space (pagemap and mem do not reach it: nothing is staged)
	while read -r range decision size extents; do
		start=$((0x${range%-*}))
		if [ "$decision" != dump ] || [ "${range#ffffffffff}" != "$range" ]; then
			[ "$extents" = - ] || { echo "$range $decision has extents $extents"; false; }
			continue
		fi
		at=$start
		for x in ${extents//,/ }; do
			s=$((0x${x%%-*})); e=${x#*-}; e=$((0x${e%@*}))
			[ "$s" = "$at" ] || { echo "$range: extent $x leaves a gap at $at"; false; }
			at=$e
		done
		[ "$at" = $((start + size)) ] || { echo "$range: extents end at $at"; false; }
	done < <(awk '$1 ~ /^[0-9a-f]+-/ { print $1, $6, $7, $9 }' "$OUT")
}

@test "-T auto on a kernel without soft-dirty: uffd where it works (silently), else one line on stderr, one pass, stop-copy all, nothing clean" {
	if soft_dirty_kernel; then
		skip "needs: kernel without soft-dirty"
	fi
	lc_start_target --pattern-mib 4
	run --separate-stderr -0 precopy "$LC_TARGET_PID"
	if grep -q '^# tracking uffd$' "$OUT"; then
		# tests/bats/uffd.bats tests that mode
		assert_equal "$stderr" ''
		run -0 lc-precopy -R "$(awk '$2 == "uffd" { sub("fd=", "", $3); print $3 }' "$OUT")" "$LC_TARGET_PID"
		return
	fi
	assert_regex "$stderr" '^lc-precopy: no dirty tracking \(soft-dirty unavailable: .*pagemap bit 55.*; uffd unavailable: .*\): one pass; the stop must copy every dumped page$'
	[ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ]
	run -0 grep -c '^# pass ' "$OUT"
	assert_output 1
	run -0 grep -E '^# (tracking|stop-copy) ' "$OUT"
	assert_output $'# tracking none\n# stop-copy all'
	run -0 awk '$1 ~ /^[0-9a-f]+-/ && $10 != "-"' "$OUT"
	assert_output ''
}

@test "-T soft-dirty on a kernel without it fails clearly and leaves nothing" {
	if soft_dirty_kernel; then
		skip "needs: kernel without soft-dirty"
	fi
	lc_start_target --pattern-mib 1
	run --separate-stderr -1 precopy -T soft-dirty "$LC_TARGET_PID"
	assert_equal "$stderr" 'lc-precopy: soft-dirty tracking does not work here: the kernel accepted clear_refs "4" but never set pagemap bit 55 (no CONFIG_MEM_SOFT_DIRTY)'
	[ ! -e "$STAGE" ]
	[ ! -s "$OUT" ]
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output S
}

@test "LIVECORE_FORCE_TRACKING=none forces the fallback on any kernel" {
	lc_start_target --pattern-mib 1
	LIVECORE_FORCE_TRACKING=none run --separate-stderr -0 precopy -T auto "$LC_TARGET_PID"
	assert_equal "$stderr" 'lc-precopy: no dirty tracking (LIVECORE_FORCE_TRACKING=none): one pass; the stop must copy every dumped page'
	run -0 grep -E '^# (tracking|stop-copy) ' "$OUT"
	assert_output $'# tracking none\n# stop-copy all'
	LIVECORE_FORCE_TRACKING=bogus run --separate-stderr -1 lc-precopy -q -s "$STAGE.2" "$LC_TARGET_PID" <"$M"
	assert_regex "$stderr" 'LIVECORE_FORCE_TRACKING=bogus: want none, soft-dirty or uffd'
	[ ! -e "$STAGE.2" ]
}

@test "a target that keeps mapping, unmapping, growing and mprotecting: no error, extents follow the maps of the last pass" {
	lc_start_target --churn --pattern-mib 8
	for i in 1 2 3 4 5; do
		rm -f "$STAGE"
		run --separate-stderr -0 precopy -T none "$LC_TARGET_PID"
		run -0 "$LIVECORE_BUILD/targets/lc-manifest-check" out <"$OUT"
		# every dumped record is covered by its extents, exactly (but
		# the gate VMA above the user address space, which pagemap and
		# mem do not reach: nothing is staged for it)
		run -0 awk '$1 ~ /^[0-9a-f]+-/ && $1 !~ /^ffffffffff/ && $6 == "dump" && $9 == "-"' "$OUT"
		assert_output ''
		# records that the churn does not touch match /proc/PID/maps now
		paddr=$(lc_info pattern.addr)
		rec=$(record "$OUT" "$paddr")
		run -0 grep "^${rec%% *} " "/proc/$LC_TARGET_PID/maps"
		run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT" "$paddr")" "$paddr" 2048
		assert_output 'good 2048 bad 0'
	done
	run -0 lc_proc_state "$LC_TARGET_PID"
	refute_output --regexp '^[tTZ]$'
}

@test "a page that faults mid-copy (a file mapping past EOF) is recorded and zero, and the copy goes on" {
	start_pt --beyond-eof "$BATS_TEST_TMPDIR"
	bad_start=$(lc_info eof.bad_start "$PT_INFO")
	bad_end=$(lc_info eof.bad_end "$PT_INFO")
	after=$(lc_info after.addr "$PT_INFO")
	for method in mem process_vm_readv; do
		rm -f "$STAGE"
		LIVECORE_COPY_METHOD=$method run --separate-stderr -0 precopy -T none "$PT_PID"
		run -0 grep "^# unreadable ${bad_start#0x}-${bad_end#0x}\$" "$OUT"
		# page 0 of the mapping was written by the target: 'W's
		cmp <(staged "$OUT" "$STAGE" "$(lc_info eof.addr "$PT_INFO")" 4096) \
			<(head -c 4096 /dev/zero | tr '\0' W)
		# the faulting pages read as zeros
		cmp <(staged "$OUT" "$STAGE" "$bad_start" $((bad_end - bad_start))) \
			<(head -c $((bad_end - bad_start)) /dev/zero)
		# the pages right after them, in the same batch, were copied
		run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT" "$after")" "$after" 4
		assert_output 'good 4 bad 0'
	done
}

@test "the staged model: extents follow addresses, every state transition keeps its invariants (unit: runs.c, extents.c, stagemap.c, delta.c)" {
	run -0 "$LIVECORE_BUILD/targets/lc-stagemap-unit"
	assert_output ok
}

# ---- bad input: a clear error, a documented status, the target untouched ---

@test "a truncated manifest (no end line) is refused: status 5, no staging file" {
	lc_start_target --pattern-mib 1
	lc-maps "$LC_TARGET_PID" | sed '$d' >"$M"
	run --separate-stderr -5 lc-precopy -q -s "$STAGE" "$LC_TARGET_PID" <"$M"
	assert_regex "$stderr" '^lc-precopy: standard input: no end line'
	assert_output ''
	[ ! -e "$STAGE" ]
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output S
}

@test "a manifest of another process is refused (status 5); of a reused pid (status 3)" {
	lc_start_target --pattern-mib 1
	a=$LC_TARGET_PID
	lc_start_target --pattern-mib 1
	b=$LC_TARGET_PID
	lc-maps "$a" >"$M"
	run --separate-stderr -5 lc-precopy -q -s "$STAGE" "$b" <"$M"
	assert_equal "$stderr" "lc-precopy: standard input: the manifest describes process $a, not $b"
	[ ! -e "$STAGE" ]
	# same pid, another starttime: what a reused pid looks like
	st=$(awk '$2 == "starttime" { print $3 }' "$M")
	sed "s/^# starttime $st\$/# starttime $((st + 1))/" "$M" >"$M.reused"
	run --separate-stderr -3 lc-precopy -q -s "$STAGE" "$a" <"$M.reused"
	assert_equal "$stderr" "lc-precopy: process $a is not the process the manifest describes (starttime $st, manifest says $((st + 1))): the pid was reused"
	[ ! -e "$STAGE" ]
	# an exited process
	kill -KILL "$b"
	wait "$b" || true
	lc-maps "$a" | sed "s/^# pid $a\$/# pid $b/" >"$M.gone"
	run --separate-stderr -3 lc-precopy -q -s "$STAGE" "$b" <"$M.gone"
	assert_equal "$stderr" "lc-precopy: no process $b"
	run -0 lc_proc_state "$a"
	assert_output S
}

# bats test_tags=needs:root
@test "a staging filesystem too small for the resident memory: status 1 before the first byte, file removed" {
	lc_require_root
	lc_start_target --pattern-mib 16
	LC_TMPFS="$BATS_TEST_TMPDIR/small"
	mkdir "$LC_TMPFS"
	mount -t tmpfs -o size=4m tmpfs "$LC_TMPFS" || skip "needs: mount (CAP_SYS_ADMIN)"
	lc-maps "$LC_TARGET_PID" >"$M"
	run --separate-stderr -1 lc-precopy -q -T none -s "$LC_TMPFS/stage" "$LC_TARGET_PID" <"$M"
	assert_regex "$stderr" "^lc-precopy: the staging file's filesystem has less than the [0-9]+ bytes the target's resident memory needs\$"
	assert_output ''
	run -0 ls -A "$LC_TMPFS"
	assert_output ''
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output S
}

@test "a staging path that is a symbolic link is never followed: status 7" {
	lc_start_target --pattern-mib 1
	lc-maps "$LC_TARGET_PID" >"$M"
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$STAGE"
	run --separate-stderr -7 lc-precopy -q -s "$STAGE" "$LC_TARGET_PID" <"$M"
	assert_equal "$stderr" "lc-precopy: $STAGE exists (an existing file or symbolic link is never reused)"
	[ ! -e "$BATS_TEST_TMPDIR/elsewhere" ]
	[ -L "$STAGE" ]
	# and an existing regular file is not overwritten
	rm "$STAGE"
	echo keep >"$STAGE"
	run --separate-stderr -7 lc-precopy -q -s "$STAGE" "$LC_TARGET_PID" <"$M"
	[ "$(cat "$STAGE")" = keep ]
}

@test "a staging directory the caller cannot write: status 1, clear error" {
	lc_start_target --pattern-mib 1
	lc-maps "$LC_TARGET_PID" >"$M"
	mkdir "$BATS_TEST_TMPDIR/ro"
	chmod 555 "$BATS_TEST_TMPDIR/ro"
	# as root too: lc-precopy creates the staging file after dropping
	# every capability, so CAP_DAC_OVERRIDE does not get it in
	run --separate-stderr -1 lc-precopy -q -s "$BATS_TEST_TMPDIR/ro/stage" "$LC_TARGET_PID" <"$M"
	assert_equal "$stderr" "lc-precopy: cannot create the staging file $BATS_TEST_TMPDIR/ro/stage: Permission denied"
	[ ! -e "$BATS_TEST_TMPDIR/ro/stage" ]
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output S
}

@test "bad arguments: status 2 and the usage" {
	run --separate-stderr -2 lc-precopy -s "$STAGE" -p 0 1
	assert_regex "$stderr" 'bad pass limit "0"'
	run --separate-stderr -2 lc-precopy -s "$STAGE" -T maybe 1
	assert_regex "$stderr" 'bad tracking mode "maybe"'
	run --separate-stderr -2 lc-precopy -s "$STAGE" -t 101 1
	run --separate-stderr -2 lc-precopy -s "$STAGE" -j 0 1
	run --separate-stderr -2 lc-precopy 1
	assert_regex "$stderr" 'no staging file'
	run --separate-stderr -2 lc-precopy -s "$STAGE" 12x
	run -0 lc-precopy -h
	assert_regex "$output" '^usage: lc-precopy -s STAGE \[-c\] \[-T auto\|soft-dirty\|uffd\|fork\|none\] \[-p MAXPASSES\]'
	run --separate-stderr -2 lc-precopy -c -T none -s "$STAGE" 1
	assert_regex "$stderr" '-c continues with the tracker the manifest names'
	[ ! -e "$STAGE" ]
}

@test "-c continues on the staging file from lc-precopy's manifest: passes number on, extents keep their offsets" {
	lc_start_target --pattern-mib 4
	run --separate-stderr -0 precopy "$LC_TARGET_PID"
	cp "$OUT" "$BATS_TEST_TMPDIR/m1"
	run --separate-stderr -0 lc-precopy -q -c -p 1 -s "$STAGE" "$LC_TARGET_PID" <"$BATS_TEST_TMPDIR/m1"
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/m2"
	run -0 "$LIVECORE_BUILD/targets/lc-manifest-check" out <"$BATS_TEST_TMPDIR/m2"
	n1=$(grep -c '^# pass ' "$BATS_TEST_TMPDIR/m1")
	run -0 awk '$2 == "pass" { n++; if ($3 != n) exit 1 } END { print n }' "$BATS_TEST_TMPDIR/m2"
	assert_output $((n1 + 1))
	# the pattern's extent is where it was, and still holds the pattern
	paddr=$(lc_info pattern.addr)
	[ "$(stage_offset "$BATS_TEST_TMPDIR/m1" "$paddr")" = "$(stage_offset "$BATS_TEST_TMPDIR/m2" "$paddr")" ]
	run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$BATS_TEST_TMPDIR/m2" "$paddr")" "$paddr" 1024
	assert_output 'good 1024 bad 0'
	run -0 grep -E '^# (tracking|stop-copy) ' "$BATS_TEST_TMPDIR/m2"
	assert_output "$(grep -E '^# (tracking|stop-copy) ' "$BATS_TEST_TMPDIR/m1")"
	# refusals: lc-maps' manifest (nothing to continue), a staging file
	# that is not one, a symbolic link; the staging file is left alone
	run --separate-stderr -5 lc-precopy -q -c -s "$STAGE" "$LC_TARGET_PID" <"$M"
	assert_regex "$stderr" '-c needs a manifest lc-precopy wrote'
	: >"$BATS_TEST_TMPDIR/empty"
	run --separate-stderr -5 lc-precopy -q -c -s "$BATS_TEST_TMPDIR/empty" "$LC_TARGET_PID" <"$BATS_TEST_TMPDIR/m1"
	ln -s "$STAGE" "$BATS_TEST_TMPDIR/link"
	run --separate-stderr -5 lc-precopy -q -c -s "$BATS_TEST_TMPDIR/link" "$LC_TARGET_PID" <"$BATS_TEST_TMPDIR/m1"
	[ -s "$STAGE" ]
}

# ---- privileges, signals, the terminal ------------------------------------

# bats test_tags=needs:root
@test "after setup lc-precopy holds no capability (pread on the open /proc/PID/mem)" {
	lc_require_root
	lc_start_target --pattern-mib 1
	lc-maps "$LC_TARGET_PID" >"$M"
	LIVECORE_DEBUG_PRIVILEGES=1 run --separate-stderr -0 lc-precopy -q -T none -s "$STAGE" "$LC_TARGET_PID" <"$M"
	assert_regex "$stderr" 'privileges after setup: CapInh=0+ CapPrm=0+ CapEff=0+ .*NoNewPrivs=1'
	# process_vm_readv keeps CAP_SYS_PTRACE (bit 19) and nothing else
	rm -f "$STAGE"
	LIVECORE_COPY_METHOD=process_vm_readv LIVECORE_DEBUG_PRIVILEGES=1 \
		run --separate-stderr -0 lc-precopy -q -T none -s "$STAGE" "$LC_TARGET_PID" <"$M"
	assert_regex "$stderr" 'CapPrm=0000000000080000 CapEff=0000000000080000'
}

# bats test_tags=needs:root
@test "as root, copies another user's process through files opened while privileged, then holds nothing" {
	lc_require_root
	command -v setpriv >/dev/null || skip "needs: setpriv"
	lc_start_nobody_process
	pid=$LC_NOBODY_PID
	run -0 stat -c %u "/proc/$pid"
	assert_output 65534
	LIVECORE_DEBUG_PRIVILEGES=1 run --separate-stderr -0 precopy -T none "$pid"
	assert_regex "$stderr" 'CapPrm=0+ CapEff=0+ '
	# the stack, staged, equals the process's stack (sleep(1) is quiet in
	# nanosleep; a stopped process would be left to lc-freeze)
	rec=$(awk '$NF == "[stack]"' "$OUT")
	start=0x${rec%%-*}
	len=$(field 7 "$rec")
	rm -f "$STAGE"
	run --separate-stderr -0 precopy -T none "$pid"
	cmp <(staged "$OUT" "$STAGE" "$start" "$len") <("$LC_VMREAD" "$pid" "$start" "$len")
}

# bats test_tags=needs:root
@test "with file capabilities (permitted set only) lc-precopy refuses another user's target (4) and copies the caller's own" {
	lc_require_root
	command -v setcap >/dev/null || skip "needs: setcap (libcap2-bin)"
	command -v setpriv >/dev/null || skip "needs: setpriv"
	dir=$BATS_TEST_TMPDIR/caps
	mkdir "$dir"
	p=$dir
	while [ "$p" != / ]; do chmod o+x "$p"; p=$(dirname "$p"); done
	chmod 777 "$dir"
	cp "$LIVECORE_BUILD/bin/lc-precopy" "$dir/lc-precopy"
	setcap cap_sys_ptrace,cap_dac_read_search,cap_dac_override=p "$dir/lc-precopy" ||
		skip "needs: a filesystem with file capabilities under \$BATS_TEST_TMPDIR"
	lc_start_target --pattern-mib 1   # runs as root
	lc-maps "$LC_TARGET_PID" >"$dir/m"
	chmod 644 "$dir/m"
	run --separate-stderr -4 setpriv --reuid nobody --regid nogroup --clear-groups \
		"$dir/lc-precopy" -q -s "$dir/stage" "$LC_TARGET_PID" <"$dir/m"
	assert_equal "$stderr" "lc-precopy: process $LC_TARGET_PID belongs to uid 0: with file capabilities lc-precopy copies only the caller's own processes"
	[ ! -e "$dir/stage" ]
	# its own process: a staging file and a manifest, nothing held after setup
	run --separate-stderr -0 setpriv --reuid nobody --regid nogroup --clear-groups sh -c '
		sleep 30 & p=$!; i=0
		# until the child sleeps in sleep(1): not a process mid-execve
		while read -r _ c s _ <"/proc/$p/stat" && [ "$c $s" != "(sleep) S" ] && [ $i -lt 100000 ]; do i=$((i + 1)); done
		"$1" "$p" >"$2/own.m" &&
		LIVECORE_DEBUG_PRIVILEGES=1 "$2/lc-precopy" -q -T none -s "$2/own.stage" "$p" <"$2/own.m"
		rc=$?; kill "$p"; exit $rc' sh "$LIVECORE_BUILD/bin/lc-maps" "$dir"
	assert_line --index 0 'livecore-manifest 2'
	assert_line --regexp '^# pass 1 pages=[1-9]'
	assert_regex "$stderr" 'CapPrm=0000000000000000 CapEff=0000000000000000'
	[ "$(stat -c %U "$dir/own.stage")" = nobody ]
}

# bats test_tags=slow
@test "SIGTERM during the copy removes the staging file: status 8, target runs on" {
	lc_start_target --pattern-mib 1024
	lc-maps "$LC_TARGET_PID" >"$M"
	lc-precopy -q -T none -j 1 -s "$STAGE" "$LC_TARGET_PID" <"$M" >"$OUT" 2>/dev/null 3>&- &
	pc=$!
	for ((i = 0; i < 500; i++)); do
		[ -e "$STAGE" ] && break
		sleep 0.01
	done
	[ -e "$STAGE" ]
	kill -TERM "$pc"
	rc=0
	wait "$pc" || rc=$?
	assert_equal "$rc" 8
	[ ! -e "$STAGE" ]
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output S
}

@test "on a terminal a progress line (pass, bytes of total, rate, ETA); -q silences it" {
	command -v script >/dev/null || skip "needs: script(1)"
	lc_start_target --pattern-mib 64
	lc-maps "$LC_TARGET_PID" >"$M"
	run -0 script -qec "lc-precopy -T none -s '$STAGE' $LC_TARGET_PID <'$M' >'$OUT'" /dev/null
	assert_regex "$output" 'lc-precopy: pass 1: [0-9.]+ of [0-9.]+ GiB, [0-9.]+ GB/s, ETA [0-9]+ s'
	rm -f "$STAGE"
	run -0 script -qec "lc-precopy -q -T none -s '$STAGE' $LC_TARGET_PID <'$M' >'$OUT'" /dev/null
	refute_output --partial 'pass 1:'
	# not a terminal: no progress line either
	rm -f "$STAGE"
	run --separate-stderr -0 lc-precopy -T none -s "$STAGE" "$LC_TARGET_PID" <"$M"
	refute_regex "$stderr" 'pass 1:'
}

# ---- soft-dirty: run in the guest (make check-vm) --------------------------

# bats test_tags=needs:soft-dirty
@test "soft-dirty: after a pass, a target writing every 7th page makes the next pass copy exactly those pages" {
	soft_dirty_kernel || skip "needs: soft-dirty kernel"
	start_pt --every-7th 64
	written=$(lc_info region.written "$PT_INFO")
	raddr=$(lc_info region.addr "$PT_INFO")
	run --separate-stderr -0 precopy -T soft-dirty -t 0 -p 2 "$PT_PID"
	run -0 grep -E '^# (tracking|stop-copy) ' "$OUT"
	assert_output $'# tracking soft-dirty\n# stop-copy dirty'
	run -0 grep -c '^# pass ' "$OUT"
	assert_output 2
	# pass 2: the written pages, and a few of the writer's own (its stack)
	pages=$(awk '$2 == "pass" && $3 == 2 { sub("pages=", "", $4); print $4 }' "$OUT")
	dirty=$(awk '$2 == "pass" && $3 == 2 { sub("dirty=", "", $6); print $6 }' "$OUT")
	echo "written $written pass 2 pages $pages dirty $dirty"
	[ "$pages" -ge "$written" ]
	[ "$pages" -le $((written + 32)) ]
	[ "$dirty" -ge "$written" ]
	[ "$dirty" -le $((written + 32)) ]
	# the region is clean as of the last reset: the stop copies only dirty
	rec=$(record "$OUT" "$raddr")
	[ "$(field 10 "$rec")" != - ]
}

# bats test_tags=needs:soft-dirty
@test "soft-dirty: -T auto picks it; a quiet target converges after one pass" {
	soft_dirty_kernel || skip "needs: soft-dirty kernel"
	lc_start_target --pattern-mib 8
	run --separate-stderr -0 precopy "$LC_TARGET_PID"
	assert_equal "$stderr" ''
	run -0 grep '^# tracking ' "$OUT"
	assert_output '# tracking soft-dirty'
	paddr=$(lc_info pattern.addr)
	run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT" "$paddr")" "$paddr" 2048
	assert_output 'good 2048 bad 0'
	rec=$(record "$OUT" "$paddr")
	[ "$(field 10 "$rec")" = "$(field 1 "$rec")" ]
}

# bats test_tags=needs:soft-dirty
@test "soft-dirty: passes over a churning target keep extents by address; pattern pages stay good" {
	soft_dirty_kernel || skip "needs: soft-dirty kernel"
	lc_start_target --churn --pattern-mib 8
	paddr=$(lc_info pattern.addr)
	for i in 1 2 3; do
		rm -f "$STAGE"
		run --separate-stderr -0 precopy -T soft-dirty -t 0 -p 4 "$LC_TARGET_PID"
		run -0 "$LIVECORE_BUILD/targets/lc-manifest-check" out <"$OUT"
		n=$(grep -c '^# pass ' "$OUT")
		[ "$n" -ge 2 ]
		run -0 awk '$1 ~ /^[0-9a-f]+-/ && $6 == "dump" && $9 == "-"' "$OUT"
		assert_output ''
		# a clean range never lies outside the record's extents
		while read -r extents clean; do
			[ "$clean" = - ] && continue
			for c in ${clean//,/ }; do
				# a hole is clean with nothing staged
				[[ $c == *:hole ]] && continue
				at=$((0x${c%-*})) ce=$((0x${c#*-}))
				for x in ${extents//,/ }; do
					xs=$((0x${x%%-*})); xe=${x#*-}; xe=$((0x${xe%@*}))
					((xs <= at && at < xe)) && at=$xe
				done
				((at >= ce)) || { echo "clean $c outside the extents $extents"; false; }
			done
		done < <(awk '$1 ~ /^[0-9a-f]+-/ { print $9, $10 }' "$OUT")
		run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT" "$paddr")" "$paddr" 2048
		assert_output 'good 2048 bad 0'
	done
}

# bats test_tags=needs:soft-dirty
@test "soft-dirty: every pass after the first holds the target still around scan and reset (stop-us); only CAP_SYS_PTRACE is kept" {
	soft_dirty_kernel || skip "needs: soft-dirty kernel"
	start_pt --every-7th 16
	lc-maps "$PT_PID" >"$M"
	LIVECORE_DEBUG_PRIVILEGES=1 run --separate-stderr -0 lc-precopy -q -T soft-dirty -t 0 -p 3 \
		-s "$STAGE" "$PT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT"
	if [ "$(id -u)" = 0 ]; then
		assert_regex "$stderr" 'CapPrm=0000000000080000 CapEff=0000000000080000'
	fi
	# pass 1 resets without a scan: no stop; passes 2 and 3 stop
	run -0 awk '$2 == "pass" && $3 == 1 && /stop-us=/' "$OUT"
	assert_output ''
	run -0 awk '$2 == "pass" && $3 > 1 && !/ stop-us=[0-9]+$/' "$OUT"
	assert_output ''
	[ "$(grep -c '^# pass ' "$OUT")" -ge 2 ]
	# the target runs on, not stopped
	run -0 lc_proc_state "$PT_PID"
	refute_output --regexp '^[tT]$'
}
