#!/usr/bin/env bats
# lc-maps: discovery. The manifest must agree with /proc/PID/maps, decide
# every VMA as the kernel's coredump code would (checked against a core the
# kernel itself wrote), and fail with the documented exit statuses.

bats_require_minimum_version 1.8.0

setup() {
	load helpers
}

teardown() {
	lc_cleanup_targets
}

# every special region lc-target can make
all_regions() {
	lc_start_target --threads 2 --pattern-mib 2 --dontdump --shared --memfd \
		--file-private "$BATS_TEST_TMPDIR/private.dat" \
		--file-shared "$BATS_TEST_TMPDIR/shared.dat" \
		--file-clean "$BATS_TEST_TMPDIR/clean.dat" \
		--guard --sparse-gib 2 "$@"
	# the filter these tests call "the default": set it, whatever the
	# test runner's own was (children inherit it)
	echo 0x33 >"/proc/$LC_TARGET_PID/coredump_filter"
}

# manifest_records FILE - the record lines only (no format, header or end line)
manifest_records() {
	awk 'NR > 1 && !/^#/ && !/^end /' "$1"
}

# decision FILE ADDR - "DECISION DUMPSIZE" of the record starting at ADDR
# (0x-hex, as in the info file). Fails when there is no such record.
decision() {
	awk -v a="${2#0x}" 'index($1, a "-") == 1 { print $6, $7; found = 1 } END { exit !found }' "$1" || {
		echo "no record starts at $2 in $1" >&2
		return 1
	}
}

# record_size FILE ADDR - end - start of the record starting at ADDR, decimal
record_size() {
	local range
	range=$(awk -v a="${2#0x}" 'index($1, a "-") == 1 { print $1 }' "$1")
	[ -n "$range" ] || return 1
	echo $((16#${range#*-} - 16#${range%-*}))
}

# first_record FILE PATH-SUFFIX - the start address (0x) of the first record
# whose path ends with the given text
first_record() {
	awk -v p="$2" 'NR > 1 && !/^#/ && !/^end / {
		n = length($0) - length(p) + 1
		if (n > 0 && substr($0, n) == p) { split($1, r, "-"); print "0x" r[1]; exit }
	}' "$1"
}

# assert_decision FILE ADDR DECISION SIZE
assert_decision() {
	run -0 decision "$1" "$2"
	assert_output "$3 $4"
}

# ---- the records agree with /proc/PID/maps ------------------------------

# bats test_tags=vm:arm64
@test "lc-maps: one record per maps line, same range, perms, offset, dev, inode and path" {
	all_regions --tls
	lc_stop_target "$LC_TARGET_PID"
	run -0 lc-maps -o "$BATS_TEST_TMPDIR/m" "$LC_TARGET_PID"
	cp "/proc/$LC_TARGET_PID/maps" "$BATS_TEST_TMPDIR/maps"

	# maps: "START-END PERMS OFFSET DEV INODE   PATH" (padded);
	# manifest: the same five, five tool fields, then the path
	awk '{ line = $0; for (i = 0; i < 5; i++) sub(/^[^ ]+ +/, "", line)
		print $1, $2, $3, $4, $5, "[" line "]" }' "$BATS_TEST_TMPDIR/maps" >"$BATS_TEST_TMPDIR/want"
	manifest_records "$BATS_TEST_TMPDIR/m" |
		awk '{ line = $0; for (i = 0; i < 10; i++) sub(/^[^ ]* /, "", line)
			print $1, $2, $3, $4, $5, "[" line "]" }' >"$BATS_TEST_TMPDIR/got"
	run -0 diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	# and the comparison saw the target's own regions, paths and all
	run -0 grep -c . "$BATS_TEST_TMPDIR/got"
	[ "$output" -gt 20 ]
	run -0 grep -F " [$BATS_TEST_TMPDIR/private.dat]" "$BATS_TEST_TMPDIR/got"
	run -0 grep -F " [/dev/zero (deleted)]" "$BATS_TEST_TMPDIR/got"
	run -0 grep -F " [[vdso]]" "$BATS_TEST_TMPDIR/got"
	run -0 grep -F " []" "$BATS_TEST_TMPDIR/got"
	# the end line counts the records
	run -0 tail -n 1 "$BATS_TEST_TMPDIR/m"
	assert_output "end $(wc -l <"$BATS_TEST_TMPDIR/maps")"
}

# bats test_tags=vm:arm64,vm:arm64-16k
@test "lc-maps: headers name the target, its starttime (stat field 22), page size, filter and exe" {
	all_regions
	run -0 lc-maps "$LC_TARGET_PID"
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/m"
	run -0 head -n 1 "$BATS_TEST_TMPDIR/m"
	assert_output "livecore-manifest 2"
	run -0 grep -x "# pid $LC_TARGET_PID" "$BATS_TEST_TMPDIR/m"
	run -0 grep -x "# starttime $(lc_proc_field "$LC_TARGET_PID" 22)" "$BATS_TEST_TMPDIR/m"
	run -0 grep -x "# page-size $(getconf PAGESIZE)" "$BATS_TEST_TMPDIR/m"
	run -0 grep -x "# coredump-filter 0x33" "$BATS_TEST_TMPDIR/m"
	run -0 grep -x "# filter-source target" "$BATS_TEST_TMPDIR/m"
	run -0 grep -x "# exe $(lc_info exe)" "$BATS_TEST_TMPDIR/m"
	[ "$(lc_info exe)" -ef "$LC_TARGET" ]
	# the target's own filter is the one read, not a constant
	echo 0x7 >"/proc/$LC_TARGET_PID/coredump_filter"
	run -0 lc-maps "$LC_TARGET_PID"
	assert_line "# coredump-filter 0x7"
}

@test "lc-maps: the starttime header is each target's own (a reused pid is told apart)" {
	local a b sa sb
	lc_start_target
	a=$LC_TARGET_PID
	sleep 0.05 # starttime counts clock ticks (usually 10 ms)
	lc_start_target
	b=$LC_TARGET_PID
	sa=$(lc_proc_field "$a" 22)
	sb=$(lc_proc_field "$b" 22)
	[ "$sa" -lt "$sb" ]
	run -0 lc-maps "$a"
	assert_line "# starttime $sa"
	run -0 lc-maps "$b"
	assert_line "# starttime $sb"
}

# ---- decisions ------------------------------------------------------------

@test "lc-maps: decisions for the target's filter 0x33" {
	all_regions
	local m=$BATS_TEST_TMPDIR/m exe_start
	run -0 lc-maps -o "$m" "$LC_TARGET_PID"

	assert_decision "$m" "$(lc_info pattern.addr)" dump $(($(lc_info pattern.size)))
	assert_decision "$m" "$(lc_info dontdump.addr)" skip:dontdump 0
	# MAP_SHARED|MAP_ANONYMOUS is "/dev/zero (deleted)": anonymous shared, bit 1
	assert_decision "$m" "$(lc_info shared.addr)" dump $(($(lc_info shared.size)))
	# a memfd has no link either: anonymous shared
	assert_decision "$m" "$(lc_info memfd.addr)" dump $(($(lc_info memfd.size)))
	# a written private file mapping has an anon_vma: dumped whole, the
	# pages still read from the file included
	assert_decision "$m" "$(lc_info fileprivate.addr)" dump $(($(lc_info fileprivate.size)))
	assert_decision "$m" "$(lc_info fileshared.addr)" skip:filter 0
	# neither ELF nor executable: no header page
	assert_decision "$m" "$(lc_info fileclean.addr)" skip:filter 0
	assert_decision "$m" "$(lc_info guard.addr)" skip:unwritten 0
	# a few pages touched in 2 GiB: the whole VMA, holes and all
	assert_decision "$m" "$(lc_info sparse.addr)" dump $((2 << 30))
	run -0 record_size "$m" "$(lc_info sparse.addr)"
	assert_output $((2 << 30))
	# special mappings are always dumped whole
	assert_decision "$m" "$(first_record "$m" " [vdso]")" dump "$(record_size "$m" "$(first_record "$m" " [vdso]")")"
	assert_decision "$m" "$(first_record "$m" " [vvar]")" dump "$(record_size "$m" "$(first_record "$m" " [vvar]")")"
	# the executable's first mapping: the ELF header page only (bit 4)
	exe_start=$(first_record "$m" " $(lc_info exe)")
	[ -n "$exe_start" ]
	assert_decision "$m" "$exe_start" dump 4096
	# and its text is not in the core
	run -0 awk -v p="$(lc_info exe)" '$2 == "r-xp" && substr($0, length($0) - length(p) + 1) == p { print $6, $7 }' "$m"
	assert_output "skip:filter 0"
}

@test "lc-maps: -f 0x3f adds file mappings, private and shared, whole" {
	all_regions
	local m=$BATS_TEST_TMPDIR/m exe_start
	run -0 lc-maps -f 0x3f -o "$m" "$LC_TARGET_PID"
	run -0 grep -x "# coredump-filter 0x3f" "$m"
	run -0 grep -x "# filter-source option" "$m"

	assert_decision "$m" "$(lc_info pattern.addr)" dump $(($(lc_info pattern.size)))
	assert_decision "$m" "$(lc_info dontdump.addr)" skip:dontdump 0
	assert_decision "$m" "$(lc_info shared.addr)" dump $(($(lc_info shared.size)))
	assert_decision "$m" "$(lc_info fileprivate.addr)" dump $(($(lc_info fileprivate.size)))
	assert_decision "$m" "$(lc_info fileshared.addr)" dump $(($(lc_info fileshared.size)))
	assert_decision "$m" "$(lc_info fileclean.addr)" dump $(($(lc_info fileclean.size)))
	# anonymous and never written: no bit brings it in
	assert_decision "$m" "$(lc_info guard.addr)" skip:unwritten 0
	assert_decision "$m" "$(lc_info sparse.addr)" dump $((2 << 30))
	exe_start=$(first_record "$m" " $(lc_info exe)")
	assert_decision "$m" "$exe_start" dump "$(record_size "$m" "$exe_start")"
	run -0 awk -v p="$(lc_info exe)" '$2 == "r-xp" && substr($0, length($0) - length(p) + 1) == p { print $6 }' "$m"
	assert_output dump
}

@test "lc-maps: -f 0x31 leaves anonymous shared memory out, -f 0x1 the ELF header page" {
	all_regions
	local m=$BATS_TEST_TMPDIR/m
	run -0 lc-maps -f 0x31 -o "$m" "$LC_TARGET_PID"
	assert_decision "$m" "$(lc_info shared.addr)" skip:filter 0
	assert_decision "$m" "$(lc_info memfd.addr)" skip:filter 0
	assert_decision "$m" "$(lc_info pattern.addr)" dump $(($(lc_info pattern.size)))

	run -0 lc-maps -f 1 -o "$m" "$LC_TARGET_PID"
	assert_decision "$m" "$(first_record "$m" " $(lc_info exe)")" skip:filter 0
	assert_decision "$m" "$(lc_info fileprivate.addr)" dump $(($(lc_info fileprivate.size)))
	# the vdso does not depend on the filter
	assert_decision "$m" "$(first_record "$m" " [vdso]")" dump "$(record_size "$m" "$(first_record "$m" " [vdso]")")"

	run -0 lc-maps -f 0 -o "$m" "$LC_TARGET_PID"
	assert_decision "$m" "$(lc_info pattern.addr)" skip:filter 0
}

@test "lc-maps: -f all dumps every readable mapping, MADV_DONTDUMP too, never a PROT_NONE one" {
	all_regions
	local m=$BATS_TEST_TMPDIR/m exe_start
	run -0 lc-maps -f all -o "$m" "$LC_TARGET_PID"
	run -0 grep -x "# filter-source all" "$m"

	assert_decision "$m" "$(lc_info dontdump.addr)" dump $(($(lc_info dontdump.size)))
	assert_decision "$m" "$(lc_info fileshared.addr)" dump $(($(lc_info fileshared.size)))
	assert_decision "$m" "$(lc_info fileclean.addr)" dump $(($(lc_info fileclean.size)))
	assert_decision "$m" "$(lc_info guard.addr)" skip:unreadable 0
	assert_decision "$m" "$(lc_info sparse.addr)" dump $((2 << 30))
	assert_decision "$m" "$(first_record "$m" " [vvar]")" dump "$(record_size "$m" "$(first_record "$m" " [vvar]")")"
	exe_start=$(first_record "$m" " $(lc_info exe)")
	assert_decision "$m" "$exe_start" dump "$(record_size "$m" "$exe_start")"
	# every record is either dumped whole or unreadable
	run -0 awk 'NR > 1 && !/^#/ && !/^end / && !($6 == "dump" || ($6 == "skip:unreadable" && $2 ~ /^-/)) { print }' "$m"
	assert_output ""
}

@test "lc-maps: bad filters are usage errors" {
	run -2 lc-maps -f 0x200 1
	assert_output --partial 'bad filter "0x200"'
	run -2 lc-maps -f -1 1
	assert_output --partial 'bad filter'
	run -2 lc-maps -f zz 1
	assert_output --partial 'bad filter "zz"'
}

# ---- against a core the kernel wrote ------------------------------------

@test "lc-maps: every PT_LOAD of a kernel-made core matches a record (vaddr, memsz, filesz)" {
	lc_core_pattern_is_plain || skip "needs: core_pattern=core"
	command -v readelf >/dev/null || skip "needs: readelf"
	local dir=$BATS_TEST_TMPDIR/kernel m=$BATS_TEST_TMPDIR/m core
	mkdir "$dir"
	cd "$dir"
	ulimit -c unlimited
	all_regions --tls
	lc_stop_target "$LC_TARGET_PID"
	run -0 lc-maps -o "$m" "$LC_TARGET_PID"
	# the kernel dumps the same stopped process: its maps cannot have moved
	kill -ABRT "$LC_TARGET_PID"
	kill -CONT "$LC_TARGET_PID"
	local rc=0
	wait "$LC_TARGET_PID" || rc=$?
	[ "$rc" -eq $((128 + 6)) ]
	core=$(ls "$dir"/core* 2>/dev/null | head -n 1)
	[ -n "$core" ] || skip "needs: core_pattern=core (the kernel wrote no core, ulimit -c?)"

	# readelf: "LOAD OFFSET VADDR PADDR FILESZ MEMSZ FLAGS ALIGN", 0x-hex
	readelf -lW "$core" | awk '$1 == "LOAD" { print $3, $6, $5 }' |
		while read -r vaddr memsz filesz; do
			vaddr=${vaddr#0x}
			while [[ $vaddr == 0* ]]; do vaddr=${vaddr#0}; done
			printf '%s %d %d\n' "$vaddr" "$memsz" "$filesz"
		done >"$BATS_TEST_TMPDIR/kernel.loads"
	manifest_records "$m" | while read -r range _ _ _ _ _ size _; do
		printf '%s %d %d\n' "${range%-*}" $((16#${range#*-} - 16#${range%-*})) "$size"
	done >"$BATS_TEST_TMPDIR/lc-maps.loads"
	run -0 diff -u "$BATS_TEST_TMPDIR/kernel.loads" "$BATS_TEST_TMPDIR/lc-maps.loads"
	# the comparison covered the interesting cases
	run -0 grep -c . "$BATS_TEST_TMPDIR/kernel.loads"
	[ "$output" -gt 20 ]
	run -0 grep -c " 0$" "$BATS_TEST_TMPDIR/kernel.loads"
	[ "$output" -gt 3 ]
	local sparse
	sparse=$(lc_info sparse.addr)
	run -0 grep -x "${sparse#0x} $((2 << 30)) $((2 << 30))" "$BATS_TEST_TMPDIR/kernel.loads"
}

# ---- errors -----------------------------------------------------------------

@test "lc-maps: a pid that does not exist exits 3" {
	local pid
	sleep 0 &
	pid=$!
	wait "$pid"
	[ ! -e "/proc/$pid" ] || skip "pid $pid was reused at once"
	run -3 --separate-stderr lc-maps "$pid"
	assert_output ""
	[[ $stderr == "lc-maps: no process $pid" ]]
}

@test "lc-maps: a zombie exits 3" {
	local parent zombie
	# sh forks a child that exits, then becomes sleep, which never reaps it
	sh -c 'sleep 0 & exec sleep 1000' 3>&- &
	parent=$!
	LC_TARGET_PIDS+=("$parent")
	for ((i = 0; i < 500; i++)); do
		zombie=$(cat "/proc/$parent/task/$parent/children" 2>/dev/null)
		zombie=${zombie% }
		[ -n "$zombie" ] && [ "$(lc_proc_state "$zombie")" = Z ] && break
		sleep 0.01
	done
	[ "$(lc_proc_state "$zombie")" = Z ]
	run -3 --separate-stderr lc-maps "$zombie"
	assert_output ""
	[[ $stderr == "lc-maps: process $zombie is a zombie"* ]]
}

@test "lc-maps: a kernel thread exits 3" {
	local pid= p flags
	# kthreadd is pid 2 outside a pid namespace; otherwise look for any
	for p in 2 /proc/[0-9]*; do
		p=${p#/proc/}
		flags=$(lc_proc_field "$p" 9 2>/dev/null) || continue
		if (((flags & 0x00200000) != 0)); then
			pid=$p
			break
		fi
	done
	[ -n "$pid" ] || skip "needs: a visible kernel thread"
	run -3 --separate-stderr lc-maps "$pid"
	assert_output ""
	[[ $stderr == "lc-maps: process $pid is a kernel thread"* ]]
}

@test "lc-maps: a pid given as garbage exits 2" {
	local bad
	for bad in abc 12x -5 0 " 1" 1.0 99999999 ""; do
		run -2 --separate-stderr lc-maps -- "$bad"
		assert_output ""
		[[ $stderr == "lc-maps: bad pid \"$bad\""* ]]
	done
	run -2 lc-maps
	assert_output --partial "usage: lc-maps"
	run -2 lc-maps 1 2
	assert_output --partial "usage: lc-maps"
	run -2 --separate-stderr lc-maps -5
	[[ $stderr == "lc-maps: unknown option -5"* ]]
	run -2 --separate-stderr lc-maps -o
	[[ $stderr == "lc-maps: option -o needs an argument"* ]]
}

@test "lc-maps: -o into a directory that does not exist exits 1 and leaves nothing" {
	all_regions
	run -1 --separate-stderr lc-maps -o "$BATS_TEST_TMPDIR/nowhere/m" "$LC_TARGET_PID"
	assert_output ""
	[[ $stderr == "lc-maps: cannot create $BATS_TEST_TMPDIR/nowhere/m: No such file or directory" ]]
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

@test "lc-maps: -o naming a directory exits 1, leaves the directory alone and no temporary file" {
	all_regions
	local dir=$BATS_TEST_TMPDIR/out
	mkdir "$dir"
	touch "$dir/keep"
	run -1 --separate-stderr lc-maps -o "$dir" "$LC_TARGET_PID"
	assert_output ""
	[[ $stderr == "lc-maps: cannot create $dir: Is a directory" ]]
	[ -d "$dir" ] && [ -e "$dir/keep" ]
	run -0 ls -A "$BATS_TEST_TMPDIR"
	refute_output --partial ".out."
}

@test "lc-maps: -o writes the manifest 0600, the same as stdout" {
	all_regions
	lc_stop_target "$LC_TARGET_PID"
	run -0 lc-maps -o "$BATS_TEST_TMPDIR/m" "$LC_TARGET_PID"
	assert_output ""
	run -0 stat -c %a "$BATS_TEST_TMPDIR/m"
	assert_output 600
	lc-maps "$LC_TARGET_PID" >"$BATS_TEST_TMPDIR/stdout"
	run -0 cmp "$BATS_TEST_TMPDIR/m" "$BATS_TEST_TMPDIR/stdout"
}

# ---- privileges -------------------------------------------------------------

# bats test_tags=vm:arm64
@test "lc-maps: holds no capability after setup, with no_new_privs (LIVECORE_DEBUG_PRIVILEGES)" {
	all_regions
	run -0 --separate-stderr env LIVECORE_DEBUG_PRIVILEGES=1 lc-maps "$LC_TARGET_PID"
	[[ $stderr == *"privileges after setup: "* ]]
	[[ $stderr == *"CapEff=0000000000000000"* ]]
	[[ $stderr == *"CapPrm=0000000000000000"* ]]
	[[ $stderr == *"NoNewPrivs=1"* ]]
	# and the manifest is still complete
	assert_line --index 0 "livecore-manifest 2"
	[[ ${lines[-1]} == "end "* ]]
}

@test "lc-maps: as root, reads another user's process and still ends with nothing" {
	lc_require_root
	command -v setpriv >/dev/null || skip "needs: setpriv"
	local pid
	lc_start_nobody_process
	pid=$LC_NOBODY_PID
	run -0 stat -c %u "/proc/$pid"
	assert_output 65534
	run -0 --separate-stderr env LIVECORE_DEBUG_PRIVILEGES=1 lc-maps "$pid"
	assert_line "# pid $pid"
	assert_line --partial " [stack]"
	[[ ${lines[-1]} == "end "* ]]
	[[ $stderr == *"CapEff=0000000000000000"* ]]
	[[ $stderr == *"CapPrm=0000000000000000"* ]]
	[[ $stderr == *"NoNewPrivs=1"* ]]
}

# ---- the manifest reader ------------------------------------------------------

manifest_check() {
	"$LIVECORE_BUILD/targets/lc-manifest-check" "$@"
}

# a real manifest to damage
real_manifest() {
	all_regions
	lc_stop_target "$LC_TARGET_PID"
	lc-maps -o "$BATS_TEST_TMPDIR/m" "$LC_TARGET_PID"
}

@test "manifest reader: reads lc-maps' manifest and writes it back identical" {
	real_manifest
	run -0 manifest_check <"$BATS_TEST_TMPDIR/m"
	assert_output "ok $(manifest_records "$BATS_TEST_TMPDIR/m" | wc -l) records"
	manifest_check -w <"$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/again"
	run -0 cmp "$BATS_TEST_TMPDIR/m" "$BATS_TEST_TMPDIR/again"
}

@test "manifest reader: a manifest without its end line is refused" {
	real_manifest
	head -n -1 "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/cut"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/cut"
	assert_output ""
	[[ $stderr == *"stdin: no end line: the manifest is incomplete"* ]]
	# cut inside a line: the last line has no newline
	head -c -3 "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/cut"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/cut"
	[[ $stderr == *"stdin:$(wc -l <"$BATS_TEST_TMPDIR/m"): last line has no newline (truncated)"* ]]
	# nothing at all (an earlier stage died before writing)
	run -5 --separate-stderr manifest_check </dev/null
	[[ $stderr == *"stdin: empty manifest"* ]]
}

@test "manifest reader: a malformed record is rejected with file:line" {
	real_manifest
	local n
	n=$(grep -n ' \[vdso\]$' "$BATS_TEST_TMPDIR/m" | cut -d: -f1)
	[ -n "$n" ]
	sed "${n}s/ r-xp / rxxp /" "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/bad"
	run -5 --separate-stderr manifest_check the-manifest <"$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"the-manifest:$n: bad permissions \"rxxp\""* ]]
	# a dump size larger than the VMA
	sed "${n}s/ dump [0-9]* / dump 999999999 /" "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/bad"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"stdin:$n: dump size 999999999 does not fit"* ]]
	# too few fields
	sed "${n}s/ .*//" "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/bad"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"stdin:$n: record has 1 fields, want at least 10"* ]]
	# records out of order
	awk -v n="$n" 'NR == n - 1 { held = $0; next } { print } NR == n { print held }' \
		"$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/bad"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"stdin:$n: record "*" overlaps or precedes the one before"* ]]
}

@test "manifest reader: an end line with the wrong count is rejected" {
	real_manifest
	local count
	count=$(manifest_records "$BATS_TEST_TMPDIR/m" | wc -l)
	sed "\$s/^end .*/end $((count + 1))/" "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/bad"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"stdin:$(wc -l <"$BATS_TEST_TMPDIR/m"): end line counts $((count + 1)) records, manifest has $count"* ]]
	# text after the end line
	{ cat "$BATS_TEST_TMPDIR/m"; echo "end $count"; } >"$BATS_TEST_TMPDIR/bad"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"text after the end line"* ]]
}

@test "manifest reader: unknown headers are kept, in place, through a round trip" {
	real_manifest
	sed '2i # frobnicate the future: 42 x' "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/more"
	run -0 manifest_check <"$BATS_TEST_TMPDIR/more"
	assert_output --regexp '^ok [0-9]+ records$'
	manifest_check -w <"$BATS_TEST_TMPDIR/more" >"$BATS_TEST_TMPDIR/again"
	run -0 cmp "$BATS_TEST_TMPDIR/more" "$BATS_TEST_TMPDIR/again"
	run -0 sed -n 2p "$BATS_TEST_TMPDIR/again"
	assert_output "# frobnicate the future: 42 x"
	# but a required header missing is an error
	grep -v '^# starttime ' "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/bad"
	run -5 --separate-stderr manifest_check <"$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"missing header (starttime)"* ]]
}

@test "with file capabilities (permitted set only) lc-maps refuses another user's target (4) and dumps the caller's own" {
	lc_require_root
	command -v setcap >/dev/null || skip "needs: setcap (libcap2-bin)"
	dir=$BATS_TEST_TMPDIR/caps
	mkdir "$dir"
	# nobody must reach the binary: open the path down to it
	lc_open_path "$dir"
	cp "$LIVECORE_BUILD/bin/lc-maps" "$dir/lc-maps"
	setcap cap_sys_ptrace,cap_dac_read_search=p "$dir/lc-maps" ||
		skip "needs: a filesystem with file capabilities under \$BATS_TEST_TMPDIR"
	lc_start_target   # runs as root
	run --separate-stderr -4 setpriv --reuid nobody --regid nogroup --clear-groups \
		"$dir/lc-maps" "$LC_TARGET_PID"
	assert_regex "$stderr" "process $LC_TARGET_PID belongs to uid 0: with file capabilities lc-maps dumps only the caller's own processes"
	assert_output ''
	# its own process: a manifest, and nothing held after setup
	run --separate-stderr -0 setpriv --reuid nobody --regid nogroup --clear-groups \
		sh -c 'sleep 30 & p=$!; i=0
			# until the child sleeps in sleep(1): not a process mid-execve
			while read -r _ c s _ <"/proc/$p/stat" && [ "$c $s" != "(sleep) S" ] && [ $i -lt 100000 ]; do i=$((i + 1)); done
			LIVECORE_DEBUG_PRIVILEGES=1 "$1" "$p"; rc=$?; kill "$p"; exit $rc' sh "$dir/lc-maps"
	assert_line --index 0 'livecore-manifest 2'
	assert_regex "$stderr" 'CapPrm=0000000000000000 CapEff=0000000000000000'
	assert_regex "$stderr" 'NoNewPrivs=1'
}

@test "lc-maps on a target that keeps changing its maps always writes a valid manifest (smaps read again)" {
	lc_start_target --churn --threads 2
	for i in $(seq 60); do
		lc-maps "$LC_TARGET_PID" >"$BATS_TEST_TMPDIR/m.$i" || {
			echo "lc-maps failed on round $i"
			false
		}
		run -0 "$LIVECORE_BUILD/targets/lc-manifest-check" <"$BATS_TEST_TMPDIR/m.$i"
		assert_output --regexp '^ok [0-9]+ records$'
	done
}
