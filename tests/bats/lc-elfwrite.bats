#!/usr/bin/env bats
# lc-elfwrite: the ELF core, checked by real readers (gdb, eu-stack,
# eu-readelf, readelf) against the live, stopped target; in place and stream
# outputs; bad input. Inputs come from the real pipeline (lc-maps |
# lc-precopy | lc-freeze) or, where a test needs a staging layout the
# pipeline does not make on demand (scattered extents, gaps, skipped VMAs
# with staged bytes), from lc-stage-fill with the notes of a gcore core
# (lc-notes-from-core).

bats_require_minimum_version 1.8.0

setup() {
	load helpers
	STAGE_FILL="$LIVECORE_BUILD/targets/lc-stage-fill"
	NOTES_FROM_CORE="$LIVECORE_BUILD/targets/lc-notes-from-core"
	LAYOUT_TEST="$LIVECORE_BUILD/targets/lc-layout-test"
	W=$BATS_TEST_TMPDIR
}

teardown() {
	# an immutable directory made by a test must not outlive it, nor the
	# directory a test made on another filesystem
	[ -d "$BATS_TEST_TMPDIR/ro" ] && chattr -i "$BATS_TEST_TMPDIR/ro" 2>/dev/null
	[ -n "${OTHER_FS_DIR:-}" ] && rm -rf "$OTHER_FS_DIR"
	lc_cleanup_targets
}

# target [lc-target options] - starts lc-target (two threads, 2 MiB of
# pattern, thread-local values) and stops it with SIGSTOP, so that its
# memory and registers stay what the core must hold.
target() {
	lc_start_target --threads 2 --pattern-mib 2 --tls "$@"
	lc_stop_target "$LC_TARGET_PID"
}

# pipeline - the real tools up to lc-freeze: $W/S (staging), $W/N (notes),
# $W/m.txt (the final manifest).
pipeline() {
	lc-maps "$LC_TARGET_PID" | lc-precopy -s "$W/S" "$LC_TARGET_PID" |
		lc-freeze -s "$W/S" -n "$W/N" "$LC_TARGET_PID" >"$W/m.txt" 2>"$W/pipeline.err" || {
		cat "$W/pipeline.err" >&2
		return 1
	}
	# after lc-freeze detaches, a group-stopped thread wakes and stops
	# again (the kernel re-instates the group stop): wait for it
	lc_wait_state "$LC_TARGET_PID" T 300 || {
		echo "the target is no longer stopped" >&2
		return 1
	}
}

# handmade [lc-stage-fill options] - the same inputs without lc-precopy and
# lc-freeze: the staging file copied from /proc/PID/mem by lc-stage-fill,
# the notes from gdb's gcore of the stopped target.
handmade() {
	lc-maps "$LC_TARGET_PID" >"$W/m0.txt"
	"$STAGE_FILL" "$@" "$LC_TARGET_PID" "$W/S" <"$W/m0.txt" >"$W/m1.txt"
	sed 's/^# stage-end /# freeze pause-us=0 threads=3\n&/' "$W/m1.txt" >"$W/m.txt"
	gcore -o "$W/gcore" "$LC_TARGET_PID" >/dev/null 2>&1
	mv "$W/gcore.$LC_TARGET_PID" "$W/gcore.core"
	[ "$(lc_proc_state "$LC_TARGET_PID")" = T ] || lc_stop_target "$LC_TARGET_PID"
	"$NOTES_FROM_CORE" "$W/gcore.core" "$W/N"
}

# gdb_core CORE COMMANDS... - gdb in batch mode on CORE with lc-target
gdb_core() {
	local core=$1 args=()

	shift
	for c in "$@"; do
		args+=(-ex "$c")
	done
	gdb -nx -batch "${args[@]}" "$LC_TARGET" "$core" 2>&1
}

# assert_backtraces CORE - every thread of the info file is in its function
assert_backtraces() {
	run -0 gdb_core "$1" "thread apply all bt"
	assert_output --partial "$(lc_info main.func)"
	assert_output --partial "$(lc_info thread.0.func)"
	assert_output --partial "$(lc_info thread.1.func)"
	refute_output --partial "Cannot access memory"
}

# assert_pattern_matches_live CORE - the pattern region in the core holds
# exactly what /proc/PID/mem holds
assert_pattern_matches_live() {
	local addr size

	addr=$(lc_info pattern.addr)
	size=$(lc_info pattern.size)
	run -0 gdb_core "$1" "dump binary memory $W/from-core $addr $addr+$size"
	dd if="/proc/$LC_TARGET_PID/mem" of="$W/from-live" bs=4096 skip=$((addr / 4096)) \
		count=$((size / 4096)) status=none
	[ -s "$W/from-live" ]
	cmp "$W/from-core" "$W/from-live"
}

# assert_registers_match CORE REFCORE - pc and sp of every thread equal
# (gdb's names on every architecture)
assert_registers_match() {
	local cmd='thread apply all info registers pc sp'

	gdb_core "$1" "$cmd" | grep -E '^(pc|sp) ' >"$W/regs.core"
	gdb_core "$2" "$cmd" | grep -E '^(pc|sp) ' >"$W/regs.ref"
	[ "$(wc -l <"$W/regs.core")" -eq 6 ]
	diff "$W/regs.core" "$W/regs.ref"
}

# no_file DIR NAME - nothing named NAME, nor a temporary .NAME.*, in DIR
no_file() {
	[ ! -e "$1/$2" ] && ! compgen -G "$1/.$2.*" >/dev/null
}

# bats test_tags=vm:arm64
@test "lc-elfwrite: the layout unit tests pass (lc-layout-test, no I/O)" {
	run -0 "$LAYOUT_TEST"
	refute_output --partial "not ok"
	assert_line --regexp '^1\.\.[0-9]+$'
}

@test "lc-elfwrite: -h prints the SYNOPSIS of lc-elfwrite(1)" {
	run -0 lc-elfwrite -h
	synopsis=$(sed -n '/^# SYNOPSIS/,/^# /p' "$BATS_TEST_DIRNAME/../../doc/lc-elfwrite.1.scd" |
		grep '^\*lc-elfwrite\*' | sed 's/[*_]//g; s/\\//g')
	[ -n "$synopsis" ]
	[[ ${lines[0]} == "usage: $synopsis" ]]
	run -2 lc-elfwrite -s x
	assert_output --partial "usage: lc-elfwrite"
}

@test "lc-elfwrite: in place from the real pipeline: gdb shows every thread, registers, memory" {
	target
	pipeline
	run -0 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"in place"* ]]
	# the staging file became the core: no second copy of the memory
	[ ! -e "$W/S" ]
	[ "$(stat -c %a "$W/core")" = 600 ]
	assert_backtraces "$W/core"
	assert_pattern_matches_live "$W/core"
	run -0 gdb_core "$W/core" "thread 2" "print/x lc_tls_value"
	assert_output --partial "$(lc_info thread.0.tls)"
	gcore -o "$W/ref" "$LC_TARGET_PID" >/dev/null 2>&1
	assert_registers_match "$W/core" "$W/ref.$LC_TARGET_PID"
}

@test "lc-elfwrite: stream on another filesystem and in place read the same in gdb and eu-stack" {
	[ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" != "$(stat -f -c %T "$W")" ] ||
		skip "needs: /dev/shm on another filesystem than $W"
	target
	pipeline
	OTHER_FS_DIR=$(mktemp -d /dev/shm/lc-elfwrite-test.XXXXXX)
	run -0 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$OTHER_FS_DIR/core" <"$W/m.txt"
	[[ $stderr == *"stream"* ]]
	[ -e "$W/S" ] # a stream leaves the staging file alone
	mv "$OTHER_FS_DIR/core" "$W/core.stream"
	run -0 lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core.inplace" <"$W/m.txt"
	for c in core.stream core.inplace; do
		assert_backtraces "$W/$c"
		assert_pattern_matches_live "$W/$c"
		eu-stack --core "$W/$c" -e "$LC_TARGET" >"$W/$c.stack"
	done
	grep -q "$(lc_info thread.1.func)" "$W/core.stream.stack"
	diff "$W/core.stream.stack" "$W/core.inplace.stack"
	# the stream is laid out as the kernel does: PT_NOTE right after the headers
	run -0 readelf -lW "$W/core.stream"
	assert_line --regexp '^  NOTE +0x[0-9a-f]+ '
}

@test "lc-elfwrite: lldb reads in place cores (moved VMAs too) and stream cores" {
	command -v lldb >/dev/null || skip "needs: lldb"
	target
	handmade -x
	run -0 lc-elfwrite -q -c -s "$W/S" -n "$W/N" -o "$W/core.stream" <"$W/m.txt"
	run -0 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core.inplace" <"$W/m.txt"
	[[ $stderr == *"VMAs moved together"* ]]
	a=$(lc_info pattern.addr)
	for c in core.stream core.inplace; do
		run -0 timeout 120 lldb --batch -o "target create --core $W/$c $LC_TARGET" \
			-o "thread backtrace all" -o "memory read -s8 -fx -c2 $a"
		assert_output --partial "lc-target\`$(lc_info main.func)"
		assert_output --partial "lc-target\`$(lc_info thread.0.func)"
		assert_output --partial "lc-target\`$(lc_info thread.1.func)"
		# the pattern page starts with its own address and generation 1
		assert_line --regexp "^$a: 0x0*${a#0x} 0x0*1$"
	done
}

@test "lc-elfwrite: eu-unstrip finds the executable, ld.so, libc and the vdso, whatever the staging order" {
	target
	handmade -r # every VMA staged in descending address order
	run -0 lc-elfwrite -q -c -s "$W/S" -n "$W/N" -o "$W/core.stream" <"$W/m.txt"
	run -0 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core.inplace" <"$W/m.txt"
	# neighbours in memory staged in the wrong order are moved (elfutils
	# reads neighbours as one run of the file)
	[[ $stderr == *"VMAs moved together"* ]]
	for c in core.stream core.inplace; do
		run -0 eu-unstrip -n --core "$W/$c"
		assert_line --partial "$LC_TARGET"
		assert_line --partial "$(lc_ld_so)"
		assert_line --partial "libc.so.6"
		assert_line --partial "linux-vdso.so.1"
		# and the modules are whole: libc's size comes from its program
		# headers, read across its PT_LOADs
		diff <(eu-unstrip -n --core "$W/$c" | cut -d' ' -f1 | sort) \
			<(eu-unstrip -n --core "$W/gcore.core" | cut -d' ' -f1 | sort)
	done
}

# segments CORE - each PT_LOAD's address, file size, memory size and flags
segments() {
	readelf -lW "$1" | awk '$1 == "LOAD" { print $3, $5, $6, $7 $8 $9 }' | sed 's/0x1000$//'
}

@test "lc-elfwrite: the PT_LOADs are the kernel's, segment for segment (its own core of the target)" {
	lc_core_pattern_is_plain || skip "needs: core_pattern \"core\" or \"core.%p\""
	cd "$W"
	ulimit -c unlimited
	target
	echo 0x33 >"/proc/$LC_TARGET_PID/coredump_filter"
	pipeline
	run -0 lc-elfwrite -q -c -s "$W/S" -n "$W/N" -o "$W/ours.stream" <"$W/m.txt"
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/ours.inplace" <"$W/m.txt"
	# now the kernel's core of the same, still stopped, process
	kill -ABRT "$LC_TARGET_PID"
	kill -CONT "$LC_TARGET_PID"
	wait "$LC_TARGET_PID" || true
	kernel=$(ls "$W/core" "$W/core.$LC_TARGET_PID" 2>/dev/null | head -n 1)
	[ -n "$kernel" ] || skip "needs: the kernel to write a core here (none appeared in $W)"
	segments "$kernel" >"$W/kernel.segments"
	[ "$(wc -l <"$W/kernel.segments")" -gt 10 ]
	diff "$W/kernel.segments" <(segments "$W/ours.stream")
	diff "$W/kernel.segments" <(segments "$W/ours.inplace")
}

@test "lc-elfwrite: eu-readelf and readelf accept the core; notes are the notes file's" {
	target
	pipeline
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	run -0 --separate-stderr eu-readelf -h -l -n "$W/core"
	[ -z "$stderr" ]
	assert_output --partial "CORE (Core file)"
	[ "$(grep -c 'PRSTATUS' <<<"$output")" -eq 3 ]
	run -0 --separate-stderr readelf -a "$W/core"
	[ -z "$stderr" ]
	# one PT_LOAD per record of the manifest, with its flags, sizes and address
	records=$(awk 'NR > 1 && !/^#/ && !/^end /' "$W/m.txt" | wc -l)
	[ "$(readelf -lW "$W/core" | grep -c '^  LOAD')" -eq "$records" ]
	awk 'NR > 1 && !/^#/ && !/^end / { split($1, r, "-"); print r[1], $2, $7 }' "$W/m.txt" |
		while read -r start perms size; do
			f=${perms:0:1}${perms:1:1}${perms:2:1}
			f=${f//-/}
			f=${f//x/E}
			printf '%x %x %s\n' $((0x$start)) "$size" "${f^^}"
		done >"$W/want"
	readelf -lW "$W/core" | awk '$1 == "LOAD" { f = ""; for (i = 7; i < NF; i++) f = f $i; print $3, $5, f }' |
		while read -r vaddr filesz f; do
			printf '%x %x %s\n' $((vaddr)) $((filesz)) "$f"
		done >"$W/got"
	diff "$W/want" "$W/got"
	# the PT_NOTE segment holds the notes file's PT_NOTE, byte for byte
	read -r off size < <(readelf -lW "$W/core" | awk '$1 == "NOTE" { print $2, $5 }')
	read -r noff nsize < <(readelf -lW "$W/N" | awk '$1 == "NOTE" { print $2, $5 }')
	off=$((off)) size=$((size)) noff=$((noff)) nsize=$((nsize))
	[ "$size" -gt 0 ] && [ "$size" -eq "$nsize" ]
	cmp <(tail -c +$((off + 1)) "$W/core" | head -c "$size") <(tail -c +$((noff + 1)) "$W/N" | head -c "$nsize")
}

@test "lc-elfwrite: -o - through zstd and back is byte-identical to the file output" {
	command -v zstd >/dev/null || skip "needs: zstd"
	target
	pipeline
	run -0 lc-elfwrite -q -c -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[ -e "$W/S" ]
	lc-elfwrite -q -s "$W/S" -n "$W/N" -o - <"$W/m.txt" | zstd -q -c >"$W/core.zst"
	zstd -q -d -c "$W/core.zst" >"$W/core.back"
	cmp "$W/core" "$W/core.back"
	assert_backtraces "$W/core.back"
	# and standard output redirected to a file is the same file, sparse or not
	lc-elfwrite -q -s "$W/S" -n "$W/N" <"$W/m.txt" >"$W/core.stdout"
	cmp "$W/core" "$W/core.stdout"
}

@test "lc-elfwrite: unpopulated memory stays holes: a 1 GiB sparse mapping costs no disk" {
	target --sparse-gib 1
	pipeline
	run -0 lc-elfwrite -q -c -s "$W/S" -n "$W/N" -o "$W/core.stream" <"$W/m.txt"
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core.inplace" <"$W/m.txt"
	for c in core.stream core.inplace; do
		size=$(stat -c %s "$W/$c")
		used=$(($(stat -c %b "$W/$c") * $(stat -c %B "$W/$c")))
		[ "$size" -gt $((1 << 30)) ]
		[ "$used" -lt $((64 << 20)) ]
	done
	# a touched page of the sparse mapping reads back, an untouched one is zero
	addr=$(lc_info sparse.addr)
	first=$(lc_info sparse.touched | cut -d, -f1)
	run -0 gdb_core "$W/core.stream" "x/2gx $first" "x/2gx $addr + 4096 * 3"
	assert_line --regexp "^$first:[[:space:]]+$(printf '0x%016x' "$first")[[:space:]]+0x0000000000000001$"
	assert_line --regexp ":[[:space:]]+0x0000000000000000[[:space:]]+0x0000000000000000$"
}

@test "lc-elfwrite: scattered extents: in place moves only those VMAs together" {
	target
	handmade -x
	run -0 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"VMAs moved together"* ]]
	assert_backtraces "$W/core"
	assert_pattern_matches_live "$W/core"
	assert_registers_match "$W/core" "$W/gcore.core"
	run -0 eu-stack --core "$W/core" -e "$LC_TARGET"
	assert_output --partial "$(lc_info thread.1.func)"
}

@test "lc-elfwrite: handmade inputs (gcore notes): the core reads like gcore's" {
	target
	handmade -r
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	assert_backtraces "$W/core"
	assert_pattern_matches_live "$W/core"
	assert_registers_match "$W/core" "$W/gcore.core"
}

@test "lc-elfwrite: an address no extent covers reads as zeros, in place and stream" {
	target
	handmade -g
	addr=$(lc_info pattern.addr)
	run -0 lc-elfwrite -q -c -s "$W/S" -n "$W/N" -o "$W/core.stream" <"$W/m.txt"
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core.inplace" <"$W/m.txt"
	for c in core.stream core.inplace; do
		run -0 gdb_core "$W/$c" "x/2gx $addr" "x/2gx $addr + 4096"
		assert_line --regexp "^$addr:[[:space:]]+0x0000000000000000[[:space:]]+0x0000000000000000$"
		assert_line --regexp "^$(printf '0x%x' $((addr + 4096))):[[:space:]]+$(printf '0x%016x' $((addr + 4096)))[[:space:]]+0x0000000000000001$"
	done
}

@test "lc-elfwrite: bytes staged for a VMA that ends up skipped do not stay in the core" {
	target
	handmade
	addr=$(lc_info pattern.addr)
	# the pattern VMA was staged, then (say) MADV_DONTDUMP before the stop
	sed "/^${addr#0x}-/ s/ dump [0-9]* / skip:dontdump 0 /" "$W/m.txt" >"$W/m2.txt"
	! cmp -s "$W/m.txt" "$W/m2.txt"
	off=$(awk -v a="${addr#0x}" 'index($1, a "-") == 1 { split($9, x, "@"); print x[2] }' "$W/m2.txt")
	"$LC_PAGECHECK" "$W/S" "0x$off" "$addr" 512 # staged, before
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m2.txt"
	run -1 "$LC_PAGECHECK" "$W/core" "0x$off" "$addr" 512
	assert_line "good 0 bad 512"
	cmp -n $((512 * 4096)) <(tail -c +$((0x$off + 1)) "$W/core") /dev/zero
	# gdb reads a PT_LOAD of file size 0 as zeros
	run -0 gdb_core "$W/core" "x/2gx $addr"
	assert_line --regexp "^$addr:[[:space:]]+0x0000000000000000[[:space:]]+0x0000000000000000$"
}

@test "lc-elfwrite: 70000 segments use PN_XNUM and still read in gdb and eu-readelf" {
	target
	pipeline
	# 70000 skipped VMAs above the target's own (past the user address
	# space), below the vsyscall page
	for ((i = 0; i < 70000; i++)); do
		printf '%x-%x ---p 00000000 00:00 0 skip:filter 0 - - - \n' \
			$((0x800000000000 + i * 8192)) $((0x800000001000 + i * 8192))
	done >"$W/fake"
	awk -v fake="$W/fake" '
		/^ffffffffff600000-/ { vs = $0; next }
		/^end / { while ((getline l < fake) > 0) print l; if (vs != "") print vs; print "end", $2 + 70000; next }
		{ print }' "$W/m.txt" >"$W/m.big"
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.big"
	records=$(awk 'NR > 1 && !/^#/ && !/^end /' "$W/m.big" | wc -l)
	run -0 eu-readelf -h "$W/core"
	assert_output --regexp "Number of program headers entries: +65535 \\($((records + 1)) in \\[0\\]\\.sh_info\\)"
	assert_backtraces "$W/core"
	assert_pattern_matches_live "$W/core"
}

# bats test_tags=vm:arm64
@test "lc-elfwrite: truncated staging file: exit 5, clear error, no OUT" {
	target
	pipeline
	truncate -s 2000 "$W/S"
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"bad staging file $W/S: truncated"* ]]
	no_file "$W" core
}

@test "lc-elfwrite: a staging or notes file behind a symlink is not followed: exit 5, no OUT" {
	target
	pipeline
	ln -s S "$W/S.link"
	ln -s N "$W/N.link"
	run -5 --separate-stderr lc-elfwrite -s "$W/S.link" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"cannot open the staging file $W/S.link"* ]]
	no_file "$W" core
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N.link" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"cannot open the notes file $W/N.link"* ]]
	no_file "$W" core
	[ -e "$W/S" ]
}

@test "lc-elfwrite: staging file cut inside its data: exit 5, extent past the end, no OUT" {
	target
	pipeline
	truncate -s $(($(stat -c %s "$W/S") - 8192)) "$W/S"
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"lies past the end of the staging file"* ]]
	no_file "$W" core
	run -5 --separate-stderr lc-elfwrite -c -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	no_file "$W" core
}

@test "lc-elfwrite: a manifest extent pointing past the staging file: exit 5, no OUT" {
	target
	pipeline
	# the first staged extent moved past the end of the staging file
	# (the first extent's offset gets 4000 in front: terabytes further)
	sed -E '0,/^[0-9a-f]+-[0-9a-f]+ .*@/ s/@([0-9a-f]+)/@4000\1/' "$W/m.txt" >"$W/m2.txt"
	! cmp -s "$W/m.txt" "$W/m2.txt"
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m2.txt"
	[[ $stderr == *"lies past the end of the staging file"* ]]
	no_file "$W" core
	[ -e "$W/S" ]
}

@test "lc-elfwrite: a notes file that is not ELF: exit 5, no OUT; nor a hostile one" {
	target
	pipeline
	echo "not an ELF file" >"$W/N.bad"
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N.bad" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"bad notes file $W/N.bad: not an ELF file"* ]]
	no_file "$W" core
	# the first note's descsz (at 120 + 4) made huge
	cp "$W/N" "$W/N.bad"
	printf '\377\377\377\177' | dd of="$W/N.bad" bs=1 seek=124 conv=notrunc status=none
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N.bad" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"runs past the PT_NOTE segment"* ]]
	no_file "$W" core
	# the PT_NOTE's file size (program header at 64, p_filesz at +32) past the file
	cp "$W/N" "$W/N.bad"
	printf '\377\377\377\177' | dd of="$W/N.bad" bs=1 seek=$((64 + 32)) conv=notrunc status=none
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N.bad" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"outside the file"* ]]
	no_file "$W" core
}

@test "lc-elfwrite: a manifest without the freeze header or the end line: exit 5" {
	target
	pipeline
	grep -v '^# freeze ' "$W/m.txt" >"$W/m2.txt"
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m2.txt"
	[[ $stderr == *'no "# freeze" header'* ]]
	no_file "$W" core
	head -n -1 "$W/m.txt" >"$W/m2.txt"
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m2.txt"
	[[ $stderr == *"bad manifest"* ]]
	no_file "$W" core
	# a manifest of another process (pid and starttime in the staging header)
	sed 's/^# starttime .*/# starttime 1/' "$W/m.txt" >"$W/m2.txt"
	run -5 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m2.txt"
	[[ $stderr == *"staged from process"* ]]
	no_file "$W" core
	[ -e "$W/S" ]
}

@test "lc-elfwrite: OUT in an unwritable directory: exit 1, nothing there, staging file intact" {
	command -v chattr >/dev/null || skip "needs: chattr"
	target
	pipeline
	mkdir "$W/ro"
	chattr +i "$W/ro" 2>/dev/null || skip "needs: chattr +i on $W (an immutable directory)"
	cp --sparse=always "$W/S" "$W/S.before"
	run -1 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/ro/core" <"$W/m.txt"
	[[ $stderr == *"cannot create $W/ro/core"* ]]
	run -1 --separate-stderr lc-elfwrite -c -s "$W/S" -n "$W/N" -o "$W/ro/core" <"$W/m.txt"
	[[ $stderr == *"cannot create $W/ro/core"* ]]
	chattr -i "$W/ro"
	[ -z "$(ls -A "$W/ro")" ]
	cmp "$W/S" "$W/S.before"
}

@test "lc-elfwrite: in place failing at the rename restores the staging file (exit 1)" {
	target
	pipeline
	cp --sparse=always "$W/S" "$W/S.before"
	# -f skips the existence check; renaming a file over a non-empty directory fails
	mkdir -p "$W/core/x"
	run -1 --separate-stderr lc-elfwrite -f -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"cannot rename the core"* ]]
	[[ $stderr == *"left as it was"* ]]
	[ -d "$W/core/x" ]
	cmp "$W/S" "$W/S.before"
	# and it still makes a good core
	run -0 lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core2" <"$W/m.txt"
	assert_backtraces "$W/core2"
}

@test "lc-elfwrite: an existing OUT is kept without -f (exit 7), replaced with -f" {
	target
	pipeline
	cp --sparse=always "$W/S" "$W/S.copy"
	echo precious >"$W/core"
	run -7 --separate-stderr lc-elfwrite -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"$W/core exists (use -f to replace it)"* ]]
	[ "$(cat "$W/core")" = precious ]
	run -7 --separate-stderr lc-elfwrite -c -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[ "$(cat "$W/core")" = precious ]
	! compgen -G "$W/.core.*"
	run -0 lc-elfwrite -q -f -c -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	assert_backtraces "$W/core"
	echo precious >"$W/core"
	run -0 lc-elfwrite -q -f -s "$W/S.copy" -n "$W/N" -o "$W/core" <"$W/m.txt"
	assert_backtraces "$W/core"
	[ ! -e "$W/S.copy" ]
}

# bats test_tags=vm:arm64
@test "lc-elfwrite: the output is 0600 whatever the umask" {
	target
	pipeline
	cp --sparse=always "$W/S" "$W/S.copy"
	(umask 0 && lc-elfwrite -q -c -s "$W/S" -n "$W/N" -o "$W/core.stream" <"$W/m.txt")
	(umask 0 && lc-elfwrite -q -s "$W/S.copy" -n "$W/N" -o "$W/core.inplace" <"$W/m.txt")
	[ "$(stat -c %a "$W/core.stream")" = 600 ]
	[ "$(stat -c %a "$W/core.inplace")" = 600 ]
}

@test "lc-elfwrite: holds no capability (LIVECORE_DEBUG_PRIVILEGES) and cannot open files after setup" {
	target
	pipeline
	run -0 --separate-stderr env LIVECORE_DEBUG_PRIVILEGES=1 LIVECORE_DEBUG_SECCOMP=1 \
		lc-elfwrite -q -s "$W/S" -n "$W/N" -o "$W/core" <"$W/m.txt"
	[[ $stderr == *"privileges after setup: "* ]]
	[[ $stderr == *"CapEff=0000000000000000"* ]]
	[[ $stderr == *"CapPrm=0000000000000000"* ]]
	[[ $stderr == *"NoNewPrivs=1"* ]]
	[[ $stderr == *"seccomp: mode 2 in force"* ]]
	[[ $stderr == *"seccomp: open after setup refused: Operation not permitted"* ]]
	assert_backtraces "$W/core"
}

@test "lc-elfwrite: a reader that goes away: exit 1 with a clear error, not a silent death" {
	target
	pipeline
	run -1 --separate-stderr bash -c 'lc-elfwrite -q -s "$1" -n "$2" -o - <"$3" | head -c 100 >/dev/null; exit ${PIPESTATUS[0]}' \
		_ "$W/S" "$W/N" "$W/m.txt"
	[[ $stderr == *"Broken pipe"* ]]
}

@test "lc-elfwrite: standard output on a terminal is refused (exit 2)" {
	command -v script >/dev/null || skip "needs: script (util-linux)"
	run -0 script -qec "lc-elfwrite -s /nonexistent -n /nonexistent; echo status=\$?" /dev/null
	assert_output --partial "standard output is a terminal"
	assert_output --partial "status=2"
}
