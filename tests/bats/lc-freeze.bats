#!/usr/bin/env bats
# lc-freeze: the stop. Every test checks what a user would: the registers
# gdb reports, the threads, the bytes staged, the target running afterwards.

bats_require_minimum_version 1.8.0

setup() {
	load helpers
	LC_THREADS_TARGET="$LIVECORE_BUILD/targets/lc-freeze-threads"
	T=$BATS_TEST_TMPDIR
	BG_PIDS=()
}

teardown() {
	local p

	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	lc_cleanup_targets
}

# precopy PID - lc-maps and one lc-precopy pass without a tracker:
# $T/in.m (the manifest) and $T/stage.
precopy() {
	lc-maps "$1" >"$T/maps.m" &&
		lc-precopy -q -T none -s "$T/stage" "$1" <"$T/maps.m" >"$T/in.m"
}

# notes_types FILE - the note types of FILE in order, one a line (eu-readelf)
notes_types() {
	eu-readelf -n "$1" | awk '$1 == "CORE" || $1 == "LINUX" { print $3 }'
}

# notes_regs FILE - "pid pc sp tp" per thread (hex without 0x and leading
# zeros), from eu-readelf: x86-64's rip, rsp and fs_base (NT_PRSTATUS),
# aarch64's pc and sp (NT_PRSTATUS) and tpidr_el0 (NT_ARM_TLS, after it)
notes_regs() {
	eu-readelf -n "$1" | awk -v arch="$(uname -m)" '
		/^  [A-Z]/ { type = $3 }
		type == "PRSTATUS" && $1 == "pid:" { pid = $2; sub(",", "", pid) }
		arch == "x86_64" && type == "PRSTATUS" { for (i = 1; i < NF; i++) {
			if ($i == "rip:") rip = $(i + 1)
			if ($i == "rsp:") rsp = $(i + 1)
			if ($i == "fs.base:") { print pid, rip, rsp, $(i + 1) }
		} }
		arch == "aarch64" && type == "PRSTATUS" { for (i = 1; i < NF; i++) {
			if ($i == "pc:") rip = $(i + 1)
			if ($i == "sp:") rsp = $(i + 1)
		} }
		arch == "aarch64" && type == "ARM_TLS" && $1 == "tls:" { print pid, rip, rsp, $2 }' |
	while read -r pid pc sp tp; do
		printf '%d %x %x %x\n' "$pid" "$pc" "$sp" "$tp"
	done | sort -n
}

# notes_pids FILE - the pid of every NT_PRSTATUS, sorted
notes_pids() {
	eu-readelf -n "$1" | awk '
		/^  [A-Z]/ { type = $3 }
		type == "PRSTATUS" && $1 == "pid:" { pid = $2; sub(",", "", pid); print pid }' | sort -n
}

# task_states PID - the state letter of every thread
task_states() {
	local t s

	for t in /proc/"$1"/task/*; do
		s=$(cat "$t/stat" 2>/dev/null) || continue
		s=${s##*) }
		printf '%s\n' "${s%% *}"
	done
}

# assert_running PID PROGRESS_FILE - the counter advances and no thread is
# left in a ptrace stop
assert_running() {
	local before after i

	before=$(cat "$2")
	for ((i = 0; i < 100; i++)); do
		sleep 0.02
		after=$(cat "$2")
		[ "$after" -gt "$before" ] && break
	done
	[ "$after" -gt "$before" ] || {
		echo "progress stuck at $before: the target is stopped" >&2
		return 1
	}
	run -0 task_states "$1"
	refute_output --partial t
	refute_output --partial T
}

# freeze_in_background ARGS... - lc-freeze in the background (the tests
# hold the stop open with LIVECORE_TEST_STOP_DELAY_MS), standard output and
# error in $T/fz.out and $T/fz.err; sets FZ_PID
freeze_in_background() {
	lc-freeze "$@" <"$T/in.m" >"$T/fz.out" 2>"$T/fz.err" 3>&- &
	FZ_PID=$!
	BG_PIDS+=("$FZ_PID")
}

# freeze_wait - waits for it (called directly, not under run: only this
# shell can wait for its child); sets FZ_RC
freeze_wait() {
	FZ_RC=0
	wait "$FZ_PID" || FZ_RC=$?
	cat "$T/fz.err" >&2
}

@test "eu-readelf and readelf decode every note, in the kernel's order" {
	lc_require_x86_64 "its register notes; make check-vm-arm64 compares arm64's with the kernel's core"
	lc_start_target --threads 3
	precopy "$LC_TARGET_PID"
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	[ -s "$T/notes" ]
	[ "$(stat -c %a "$T/notes")" = 600 ]
	run -0 notes_types "$T/notes"
	expected="PRSTATUS PRPSINFO SIGINFO AUXV FILE FPREGSET X86_XSTATE"
	for i in 1 2 3; do expected="$expected PRSTATUS FPREGSET X86_XSTATE"; done
	# where the kernel writes NT_X86_XSAVE_LAYOUT (Linux 6.12+), so does
	# lc-freeze: once, last (readers.bats compares it with the kernel's
	# core); eu-readelf 0.188 and readelf 2.40 do not know it by name
	types=$(echo $output)
	assert_equal "${types% <unknown>:}" "$expected"
	# exact sizes: 336, 136, 128, 512
	run -0 eu-readelf -n "$T/notes"
	assert_output --regexp 'CORE +336 +PRSTATUS'
	assert_output --regexp 'CORE +136 +PRPSINFO'
	assert_output --regexp 'CORE +128 +SIGINFO'
	assert_output --regexp 'CORE +512 +FPREGSET'
	assert_output --regexp 'LINUX +[0-9]+ +X86_XSTATE'
	assert_output --partial "fname: lc-target"
	assert_output --partial "$(lc_info exe)"
	run -0 grep -v '^  LINUX  *[0-9]*  <unknown>: 517$' <<<"$output"
	refute_output --partial "unknown"
	run -0 bash -c "readelf -n -W '$T/notes' | awk '\$1 == \"CORE\" || \$1 == \"LINUX\" { print \$3 }'"
	types=$(echo $output)
	assert_equal "${types% Unknown}" \
		"$(echo "$expected" | sed 's/\([A-Z0-9_]*\)/NT_\1/g; s/NT_FPREGSET/NT_FPREGSET/g')"
	# the header: ELF64 core for x86-64 with one PT_NOTE
	run -0 readelf -h -l -W "$T/notes"
	assert_output --partial "CORE (Core file)"
	assert_output --partial "Advanced Micro Devices X86-64"
	assert_output --regexp 'NOTE +0x000078'
	assert_output --regexp 'Number of program headers: +1'
	refute_output --partial LOAD
}

@test "NT_FILE lists every file mapping with unescaped names and offsets in pages" {
	mkdir -p "$T/dir with space"
	head -c 65536 /dev/urandom >"$T/dir with space/data"
	head -c 65536 /dev/urandom >"$T/new"$'\n'"line"
	lc_start_target --file-private "$T/dir with space/data" --file-shared "$T/new"$'\n'"line"
	lc_stop_target "$LC_TARGET_PID"
	precopy "$LC_TARGET_PID"
	run -0 lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	# what /proc/PID/maps shows for each mapping with a file: eu-readelf
	# prints the offset in bytes (it multiplies NT_FILE's pages back)
	want=$(awk '$5 != 0 { p = $6; for (i = 7; i <= NF; i++) p = p " " $i; print $1, $3, p }' \
		"/proc/$LC_TARGET_PID/maps")
	got=$(eu-readelf -n "$T/notes" | awk '/^ +[0-9a-f]+-[0-9a-f]+ [0-9a-f]+ [0-9]+ / {
		p = $4; for (i = 5; i <= NF; i++) p = p " " $i; print $1, $2, p }')
	# (the name with a newline is checked below: eu-readelf prints it raw)
	assert_equal "$(grep -v /new <<<"$got")" "$(grep -v /new <<<"$want")"
	[[ $want == *" 00000000 "* && $want =~ \ 000[0-9a-f]*[1-9a-f][0-9a-f]*000\  ]]
	[[ $got == *"$T/dir with space/data"* ]]
	[[ $got == *"$(lc_info exe)"* ]]
	# maps escapes the newline as \012; NT_FILE holds the name itself
	grep -qF 'new\012line' "/proc/$LC_TARGET_PID/maps"
	grep -qzxP "\\Q$T/new\\E\\nline" "$T/notes"
}

@test "each thread's pc, sp and thread pointer (rip, rsp, fs_base; pc, sp, tpidr) equal what gdb reports for the same stopped target" {
	lc_start_target --threads 4 --tls
	lc_stop_target "$LC_TARGET_PID"
	precopy "$LC_TARGET_PID"
	run -0 lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	# the detach leaves a SIGSTOPped target stopped (the group stop holds)
	lc_wait_state "$LC_TARGET_PID" T
	notes_regs "$T/notes" >"$T/notes.regs"
	[ "$(wc -l <"$T/notes.regs")" = 5 ]
	names="rip rsp fs_base"
	[ "$(uname -m)" = aarch64 ] && names="pc sp tpidr"
	timeout 60 gdb -nx -batch -p "$LC_TARGET_PID" \
		-ex "thread apply all info registers $names" >"$T/gdb.out" 2>&1
	awk -v names="$names" 'BEGIN { split(names, n, " ") }
		/^Thread .*LWP/ { for (i = 1; i <= NF; i++) if ($i == "(LWP") { tid = $(i + 1); sub(")", "", tid) } }
		$1 == n[1] { rip = $2 } $1 == n[2] { rsp = $2 }
		$1 == n[3] { print tid, rip, rsp, $2 }' "$T/gdb.out" |
		while read -r tid rip rsp fs; do printf '%d %x %x %x\n' "$tid" "$rip" "$rsp" "$fs"; done |
		sort -n >"$T/gdb.regs"
	[ "$(wc -l <"$T/gdb.regs")" = 5 ] || cat "$T/gdb.out" >&2
	run diff "$T/gdb.regs" "$T/notes.regs"
	assert_success
	# the thread pointer is each thread's TLS block: all different, none zero
	[ "$(awk '{ print $4 }' "$T/notes.regs" | sort -u | grep -vc '^0$')" = 5 ]
}

@test "every thread's NT_PRFPREG taken from its XSAVE area is the one PTRACE_GETREGSET reads: two dumps of one stopped target, byte for byte" {
	lc_require_x86_64 "the XSAVE area"
	lc_start_target --threads 8 --tls
	lc_stop_target "$LC_TARGET_PID"
	precopy "$LC_TARGET_PID"
	run -0 lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	lc_wait_state "$LC_TARGET_PID" T
	mv "$T/notes" "$T/notes.taken"
	rm -f "$T/stage"
	precopy "$LC_TARGET_PID"
	LIVECORE_TEST_FPREGS_EACH=1 run -0 lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	[ "$(eu-readelf -n "$T/notes" | grep -c FPREGSET)" = 9 ]
	cmp "$T/notes.taken" "$T/notes"
}

# bats test_tags=vm:arm64
@test "a target with 50 threads: every thread, the process name and arguments" {
	lc_start_target --threads 50
	precopy "$LC_TARGET_PID"
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	assert_line --regexp '^# freeze .* threads=51$'
	want=$( (lc_info main.tid; for i in $(seq 0 49); do lc_info "thread.$i.tid"; done) | sort -n)
	run -0 notes_pids "$T/notes"
	assert_equal "$output" "$want"
	# the main thread first, as the kernel writes the dumping thread first
	run -0 bash -c "eu-readelf -n '$T/notes' | awk '/pid:/ { print \$2; exit }'"
	assert_equal "$output" "$LC_TARGET_PID,"
	run -0 eu-readelf -n "$T/notes"
	assert_output --partial "fname: lc-target"
	# psargs: the first 79 bytes of the arguments, NULs as spaces (the kernel's rule)
	args=$(tr '\0' ' ' <"/proc/$LC_TARGET_PID/cmdline")
	assert_output --regexp "psargs: ${args:0:79}"$'\n'
	# thread names are not part of an ELF core (the kernel writes none);
	# the threads are told apart by their pids
}

@test "threads born and ending in a tight loop: every thread at the stop, none left stopped" {
	"$LC_THREADS_TARGET" -o "$T/info" --churn 8 3>&- &
	pid=$!
	LC_TARGET_PIDS+=("$pid")
	for i in $(seq 100); do [ -s "$T/info" ] && break; sleep 0.05; done
	precopy "$pid"
	LIVECORE_TEST_STOP_DELAY_MS=1500 freeze_in_background -s "$T/stage" -n "$T/notes" "$pid"
	lc_wait_state "$pid" t
	sleep 0.2
	# while stopped, nothing is born and nothing ends: this is the set
	ls "/proc/$pid/task" | sort -n >"$T/at-stop"
	freeze_wait
	assert_equal "$FZ_RC" 0
	run -0 notes_pids "$T/notes"
	assert_equal "$output" "$(cat "$T/at-stop")"
	[ "$(wc -l <"$T/at-stop")" -ge 3 ]
	assert_running "$pid" "$T/info.progress"
	# and again, without the hold, a few times
	for i in 1 2 3 4 5; do
		run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$pid" <"$T/in.m"
		assert_running "$pid" "$T/info.progress"
	done
}

# bats test_tags=vm:arm64
@test "a SIGUSR1 sent during the stop is delivered after the resume" {
	lc_start_target --sigusr1-count --progress
	precopy "$LC_TARGET_PID"
	LIVECORE_TEST_STOP_DELAY_MS=1000 freeze_in_background -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID"
	lc_wait_state "$LC_TARGET_PID" t
	kill -USR1 "$LC_TARGET_PID"
	sleep 0.1
	# still stopped: not delivered yet
	assert_equal "$(cat "$(lc_info sigusr1.file)")" 0
	freeze_wait
	assert_equal "$FZ_RC" 0
	for i in $(seq 100); do
		[ "$(cat "$(lc_info sigusr1.file)")" = 1 ] && break
		sleep 0.02
	done
	assert_equal "$(cat "$(lc_info sigusr1.file)")" 1
	assert_running "$LC_TARGET_PID" "$(lc_info progress.file)"
}

# bats test_tags=vm:arm64
@test "kill -9 of lc-freeze during the stop: the target keeps running" {
	lc_start_target --progress
	precopy "$LC_TARGET_PID"
	LIVECORE_TEST_STOP_DELAY_MS=20000 freeze_in_background -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID"
	lc_wait_state "$LC_TARGET_PID" t
	progress=$(lc_info progress.file)
	before=$(cat "$progress")
	sleep 0.2
	# the stop holds: the counter does not move
	assert_equal "$(cat "$progress")" "$before"
	kill -KILL "$FZ_PID"
	freeze_wait
	assert_equal "$FZ_RC" 137
	assert_running "$LC_TARGET_PID" "$progress"
	[ ! -e "$T/notes" ]
}

@test "SIGTERM during the stop: the target is resumed, then lc-freeze exits 8" {
	lc_start_target --progress
	precopy "$LC_TARGET_PID"
	LIVECORE_TEST_STOP_DELAY_MS=20000 freeze_in_background -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID"
	lc_wait_state "$LC_TARGET_PID" t
	kill -TERM "$FZ_PID"
	freeze_wait
	assert_equal "$FZ_RC" 8
	assert_equal "$(cat "$T/fz.err")" "lc-freeze: interrupted; the target was resumed"
	assert_running "$LC_TARGET_PID" "$(lc_info progress.file)"
	[ ! -e "$T/notes" ]
	[ ! -s "$T/fz.out" ]
}

@test "a target already traced: a clear error, nothing left stopped" {
	lc_start_target --threads 3 --progress
	precopy "$LC_TARGET_PID"
	strace -p "$LC_TARGET_PID" -o /dev/null 3>&- &
	BG_PIDS+=($!)
	for i in $(seq 200); do
		grep -q '^TracerPid:[[:space:]]*[1-9]' "/proc/$LC_TARGET_PID/status" && break
		sleep 0.01
	done
	run -4 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	assert_equal "$stderr" \
		"lc-freeze: process $LC_TARGET_PID is already traced by process ${BG_PIDS[0]}: nothing was stopped"
	[ -z "$output" ]
	[ ! -e "$T/notes" ]
	# the worker threads it may have seized first were let go
	kill "${BG_PIDS[0]}"
	wait "${BG_PIDS[0]}" || true
	assert_running "$LC_TARGET_PID" "$(lc_info progress.file)"
}

@test "a target that exits during the stop: a clear error" {
	lc_start_target --threads 2
	precopy "$LC_TARGET_PID"
	LIVECORE_TEST_STOP_DELAY_MS=1000 freeze_in_background -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID"
	lc_wait_state "$LC_TARGET_PID" t
	kill -KILL "$LC_TARGET_PID"
	freeze_wait
	assert_equal "$FZ_RC" 3
	assert_equal "$(cat "$T/fz.err")" "lc-freeze: process $LC_TARGET_PID exited while lc-freeze stopped it"
	[ ! -e "$T/notes" ]
}

@test "a main thread that exited (a zombie leader): a clear error, the rest runs on" {
	"$LC_THREADS_TARGET" -o "$T/info" --zombie-leader "$T/trigger" 3>&- &
	pid=$!
	LC_TARGET_PIDS+=("$pid")
	for i in $(seq 100); do [ -s "$T/info" ] && break; sleep 0.05; done
	precopy "$pid"
	touch "$T/trigger"
	lc_wait_state "$pid" Z
	run -3 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$pid" <"$T/in.m"
	assert_equal "$stderr" "lc-freeze: process $pid is a zombie (its memory is gone)"
	assert_running_threads() {
		local before after
		before=$(cat "$T/info.progress"); sleep 0.1; after=$(cat "$T/info.progress")
		[ "$after" -gt "$before" ]
	}
	assert_running_threads
	run -0 task_states "$pid"
	refute_output --partial t
}

@test "a manifest without its end line or for a reused pid: refused before any stop" {
	lc_start_target --progress
	precopy "$LC_TARGET_PID"
	head -n -1 "$T/in.m" >"$T/cut.m"
	run -5 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/cut.m"
	[[ $stderr == "lc-freeze: standard input:"*"end line"* ]]
	sed 's/^# starttime .*/# starttime 1/' "$T/in.m" >"$T/reused.m"
	run -3 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/reused.m"
	assert_equal "$stderr" "lc-freeze: process $LC_TARGET_PID is not the one the manifest describes (starttime $(lc_proc_field "$LC_TARGET_PID" 22), manifest 1): the pid was reused"
	[ "$(grep -c "TracerPid:.0" "/proc/$LC_TARGET_PID/status")" = 1 ]
	[ ! -e "$T/notes" ]
	assert_running "$LC_TARGET_PID" "$(lc_info progress.file)"
}

@test "pause budget: a tiny budget and a heavy dirtier exit 6 with the target resumed" {
	lc_start_target --pattern-mib 64 --dirty-rate 50000 --progress
	precopy "$LC_TARGET_PID"
	run -6 --separate-stderr lc-freeze -b 1 -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	assert_output ""
	[[ $stderr == *"past the 1 ms budget"*"the target was resumed"* ]]
	[ ! -e "$T/notes" ]
	assert_running "$LC_TARGET_PID" "$(lc_info progress.file)"
	# a budget that fits lets it through
	run -0 --separate-stderr lc-freeze -b 60000 -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	assert_output --partial "# freeze pause-us="
}

# stage_matches_memory MANIFEST STAGE PID - every extent of every dumped
# VMA (device mappings aside) holds the bytes /proc/PID/mem reads
stage_matches_memory() {
	local m=$1 stage=$2 pid=$3 line range flags extents x a b off n=0

	while read -r range flags extents; do
		# device memory ([vvar]) and the gate page cannot be read via mem
		case ",$flags," in *,io,* | *,pf,*) continue ;; esac
		a=${range%%-*}
		[ ${#a} -gt 12 ] && continue
		[ "$extents" = - ] && continue
		IFS=, read -ra xs <<<"$extents"
		for x in "${xs[@]}"; do
			a=$((16#${x%%-*}))
			b=${x#*-}
			off=$((16#${b#*@}))
			b=$((16#${b%@*}))
			cmp <(dd if="/proc/$pid/mem" iflag=skip_bytes,count_bytes skip=$a count=$((b - a)) status=none) \
				<(dd if="$stage" iflag=skip_bytes,count_bytes skip=$off count=$((b - a)) status=none) ||
				{ echo "differs: $x" >&2; return 1; }
			n=$((n + 1))
		done
	done < <(awk '$6 == "dump" { print $1, $8, $9 }' "$m")
	[ "$n" -gt 0 ]
}

@test "no tracker, the process stopped after the pre-copy: the final delta copies every staged page, not as downtime; the stage equals memory at the stop" {
	lc_start_target --threads 2 --pattern-mib 16 --dirty-rate 20000
	precopy "$LC_TARGET_PID"
	sleep 0.3
	lc_stop_target "$LC_TARGET_PID"
	# the dirtier changed pages since the pass: the stage is stale now
	run ! stage_matches_memory "$T/in.m" "$T/stage" "$LC_TARGET_PID"
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	printf '%s\n' "$output" >"$T/out.m"
	# a process in a group stop cannot write: the copy is no downtime
	[[ $stderr == *"the process was stopped already: every page copied while it was held"* ]]
	run -0 grep -E '^# freeze .* target=stopped$' "$T/out.m"
	run -0 lc_proc_state "$LC_TARGET_PID"
	assert_output T
	# every populated page of the pattern went through the stop
	pages=$(sed -n 's/^# freeze .*delta-pages=\([0-9]*\).*/\1/p' "$T/out.m")
	[ "$pages" -ge 4096 ]
	run stage_matches_memory "$T/out.m" "$T/stage" "$LC_TARGET_PID"
	echo "$output" >&2
	assert_success
	# and the pattern pages check out on their own, but the one the
	# dirtier was writing when SIGSTOP came (lc_dirty_page; 0: none),
	# torn in memory itself, which the stage holds as memory does
	addr=$(lc_info pattern.addr)
	ext=$(awk -v a="$(printf '%x' "$addr")" 'index($1, a "-") == 1 { print $9 }' "$T/out.m")
	off=$((0x${ext#*@}))
	busy=$("$LIVECORE_BUILD/targets/lc-vmread" "$LC_TARGET_PID" "$(lc_info dirty_page.addr)" 8 |
		od -An -tu8 | tr -d ' ')
	skip=-1
	[ "$busy" = 0 ] || skip=$(((busy - addr) / 4096))
	if [ "$skip" -lt 0 ] || [ "$skip" -ge 4096 ]; then
		run -0 "$LC_PAGECHECK" "$T/stage" "$off" "$addr" 4096
	else
		echo "lc_dirty_page $busy: page $skip left out" >&2
		[ "$skip" = 0 ] || run -0 "$LC_PAGECHECK" "$T/stage" "$off" "$addr" "$skip"
		[ "$skip" = 4095 ] || run -0 "$LC_PAGECHECK" "$T/stage" $((off + (skip + 1) * 4096)) \
			$((addr + (skip + 1) * 4096)) $((4095 - skip))
	fi
	# the output manifest is whole and reads back
	run -0 "$LIVECORE_BUILD/targets/lc-manifest-check" <"$T/out.m"
}

@test "new and changed mappings after pre-copy get new extents at the stage end" {
	lc_start_target --threads 1 --pattern-mib 4 --map-new
	precopy "$LC_TARGET_PID"
	old_end=$(awk '$2 == "stage-end" { print $3 }' "$T/in.m")
	# a VMA lc-precopy never saw: the address space changes after the pass
	# (the target maps 64 KiB of 0x5a on SIGUSR2 and writes where)
	kill -USR2 "$LC_TARGET_PID"
	for _ in $(seq 100); do
		new=$(cat "$(lc_info map-new.file)")
		[ -n "$new" ] && break
		sleep 0.05
	done
	[ -n "$new" ]
	lc_stop_target "$LC_TARGET_PID"
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	printf '%s\n' "$output" >"$T/out.m"
	# the record that holds it: decided in the stop, staged in a new extent
	rec=$(awk '/^[0-9a-f]+-/ { print $1, $6, $9 }' "$T/out.m" | while read -r range decision ext; do
		[ $((16#${range%-*})) -le $((16#$new)) ] && [ $((16#$new)) -lt $((16#${range#*-})) ] &&
			echo "$range $decision $ext"
	done || true)
	[[ $rec == *" dump "*@* ]]
	# (it may have merged with a neighbour: that record then has two extents)
	found=
	IFS=, read -ra xs <<<"${rec##* }"
	for x in "${xs[@]}"; do
		[ $((16#${x%%-*})) -le $((16#$new)) ] || continue
		b=${x#*-}
		[ $((16#$new)) -lt $((16#${b%@*})) ] || continue
		found=${x#*@}
	done
	[ -n "$found" ] && [ $((16#$found)) -ge $((old_end)) ]
	new_end=$(awk '$2 == "stage-end" { print $3 }' "$T/out.m")
	[ $((new_end)) -gt $((old_end)) ]
	run stage_matches_memory "$T/out.m" "$T/stage" "$LC_TARGET_PID"
	echo "$output" >&2
	assert_success
}

@test "capabilities: only CAP_SYS_PTRACE in force while attached (CAP_SYS_NICE permitted, for the real-time priority of the seize and the detach)" {
	lc_require_root
	lc_start_target
	precopy "$LC_TARGET_PID"
	LIVECORE_DEBUG_PRIVILEGES=1 run -0 --separate-stderr \
		lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	[[ $stderr == *"privileges after setup: "*"CapPrm=0000000000880000 CapEff=0000000000080000"* ]]
	[[ $stderr == *"NoNewPrivs=1"* ]]
	# and nothing once the target runs again
	[[ $stderr == *"privileges after the stop: "*"CapPrm=0000000000000000 CapEff=0000000000000000"* ]]
}

# bats test_tags=needs:soft-dirty
@test "soft-dirty: the final delta copies only the pages dirtied since the last pass" {
	lc_start_target --pattern-mib 16 --dirty-rate 200
	lc-maps "$LC_TARGET_PID" >"$T/maps.m"
	lc-precopy -q -T soft-dirty -s "$T/stage" "$LC_TARGET_PID" <"$T/maps.m" >"$T/in.m" 2>"$T/pre.err" ||
		skip "needs: soft-dirty kernel"
	grep -q '^# stop-copy dirty' "$T/in.m"
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	pages=$(printf '%s\n' "$output" | sed -n 's/^# freeze .*delta-pages=\([0-9]*\).*/\1/p')
	# 16 MiB is 4096 pages; 200 pages/s dirtied: far fewer in the stop
	[ "$pages" -lt 2048 ]
	addr=$(lc_info pattern.addr)
	ext=$(printf '%s\n' "$output" | awk -v a="$(printf '%x' "$addr")" 'index($1, a "-") == 1 { print $9 }')
	run -0 "$LC_PAGECHECK" "$T/stage" "0x${ext#*@}" "$addr" 4096
}

@test "stop-copy dirty: clean ranges are copied only where the tracker reports writes" {
	lc_start_target --pattern-mib 16
	lc_stop_target "$LC_TARGET_PID"
	precopy "$LC_TARGET_PID"
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	all=$(printf '%s\n' "$output" | sed -n 's/^# freeze .*delta-pages=\([0-9]*\).*/\1/p')
	# the same manifest as if a tracker had found the pattern clean: on
	# this kernel nothing reports soft-dirty pages, so it is not copied
	addr=$(printf '%x' "$(lc_info pattern.addr)")
	awk -v a="$addr" '
		$2 == "tracking" { print "# tracking soft-dirty"; next }
		$2 == "stop-copy" { print "# stop-copy dirty"; next }
		index($1, a "-") == 1 { $10 = $1 }
		{ print }' "$T/in.m" >"$T/dirty.m"
	grep -q "^$addr-[0-9a-f]* .* $addr-[0-9a-f]* *\$" "$T/dirty.m"
	# (a soft-dirty kernel, whose VmFlags show "sd", reports every page
	# written since clear_refs was never written: then nothing is saved)
	expected=$((all - 4096))
	if grep -q '^VmFlags:.* sd' "/proc/$LC_TARGET_PID/smaps"; then expected=$all; fi
	run -0 --separate-stderr lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/dirty.m"
	dirty=$(printf '%s\n' "$output" | sed -n 's/^# freeze .*delta-pages=\([0-9]*\).*/\1/p')
	[[ $stderr != *"no tracker"* ]]
	assert_equal "$dirty" "$expected"
}

@test "no signal is lost: SIGUSR1 one after another while lc-freeze stops the target again and again" {
	# lc-freeze-threads' handler writes the count itself: lc-target's main
	# loop writes it after sigsuspend returns, and a signal handled just
	# before sigsuspend would show only with the next one
	"$LC_THREADS_TARGET" -o "$T/info" --sigusr1 3>&- &
	LC_TARGET_PID=$!
	LC_TARGET_PIDS+=("$LC_TARGET_PID")
	for i in $(seq 100); do [ -s "$T/info" ] && break; sleep 0.05; done
	precopy "$LC_TARGET_PID"
	count=$T/info.sigusr1
	(
		for i in $(seq 300); do
			lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m" >/dev/null 2>>"$T/loop.err" ||
				echo "lc-freeze failed: $?" >>"$T/loop.err"
		done
	) 3>&- &
	loop=$!
	BG_PIDS+=("$loop")
	# each signal is sent only once the one before was handled: a signal
	# lost in a stop would stall the count
	for i in $(seq 200); do
		kill -USR1 "$LC_TARGET_PID"
		for ((j = 0; j < 750; j++)); do
			[ "$(cat "$count")" = "$i" ] && break
			sleep 0.004
		done
		[ "$(cat "$count")" = "$i" ] || {
			echo "signal $i was lost (count $(cat "$count"))" >&2
			cat "$T/loop.err" >&2; grep -E "^(State|Sig|Shd)" /proc/$LC_TARGET_PID/status >&2
			false
		}
	done
	kill "$loop" 2>/dev/null || true
	wait "$loop" || true
	! grep -q "failed" "$T/loop.err"
	# how often a stop caught a signal being delivered (informational)
	echo "passed back: $(grep -c 'passed back' "$T/loop.err" || true)" >&3
}

# bats test_tags=vm:arm64
@test "a thread stopped while delivering a signal gets the signal back at detach" {
	"$LC_THREADS_TARGET" -o "$T/info" --sigusr1 3>&- &
	LC_TARGET_PID=$!
	LC_TARGET_PIDS+=("$LC_TARGET_PID")
	for i in $(seq 100); do [ -s "$T/info" ] && break; sleep 0.05; done
	precopy "$LC_TARGET_PID"
	# hold each thread traced but not yet interrupted for 400 ms: the
	# main thread, asleep in pause(), wakes for the signal, dequeues it
	# and stops in its delivery, before the interrupt
	LIVECORE_TEST_SEIZE_GAP_MS=400 freeze_in_background -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID"
	for i in $(seq 200); do
		grep -q '^TracerPid:[[:space:]]*[1-9]' "/proc/$LC_TARGET_PID/task/$LC_TARGET_PID/status" && break
		sleep 0.005
	done
	kill -USR1 "$LC_TARGET_PID"
	freeze_wait
	assert_equal "$FZ_RC" 0
	run -0 cat "$T/fz.err"
	assert_output --partial "1 threads were stopped delivering a signal; it was passed back to them"
	# the first thread's NT_PRSTATUS and NT_SIGINFO name it
	run -0 eu-readelf -n "$T/notes"
	assert_output --regexp 'info.si_signo: 10, .*cursig: 10'
	assert_output --regexp 'si_signo: 10, si_errno: 0, si_code: 0'
	for i in $(seq 100); do [ "$(cat "$T/info.sigusr1")" = 1 ] && break; sleep 0.02; done
	assert_equal "$(cat "$T/info.sigusr1")" 1
}

@test "the notes agree with gcore's for the same stopped target: threads, registers, auxv, files" {
	lc_start_target --threads 3 --tls
	lc_stop_target "$LC_TARGET_PID"
	precopy "$LC_TARGET_PID"
	run -0 lc-freeze -s "$T/stage" -n "$T/notes" "$LC_TARGET_PID" <"$T/in.m"
	timeout 120 gcore -o "$T/gcore" "$LC_TARGET_PID" >/dev/null 2>&1
	gc="$T/gcore.$LC_TARGET_PID"
	[ -s "$gc" ]
	# every thread's pid, pc, sp and thread pointer
	assert_equal "$(notes_regs "$T/notes")" "$(notes_regs "$gc")"
	# the whole register set of each thread (gcore writes no ppid, pgrp,
	# sid, fpvalid or signal masks: those lines are left out)
	regs() {
		eu-readelf -n "$1" | awk '/PRSTATUS/ { p = 1; next } /^  [A-Z]/ { p = 0 }
			p && !/ppid|sig|fpvalid|utime/' | sort
	}
	[ "$(regs "$T/notes" | grep -Ec ' (rip|pc): ')" = 4 ]
	assert_equal "$(regs "$T/notes")" "$(regs "$gc")"
	section() {
		eu-readelf -n "$1" | awk -v n="$2" '$3 == n { p = 1; next } /^  [A-Z]/ { p = 0 } p'
	}
	section "$T/notes" AUXV | grep -q PAGESZ
	section "$T/notes" FILE | grep -q "$(lc_info exe)"
	assert_equal "$(section "$T/notes" AUXV)" "$(section "$gc" AUXV)"
	assert_equal "$(section "$T/notes" FILE)" "$(section "$gc" FILE)"
}

# signals_are_the_kernels THREADS INDEX - a standard and a real-time signal
# queued to thread INDEX of an lc-target of THREADS threads (which block
# them), then every thread's pending and blocked sets in the core equal
# its /proc status
signals_are_the_kernels() {
	lc_start_target --threads "$1"
	tid=$(lc_info "thread.$2.tid")
	# lc-target's threads block every signal: these stay queued to the thread
	perl -e 'for my $s (12, 40) { syscall(234, $ARGV[0] + 0, $ARGV[1] + 0, $s) == 0 or die "tgkill: $!" }' \
		"$LC_TARGET_PID" "$tid"
	run -0 --separate-stderr livecore.sh -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/s.core"
	run -0 eu-readelf -n "$BATS_TEST_TMPDIR/s.core"
	notes=$output
	for t in $(ls "/proc/$LC_TARGET_PID/task"); do
		pnd=$(awk '$1 == "SigPnd:" { print $2 }' "/proc/$LC_TARGET_PID/task/$t/status")
		blk=$(awk '$1 == "SigBlk:" { print $2 }' "/proc/$LC_TARGET_PID/task/$t/status")
		# eu-readelf writes the sets as signal numbers: <1,2> or ~<...>
		run -0 awk -v t="$t" '/^ *sigpend: / { p = $2 } /^ *sighold: / { h = $2 }
			$1 == "pid:" && $2 == t "," { print p, h; exit }' <<<"$notes"
		read -r core_pnd core_blk <<<"$output"
		[ "$(sigset_of "$core_pnd")" = "$(printf %u $((16#$pnd)))" ] || { echo "thread $t: pending $core_pnd, /proc $pnd"; false; }
		[ "$(sigset_of "$core_blk")" = "$(printf %u $((16#$blk)))" ] || { echo "thread $t: blocked $core_blk, /proc $blk"; false; }
	done
	[ "$(awk '$1 == "SigPnd:" { print $2 }' "/proc/$LC_TARGET_PID/task/$tid/status")" = 0000008000000800 ]
}

@test "the notes: every thread's pending and blocked signals are the kernel's (a standard and a real-time signal queued to a thread that blocks them)" {
	command -v eu-readelf >/dev/null || skip "needs: eu-readelf (elfutils)"
	command -v perl >/dev/null || skip "needs: perl (tgkill)"
	signals_are_the_kernels 2 0
}

@test "the notes: the same with 64 threads and the main one, whose stat files a second thread of lc-freeze reads in the stop" {
	command -v eu-readelf >/dev/null || skip "needs: eu-readelf (elfutils)"
	command -v perl >/dev/null || skip "needs: perl (tgkill)"
	signals_are_the_kernels 64 50
}

# sigset_of SET - eu-readelf's <1,5-7> or ~<...> as the 64-bit mask, decimal
sigset_of() {
	local set=$1 neg=0 mask=0 r a b
	[[ $set == "~"* ]] && neg=1 && set=${set#\~}
	set=${set#<}
	set=${set%>}
	for r in ${set//,/ }; do
		a=${r%-*} b=${r#*-}
		for ((s = a; s <= b; s++)); do
			mask=$((mask | (1 << (s - 1))))
		done
	done
	[ "$neg" = 1 ] && mask=$((~mask))
	printf '%u\n' "$mask"
}

# freeze_field WORKDIR KEY - KEY's number in the freeze header of the
# manifest lc-freeze wrote in livecore.sh's work directory
freeze_field() {
	sed -n "s/^# freeze .* $2=\([0-9]*\) .*/\1/p" "$1/manifest.freeze"
}

@test "-T none: a delta of 96 MiB goes to the staging file as pass 1 went, with O_DIRECT where the filesystem takes it, and the core holds every page as it was at the stop" {
	local fs
	lc_start_target --pattern-mib 96 --dirty-set 64 --dirty-rate 6400
	sleep 0.1
	run -0 --separate-stderr livecore.sh -k -T none -w "$T" "$LC_TARGET_PID" "$T/none.core"
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	run -0 grep '^# freeze ' "$work/manifest.freeze"
	lc_say "$output"
	delta=$(freeze_field "$work" delta-bytes)
	[ "$delta" -ge $((96 << 20)) ]
	fs=$(stat -f -c %T "$T")
	case $fs in
	tmpfs | ramfs) assert_output --regexp ' delta-write=cache ' ;;
	ext2/ext3 | xfs | btrfs) assert_output --regexp ' delta-write=direct ' ;;
	*) lc_say "staging on $fs: no expectation of how the delta was written" ;;
	esac
	lc_check_generations "$T/none.core"
	kill -0 "$LC_TARGET_PID"
}

@test "uffd, a writer as fast as the copy: the stop reads the delta into memory allocated before it (delta-held), writes it to the staging file after the resume (flush-us), and the core holds every page as at the stop; with -M 0 nothing is held" {
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	# 16 000 of its 16 384 pattern pages rewritten in turn, as fast as it can
	lc_start_target --pattern-mib 64 --dirty-set 16000 --dirty-rate 100000000
	sleep 0.3
	run -0 --separate-stderr livecore.sh -k -T uffd -w "$T" "$LC_TARGET_PID" "$T/held.core"
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	run -0 grep '^# freeze ' "$work/manifest.freeze"
	lc_say "$output"
	held=$(freeze_field "$work" delta-held)
	delta=$(freeze_field "$work" delta-bytes)
	# a fast writer's delta is megabytes, and held as far as it fit
	[ "$delta" -ge $((4 << 20)) ]
	[ "$held" -gt 0 ] && [ "$held" -le "$delta" ]
	assert_output --regexp ' flush-us=[0-9]+ '
	assert_regex "$stderr" "lc-freeze: pause [0-9]+ us \\(.*, $held held in memory\\)"
	lc_check_generations "$T/held.core"
	rm -rf "$work" "$T/held.core"

	run -0 --separate-stderr livecore.sh -k -T uffd -M 0 -w "$T" "$LC_TARGET_PID" "$T/none.core"
	work=$(find "$T" -maxdepth 1 -name '.livecore.*')
	run -0 grep '^# freeze ' "$work/manifest.freeze"
	assert_output --regexp ' delta-held=0 '
	refute_output --regexp ' flush-us='
	lc_check_generations "$T/none.core"
	kill -0 "$LC_TARGET_PID"
	run -2 --separate-stderr livecore.sh -M lots "$LC_TARGET_PID" "$T/bad.core"
	assert_regex "$stderr" 'bad memory size "lots"'
}
