#!/usr/bin/env bats
# Real readers on a core of the C target (tests/targets/lc-target.c): gdb
# (backtraces, registers, memory, thread-local storage through
# libthread_db), eu-stack, lldb, and a byte and register comparison with
# gdb's gcore of the same stopped target. The vdso test uses
# tests/targets/lc-vdsospin.c, whose thread lives inside [vdso].
#
# Cores come from livecore.sh; LC_READERS_DUMPER=gcore runs every assertion
# on gcore's cores instead, which checks the assertions themselves
# (tests/bats/readers.bash).

bats_require_minimum_version 1.8.0
bats_load_library bats-support
bats_load_library bats-assert

setup() {
	load helpers
	load readers
	readers_require_dumper
	LC_CORECMP="$LIVECORE_BUILD/targets/lc-corecmp"
	LC_VDSOSPIN="$LIVECORE_BUILD/targets/lc-vdsospin"
	# lldb keeps a module cache under $HOME
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
}

teardown() {
	lc_cleanup_targets
}

require_cmd() {
	command -v "$1" >/dev/null || skip "needs: $1"
}

# c_target_core [--stopped] - starts lc-target with 4 blocked threads, an 8
# MiB pattern region and thread-local values, and dumps it to $CORE. With
# --stopped, the target is stopped with SIGSTOP first (and stays stopped),
# so that a second dumper sees the very same registers and memory.
c_target_core() {
	lc_start_target --threads 4 --pattern-mib 8 --tls
	BIN=$(lc_info exe)
	CORE="$BATS_TEST_TMPDIR/target.core"
	if [ "${1:-}" = --stopped ]; then
		lc_stop_target "$LC_TARGET_PID"
	fi
	readers_dump "$LC_TARGET_PID" "$CORE"
	if [ "${1:-}" = --stopped ]; then
		[ "$(lc_proc_state "$LC_TARGET_PID")" = T ] ||
			fail "${LC_READERS_DUMPER:-livecore} resumed a target stopped with SIGSTOP"
	fi
}

# restart_rewound OURS THEIRS - THEIRS ("TID rip 0xRIP 0xRIP <FN+OFF>"
# lines of gdb's info registers), with a thread's line replaced by OURS's
# where its rip is exactly 2 below ours in the same function
restart_rewound() {
	local line tid ours

	while IFS= read -r line; do
		read -r tid _ <<<"$line"
		ours=$(grep -m1 "^$tid rip " <<<"$1")
		if [[ $line == "$tid rip "* && -n $ours ]] &&
			(($(awk '{ print $3 }' <<<"$ours") - $(awk '{ print $3 }' <<<"$line") == 2)) &&
			[ "$(sed 's/.*<\(.*\)+[0-9]*>$/\1/' <<<"$line")" = "$(sed 's/.*<\(.*\)+[0-9]*>$/\1/' <<<"$ours")" ]; then
			line=$ours
		fi
		printf '%s\n' "$line"
	done <<<"$2"
}

@test "gdb: thread apply all bt shows the function lc-target put each thread in" {
	require_cmd gdb
	c_target_core

	run -0 gdb_core "$BIN" "$CORE" 'info threads' 'thread apply all bt'
	# libthread_db recognised the threads (Thread 0x... (LWP n))
	assert_line --regexp '^Thread [0-9]+ \(Thread 0x[0-9a-f]+ \(LWP [0-9]+\)\):$'
	threads=$(grep -c '^Thread [0-9]* (.*LWP [0-9]*.*):$' <<<"$output")
	assert_equal "$threads" $(($(lc_info threads) + 1))
	frames=$(gdb_frames <<<"$output")
	run -0 echo "$frames"
	while read -r tid fn; do
		assert_line "$tid $fn"
	done < <(expected_threads)
	# and every backtrace goes on to where the thread started
	assert_line "$(lc_info main.tid) main"
	for ((i = 0; i < $(lc_info threads); i++)); do
		assert_line "$(lc_info "thread.$i.tid") worker_main"
	done
}

# avx512_unreadable_by_gdb - true where gdb cannot read the AVX-512 state
# (k0-k7, zmm) of a core that the kernel writes. gdb before 14 reads
# NT_X86_XSTATE only in Intel's layout; the kernel, and livecore like it,
# writes the CPU's own layout, which on AMD puts that state elsewhere, so
# gdb 13 shows it <unavailable> ("Section .reg-xstate/N in core file too
# small") even in the kernel's own core, while gcore writes gdb's re-laid
# copy. There those registers say nothing about the core.
avx512_unreadable_by_gdb() {
	local major

	grep -q '^vendor_id.*AuthenticAMD' /proc/cpuinfo || return 1
	major=$(gdb --version | sed -n '1s/.* \([0-9][0-9]*\)\.[0-9.]*$/\1/p')
	[ -n "$major" ] && [ "$major" -lt 14 ]
}

# xstate_larger_than_gdb_knows - true where gdb warns "Unexpected size of
# section .reg-xstate/N" for every core the kernel writes: gdb before 14
# knows XSAVE areas up to PKRU (2696 bytes), and a CPU with AMX tiles has
# a larger one (11 KiB), which the kernel, and livecore like it (the notes
# test above compares the bytes), writes whole; gcore writes gdb's own
# shorter copy. The registers gdb then reads are the same.
xstate_larger_than_gdb_knows() {
	local major

	grep -q '^flags.* amx_tile' /proc/cpuinfo || return 1
	major=$(gdb --version | sed -n '1s/.* \([0-9][0-9]*\)\.[0-9.]*$/\1/p')
	[ -n "$major" ] && [ "$major" -lt 14 ]
}

@test "gdb: registers of every thread equal gcore's of the same stopped target" {
	require_cmd gdb
	require_cmd gcore
	c_target_core --stopped
	readers_gcore "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/gcore.core" >/dev/null 2>&1 ||
		fail "gcore failed"

	run -0 gdb_core "$BIN" "$CORE" 'thread apply all info all-registers'
	ours=$(per_thread <<<"$output" | sort)
	run -0 gdb_core "$BIN" "$BATS_TEST_TMPDIR/gcore.core" 'thread apply all info all-registers'
	theirs=$(per_thread <<<"$output" | sort)

	if avx512_unreadable_by_gdb; then
		ours=$(grep -Ev '^[0-9]+ (k[0-7]|zmm[0-9]+) |warning: Section .\.reg-xstate/' <<<"$ours")
		theirs=$(grep -Ev '^[0-9]+ (k[0-7]|zmm[0-9]+) |warning: Section .\.reg-xstate/' <<<"$theirs")
	fi
	if xstate_larger_than_gdb_knows; then
		ours=$(grep -Ev '^[0-9]+ warning: Unexpected size of section .\.reg-xstate/' <<<"$ours")
	fi
	# rip of every thread, as a user would look at it first, then the rest
	for tid in $(expected_threads | cut -d' ' -f1); do
		rip=$(grep "^$tid rip " <<<"$theirs") || fail "gcore's core has no rip for thread $tid"
		run -0 grep "^$tid rip " <<<"$ours"
		assert_output "$rip"
	done
	[ "$(wc -l <<<"$theirs")" -gt 100 ] || fail "gdb printed too few registers: $theirs"
	if ! differ=$(diff <(echo "$theirs") <(echo "$ours")); then
		echo "registers differ (< gcore, > ${LC_READERS_DUMPER:-livecore}), first lines:"
		cut -c1-200 <<<"$differ" | head -40
		fail "registers differ from gcore's"
	fi
}

# note_list CORE - "OWNER SIZE TYPE" for every note of CORE, in order, as
# readelf -n names them (binutils 2.40 calls NT_X86_XSAVE_LAYOUT "Unknown
# note type: (0x00000205)").
note_list() {
	readelf -nW "$1" | awk -F'\t' '$1 ~ /^  [^ ]+ +0x[0-9a-f]+$/ { split($1, f, " "); print f[1], f[2], $2 }'
}

# last_note_bytes CORE LEN - the last LEN bytes of CORE's PT_NOTE segment,
# in hex.
last_note_bytes() {
	local off size

	read -r off size < <(readelf -lW "$1" | awk '$1 == "NOTE" { print $2, $5 }')
	[ -n "$size" ] || return 1
	od -An -tx1 -v -j $((off + size - $2)) -N "$2" "$1"
}

@test "the notes are the kernel's: one NT_X86_XSAVE_LAYOUT after every thread's, with the kernel's bytes" {
	require_cmd readelf
	require_cmd eu-readelf
	require_cmd gdb
	[ "${LC_READERS_DUMPER:-livecore}" = livecore ] ||
		skip "needs: livecore (gcore orders its notes its own way)"
	lc_core_pattern_is_plain || skip "needs: core_pattern \"core\" or \"core.%p\""
	cd "$BATS_TEST_TMPDIR"
	ulimit -c unlimited
	c_target_core --stopped
	# now the kernel's core of the same, still stopped, process
	kill -ABRT "$LC_TARGET_PID"
	kill -CONT "$LC_TARGET_PID"
	wait "$LC_TARGET_PID" || true
	kernel=$(ls core "core.$LC_TARGET_PID" 2>/dev/null | head -n 1)
	[ -n "$kernel" ] || skip "needs: the kernel to write a core here (none appeared in $BATS_TEST_TMPDIR)"
	note_list "$kernel" >kernel.notes
	layout='(0x00000205)|XSAVE_LAYOUT'
	grep -Eq "$layout" kernel.notes || skip "needs: NT_X86_XSAVE_LAYOUT (Linux 6.12+ on this CPU)"

	# every note in the kernel's order with the kernel's owner and size;
	# the layout once, the last note, after every thread's registers
	note_list "$CORE" >ours.notes
	diff kernel.notes ours.notes
	[ "$(grep -Ec "$layout" ours.notes)" -eq 1 ]
	tail -n 1 ours.notes | grep -Eq "$layout"
	[ "$(grep -c NT_PRSTATUS ours.notes)" -eq $(($(lc_info threads) + 1)) ]
	# and its bytes are the kernel's: header, "LINUX", the records
	size=$(tail -n 1 ours.notes | awk '{ print $2 }')
	((size > 0)) || fail "an empty NT_X86_XSAVE_LAYOUT here: $(tail -n 1 kernel.notes)"
	run -0 last_note_bytes "$kernel" $((12 + 8 + size))
	want=$output
	run -0 last_note_bytes "$CORE" $((12 + 8 + size))
	assert_output "$want"

	# readers decode the core without a complaint
	run -0 --separate-stderr eu-readelf -n "$CORE"
	[ -z "$stderr" ] || fail "eu-readelf -n: $stderr"
	run -0 --separate-stderr readelf -n "$CORE"
	[ -z "$stderr" ] || fail "readelf -n: $stderr"
	# and gdb finds every thread's rip where the kernel's core has it
	run -0 gdb_core "$BIN" "$kernel" 'thread apply all info registers rip'
	theirs=$(per_thread <<<"$output" | sort)
	run -0 gdb_core "$BIN" "$CORE" 'thread apply all info registers rip'
	ours=$(per_thread <<<"$output" | sort)
	[ "$(grep -c '^[0-9]* rip ' <<<"$ours")" -eq $(($(lc_info threads) + 1)) ] ||
		fail "gdb shows no rip for some thread: $ours"
	# The kernel's core is written after SIGCONT: a thread that woke from
	# the group stop before the SIGABRT reached it has already rewound its
	# interrupted system call for the restart (rip back over the 2-byte
	# syscall instruction). Ours, taken during the stop, has rip after
	# it, as ptrace and gcore show. Only that difference is forgiven.
	theirs=$(restart_rewound "$ours" "$theirs")
	assert_equal "$ours" "$theirs"
}

@test "gdb: x/2gx at pattern pages shows the page address and generation" {
	require_cmd gdb
	c_target_core
	addr=$(lc_info pattern.addr)
	size=$(lc_info pattern.size)

	pages=("$addr" "$(printf '0x%x' $((addr + size / 2)))" "$(printf '0x%x' $((addr + size - 4096)))")
	run -0 gdb_core "$BIN" "$CORE" "x/2gx ${pages[0]}" "x/2gx ${pages[1]}" "x/2gx ${pages[2]}"
	for p in "${pages[@]}"; do
		# word 0: the page's own address; word 1: generation 1
		assert_line --regexp "^$p:[[:space:]]+$(printf '0x%016x' "$p")[[:space:]]+0x0000000000000001\$"
	done
}

@test "the core holds lc-target's pattern on every page of the region" {
	require_cmd eu-readelf
	c_target_core
	addr=$(lc_info pattern.addr)
	size=$(lc_info pattern.size)

	# the PT_LOAD that covers the region: its file offset for the region
	run -0 eu-readelf -l "$CORE"
	offset=
	while read -r type off va _ fs _; do
		[ "$type" = LOAD ] || continue
		if ((va <= addr && addr + size <= va + fs)); then
			offset=$((off + addr - va))
			break
		fi
	done <<<"$output"
	[ -n "$offset" ] || fail "no PT_LOAD holds the pattern region $addr+$size in full"
	run -0 "$LC_PAGECHECK" "$CORE" "$offset" "$addr" $((size / 4096))
	assert_output "good $((size / 4096)) bad 0"
}

@test "gdb: the __thread variable of every thread prints its value (libthread_db)" {
	require_cmd gdb
	c_target_core

	run -0 gdb_core "$BIN" "$CORE" 'thread apply all print/x lc_tls_value'
	values=$(per_thread <<<"$output")
	run -0 echo "$values"
	assert_line --regexp "^$(lc_info main.tid) \\\$[0-9]+ = $(lc_info main.tls)\$"
	for ((i = 0; i < $(lc_info threads); i++)); do
		assert_line --regexp "^$(lc_info "thread.$i.tid") \\\$[0-9]+ = $(lc_info "thread.$i.tls")\$"
	done
}

# vdso_target_core - starts lc-vdsospin and dumps it to $CORE until the
# dump caught its thread inside [vdso] (nearly always the first time: the
# thread spends its time in a system call made from the vdso). Sets BIN,
# CORE, VDSO_TID.
vdso_target_core() {
	local try pid start end rip

	[ -x "$LC_VDSOSPIN" ] || fail "$LC_VDSOSPIN is not built (make)"
	LC_TARGET_INFO="$BATS_TEST_TMPDIR/vdsospin.info"
	"$LC_VDSOSPIN" -o "$LC_TARGET_INFO" 2>"$BATS_TEST_TMPDIR/vdsospin.stderr" </dev/null >/dev/null 3>&- &
	pid=$!
	LC_TARGET_PIDS+=("$pid")
	for ((try = 0; try < 1000; try++)); do
		[ -s "$LC_TARGET_INFO" ] && break
		sleep 0.01
	done
	[ -s "$LC_TARGET_INFO" ] || fail "lc-vdsospin did not get ready: $(cat "$BATS_TEST_TMPDIR/vdsospin.stderr")"
	BIN=$(lc_info exe)
	VDSO_TID=$(lc_info vdso.tid)
	read -r start end < <(awk '$6 == "[vdso]" { split($1, r, "-"); print "0x" r[1], "0x" r[2] }' "/proc/$pid/maps")
	[ -n "$start" ] || fail "lc-vdsospin has no [vdso] mapping"
	CORE="$BATS_TEST_TMPDIR/vdsospin.core"
	for ((try = 0; try < 5; try++)); do
		rm -f "$CORE"
		readers_dump "$pid" "$CORE"
		rip=$(gdb_core "$BIN" "$CORE" 'thread apply all print/x $pc' | per_thread |
			awk -v t="$VDSO_TID" '$1 == t && $2 ~ /^[$][0-9]+$/ { print $4 }')
		[ -n "$rip" ] || fail "gdb finds no thread $VDSO_TID in the core"
		((rip >= start && rip < end)) && return 0
	done
	fail "five dumps never caught thread $VDSO_TID inside [vdso] $start-$end (last rip $rip)"
}

@test "gdb: the vdso frames unwind, from clock_gettime in [vdso] to its caller" {
	require_cmd gdb
	vdso_target_core

	run -0 gdb_core "$BIN" "$CORE" 'thread apply all bt' 'thread apply all info symbol $pc'
	gdb_output=$output
	# gdb found the vdso image in the core and named the function in it
	run -0 per_thread <<<"$gdb_output"
	assert_line --regexp "^$VDSO_TID clock_gettime( \\+ [0-9]+)? in section \\.text of system-supplied DSO at 0x[0-9a-f]+\$"
	assert_line --regexp "^$VDSO_TID #0 +0x[0-9a-f]+ in clock_gettime \\(\\)\$"
	run -0 gdb_frames <<<"$gdb_output"
	assert_line "$VDSO_TID lc_spin_in_vdso"
	assert_line "$VDSO_TID spin_main"
	assert_line "$(lc_info pid) lc_vdsospin_main_wait"
}

@test "eu-stack: the vdso frames unwind, from __vdso_clock_gettime to its caller" {
	require_cmd eu-stack
	require_cmd gdb
	vdso_target_core

	run -0 eu-stack --core "$CORE" -e "$BIN"
	run -0 eu_stack_frames <<<"$output"
	# elfutils found the vdso in the core (by its ELF image there) and
	# named the function. Seen failing: a core whose file-size-0 PT_LOADs
	# had p_offset 0, not the running offset the kernel writes, made
	# elfutils find no module but libc (see the eu-unstrip test).
	assert_line "$VDSO_TID 0 __vdso_clock_gettime"
	assert_line --regexp "^$VDSO_TID [0-9]+ lc_spin_in_vdso\$"
	assert_line --regexp "^$VDSO_TID [0-9]+ spin_main\$"
}

@test "lldb: the vdso frames unwind, from linux-vdso.so.1 to its caller" {
	require_cmd lldb
	require_cmd gdb
	vdso_target_core

	run -0 --separate-stderr lldb_frames "$BIN" "$CORE"
	assert_line --regexp "^$VDSO_TID 0 linux-vdso\\.so\\.1"
	assert_line --regexp "^$VDSO_TID [0-9]+ lc-vdsospin\`lc_spin_in_vdso\$"
	assert_line --regexp "^$VDSO_TID [0-9]+ lc-vdsospin\`spin_main\$"
}

@test "eu-stack --core shows every thread in the function lc-target put it in" {
	require_cmd eu-stack
	c_target_core

	run -0 eu-stack --core "$CORE" -e "$BIN"
	assert_line "PID $(lc_info pid) - core"
	frames=$(eu_stack_frames <<<"$output")
	run -0 echo "$frames"
	threads=$(awk '{ print $1 }' <<<"$frames" | sort -u | wc -l)
	assert_equal "$threads" $(($(lc_info threads) + 1))
	while read -r tid fn; do
		assert_line --regexp "^$tid [0-9]+ $fn\$"
	done < <(expected_threads)
	assert_line --regexp "^$(lc_info main.tid) [0-9]+ main\$"
	for ((i = 0; i < $(lc_info threads); i++)); do
		assert_line --regexp "^$(lc_info "thread.$i.tid") [0-9]+ worker_main\$"
	done
}

@test "eu-unstrip -n --core finds the executable, ld.so, libc and the vdso" {
	require_cmd eu-unstrip
	c_target_core

	# elfutils walks the dynamic linker's list from the auxv and the
	# executable's PT_DYNAMIC, and reads the vdso's ELF image, all from
	# the core's memory
	run -0 eu-unstrip -n --core "$CORE"
	assert_line --regexp "^0x[0-9a-f]+\\+0x[0-9a-f]+ [0-9a-f]+@0x[0-9a-f]+ .* $BIN\$"
	assert_line --regexp '^0x[0-9a-f]+\+0x[0-9a-f]+ [0-9a-f]+@0x[0-9a-f]+ .* (/[^ ]*/)?libc\.so\.6$'
	ld=$(lc_ld_so)
	assert_line --regexp "^0x[0-9a-f]+\\+0x[0-9a-f]+ [0-9a-f]+@0x[0-9a-f]+ .* (/[^ ]*/)?${ld//./\\.}\$"
	assert_line --regexp '^0x[0-9a-f]+\+0x[0-9a-f]+ [0-9a-f]+@0x[0-9a-f]+ \. - linux-vdso\.so\.1$'
}

@test "lldb: thread backtrace all shows every thread in the function lc-target put it in" {
	require_cmd lldb
	c_target_core

	run -0 --separate-stderr lldb_frames "$BIN" "$CORE"
	threads=$(awk '{ print $1 }' <<<"$output" | sort -u | wc -l)
	assert_equal "$threads" $(($(lc_info threads) + 1))
	while read -r tid fn; do
		assert_line --regexp "^$tid [0-9]+ lc-target\`$fn\$"
	done < <(expected_threads)
	assert_line --regexp "^$(lc_info main.tid) [0-9]+ lc-target\`main\$"
}

@test "against gcore: every address both cores dump holds the same bytes" {
	require_cmd gcore
	[ -x "$LC_CORECMP" ] || fail "$LC_CORECMP is not built (make)"
	c_target_core --stopped
	readers_gcore "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/gcore.core" >/dev/null 2>&1 ||
		fail "gcore failed"

	# the pattern region must be among the compared bytes, in full
	run -0 "$LC_CORECMP" "$CORE" "$BATS_TEST_TMPDIR/gcore.core" \
		"$(lc_info pattern.addr):$(lc_info pattern.size)"
	assert_line --regexp '^compared [0-9]+ bytes in [0-9]+ ranges, 0 pages differ$'
	compared=$(awk '/^compared/ { print $2 }' <<<"$output")
	# beyond the pattern: the binary, libc, the stacks, the heap
	((compared > $(lc_info pattern.size) + 4 * 1024 * 1024)) ||
		fail "only $compared bytes dumped by both cores"
}
