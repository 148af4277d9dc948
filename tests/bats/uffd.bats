#!/usr/bin/env bats
# uffd tracking (issue 7): a userfaultfd injected into the target, async
# write-protect and PAGEMAP_SCAN; the handoff from lc-precopy to lc-freeze,
# the cleanup, the refusals. Runs where the kernel has it (Linux 6.7+).
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	LC_UT="$LIVECORE_BUILD/targets/lc-uffd-target"
	M="$BATS_TEST_TMPDIR/m"
	OUT="$BATS_TEST_TMPDIR/out"
	STAGE="$BATS_TEST_TMPDIR/stage"
	UT_PIDS=()
	uffd_works || skip "needs: uffd (userfaultfd async write-protect, PAGEMAP_SCAN: Linux 6.7+)"
}

teardown() {
	local pid

	lc_cleanup_targets
	for pid in "${UT_PIDS[@]}"; do
		lc_kill_target "$pid"
	done
	if [ -n "${SWAPFILE:-}" ]; then
		swapoff "$SWAPFILE" 2>/dev/null
		rm -f "$SWAPFILE"
	fi
}

# probe by doing: -T uffd on lc-precopy itself would need a target; the
# tool's own probe runs in its process, so ask it with a tiny target
uffd_works() {
	[ -n "${LC_UFFD_WORKS:-}" ] && return "$LC_UFFD_WORKS"
	local v
	v=$(uname -r)
	local major=${v%%.*} minor=${v#*.}
	minor=${minor%%.*}
	if [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 7 ]; }; then
		LC_UFFD_WORKS=0
	else
		LC_UFFD_WORKS=1
	fi
	return "$LC_UFFD_WORKS"
}

# start_ut ARGS... - starts lc-uffd-target; sets UT_PID and UT_INFO
start_ut() {
	UT_INFO="$BATS_TEST_TMPDIR/ut${#UT_PIDS[@]}.info"
	lc_start_program "$LC_UT" "$UT_INFO" "$@"
	local rc=$?
	UT_PID=$LC_STARTED_PID
	UT_PIDS+=("$UT_PID")
	return $rc
}

# usr1_and_wait - SIGUSR1 to the target, wait for its done counter to move
usr1_and_wait() {
	local before after i

	before=$(cat "$UT_INFO.done" 2>/dev/null || echo none)
	kill -USR1 "$UT_PID"
	for ((i = 0; i < 500; i++)); do
		after=$(cat "$UT_INFO.done" 2>/dev/null || echo none)
		[ "$after" != "$before" ] && return 0
		sleep 0.01
	done
	echo "the target never did its action" >&2
	return 1
}

# no_uffd_left PID - no userfaultfd in its fds, no uw in its smaps
no_uffd_left() {
	run -0 bash -c "ls -l /proc/$1/fd | grep -c 'anon_inode:\[userfaultfd\]' || true"
	assert_output 0
	run -0 bash -c "grep -c '^VmFlags:.* uw' /proc/$1/smaps || true"
	assert_output 0
}

uffd_fd_of() { awk '$2 == "uffd" { sub("^fd=", "", $3); print $3; exit }' "$1"; }

pass_field() { # MANIFEST PASS KEY
	awk -v n="$2" -v k="$3" '$2 == "pass" && $3 == n {
		for (i = 4; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1"
}

# stage_offset MANIFEST ADDR - staging offset of ADDR through the extents
# of the record holding it (decimal)
stage_offset() {
	local range ext x s e o a=$(($2))

	while read -r range ext; do
		s=0x${range%-*} e=0x${range#*-}
		((a >= s && a < e)) || continue
		for x in ${ext//,/ }; do
			s=0x${x%%-*}
			e=${x#*-}
			o=0x${e#*@}
			e=0x${e%@*}
			if ((a >= s && a < e)); then
				echo $((o + a - s))
				return 0
			fi
		done
	done < <(awk '$1 ~ /^[0-9a-f]+-/ { print $1, $9 }' "$1")
	echo "no extent holds $2 in $1" >&2
	return 1
}

# bats test_tags=vm:arm64,vm:arm64-16k
@test "uffd: -T auto picks uffd on a kernel without soft-dirty; LIVECORE_FORCE_TRACKING=none gives none" {
	"$LIVECORE_BUILD/targets/lc-precopy-target" --probe-soft-dirty && skip "needs: kernel without soft-dirty"
	start_ut --region 4
	lc-maps "$UT_PID" >"$M"
	run --separate-stderr -0 lc-precopy -q -s "$STAGE" "$UT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT"
	assert_equal "$stderr" ''
	run -0 grep -E '^# (tracking|stop-copy) ' "$OUT"
	assert_output $'# tracking uffd\n# stop-copy dirty'
	run -0 grep -E '^# uffd fd=[0-9]+ inject-us=[0-9]+$' "$OUT"
	run -0 lc-precopy -R "$(uffd_fd_of "$OUT")" "$UT_PID"
	no_uffd_left "$UT_PID"
	rm -f "$STAGE"
	LIVECORE_FORCE_TRACKING=none run --separate-stderr -0 lc-precopy -q -s "$STAGE" "$UT_PID" <"$M"
	assert_regex "$output" $'# tracking none\n# stop-copy all'
	no_uffd_left "$UT_PID"
}

# bats test_tags=vm:arm64
@test "uffd: every 7th page written between two passes: the next pass copies exactly those; reads are not reported" {
	start_ut --region 16 --on-usr1 every-7th
	pages=$(lc_info region.pages "$UT_INFO")
	written=$(((pages + 6) / 7))
	lc-maps "$UT_PID" >"$M"
	run -0 --separate-stderr lc-precopy -q -T uffd -p 1 -s "$STAGE" "$UT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	usr1_and_wait
	run -0 --separate-stderr lc-precopy -q -c -p 1 -s "$STAGE" "$UT_PID" <"$OUT.1"
	printf '%s\n' "$output" >"$OUT.2"
	dirty=$(pass_field "$OUT.2" 2 dirty)
	echo "written $written dirty $dirty"
	# exactly those, and a few of the target's own (its stack, libc data)
	[ "$dirty" -ge "$written" ]
	[ "$dirty" -le $((written + 16)) ]
	# the staged pages hold the new generation
	raddr=$(lc_info region.addr "$UT_INFO")
	run -0 "$LC_PAGECHECK" "$STAGE" "$(stage_offset "$OUT.2" "$raddr")" "$raddr" 1 2
	assert_output 'good 1 bad 0'
	# reads of the whole region: nothing to copy there
	kill -9 "$UT_PID"
	start_ut --region 16 --on-usr1 read
	lc-maps "$UT_PID" >"$M"
	rm -f "$STAGE"
	run -0 --separate-stderr lc-precopy -q -T uffd -p 1 -s "$STAGE" "$UT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	usr1_and_wait
	run -0 --separate-stderr lc-precopy -q -c -p 1 -s "$STAGE" "$UT_PID" <"$OUT.1"
	printf '%s\n' "$output" >"$OUT.2"
	dirty=$(pass_field "$OUT.2" 2 dirty)
	echo "after reading $pages pages: dirty $dirty"
	[ "$dirty" -le 16 ]
	run -0 lc-precopy -R "$(uffd_fd_of "$OUT.2")" "$UT_PID"
	no_uffd_left "$UT_PID"
}

@test "uffd: writes by the kernel (read(2) into the region) and by process_vm_writev from outside are reported" {
	start_ut --region 4 --on-usr1 kernel
	raddr=$(lc_info region.addr "$UT_INFO")
	lc-maps "$UT_PID" >"$M"
	run -0 --separate-stderr lc-precopy -q -T uffd -p 1 -s "$STAGE" "$UT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	usr1_and_wait
	# 8 pages from outside, past the 16 the kernel wrote
	run -0 "$LC_UT" --poke "$UT_PID" $((raddr + 32 * 4096)) 8
	run -0 --separate-stderr lc-precopy -q -c -p 1 -s "$STAGE" "$UT_PID" <"$OUT.1"
	printf '%s\n' "$output" >"$OUT.2"
	dirty=$(pass_field "$OUT.2" 2 dirty)
	echo "dirty $dirty"
	[ "$dirty" -ge 24 ]
	[ "$dirty" -le 40 ]
	off=$(stage_offset "$OUT.2" "$raddr")
	run -0 "$LC_PAGECHECK" "$STAGE" "$off" "$raddr" 16 5
	assert_output 'good 16 bad 0'
	run -0 "$LC_PAGECHECK" "$STAGE" $((off + 32 * 4096)) $((raddr + 32 * 4096)) 8 7
	assert_output 'good 8 bad 0'
	run -0 lc-precopy -R "$(uffd_fd_of "$OUT.2")" "$UT_PID"
	no_uffd_left "$UT_PID"
}

# bats test_tags=slow
@test "uffd: a writer sweeping generations through 256 MiB: the staged region is one instant (no torn page), the final delta far smaller" {
	start_ut --sweep 256 --rate 20000
	saddr=$(lc_info sweep.addr "$UT_INFO")
	spages=$(lc_info sweep.pages "$UT_INFO")
	lc-maps "$UT_PID" >"$M"
	run -0 --separate-stderr lc-precopy -q -T uffd -s "$STAGE" "$UT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	run -0 --separate-stderr lc-freeze -s "$STAGE" -n "$BATS_TEST_TMPDIR/notes" "$UT_PID" <"$OUT.1"
	printf '%s\n' "$output" >"$OUT.2"
	echo "$stderr"
	grep '^# pass ' "$OUT.1"
	delta=$(awk '$2 == "freeze" { for (i = 3; i <= NF; i++) if ($i ~ /^delta-pages=/) { sub("delta-pages=", "", $i); print $i } }' "$OUT.2")
	echo "delta $delta of $spages pages"
	[ "$delta" -lt $((spages / 10)) ]
	run -0 "$LC_UT" --check-sweep "$STAGE" "$(stage_offset "$OUT.2" "$saddr")" "$saddr" "$spages"
	echo "$output"
	assert_regex "$output" '^torn 0 steps [01]$'
	run -0 grep -c '^# uffd-close us=' "$OUT.2"
	no_uffd_left "$UT_PID"
}

@test "uffd: passes end when another would not pay: a writer as fast as the copy after few, copying at most 1.5x the first pass; a quiet target converged; the rates said" {
	# as fast as it can: every pattern page rewritten in turn, for ever
	lc_start_target --pattern-mib 64 --dirty-rate 100000000
	lc-maps "$LC_TARGET_PID" >"$M"
	run -0 --separate-stderr lc-precopy -q -T uffd -s "$STAGE" "$LC_TARGET_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	grep -E '^# (pass|precopy-end) ' "$OUT.1"
	run -0 awk '$2 == "precopy-end" { print $3 }' "$OUT.1"
	assert_regex "$output" '^reason=(not-halving|copy-limit|outpaced)$'
	# the bytes every pass copied: at most 1.5x the first pass's
	first=$(pass_field "$OUT.1" 1 bytes)
	run -0 awk '$2 == "pass" { for (i = 4; i <= NF; i++) if ($i ~ /^bytes=/) { sub("bytes=", "", $i); n += $i } } END { print n }' "$OUT.1"
	echo "copied $output, pass 1 $first"
	[ $((2 * output)) -le $((3 * first)) ]
	run -0 grep -E "^# precopy-end .* copied=$output\$" "$OUT.1"
	# it writes at least half as fast as the pass copies, and says so
	run -0 awk '$2 == "precopy-end" { for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		print (f["dirty-bps"] > 0 && f["copy-bps"] > 0 && f["interval-ms"] >= 0 && f["dirty"] > 64) ? "ok" : "bad" }' "$OUT.1"
	assert_output ok
	run -0 --separate-stderr lc-freeze -s "$STAGE" -n "$BATS_TEST_TMPDIR/notes" "$LC_TARGET_PID" <"$OUT.1"
	no_uffd_left "$LC_TARGET_PID"
	# the driver's summary says why, with the rates
	run -0 --separate-stderr livecore.sh -T uffd "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/fast.core"
	assert_regex "$stderr" "pre-copy passes \\(uffd\\), (not converging|at 1\\.5x the bytes of pass 1|outpaced \\(pass 1 ended early\\)) \\(dirty pages [0-9]+( [0-9]+)*; the process wrote [0-9.]+ MB/s, the last pass copied [0-9.]+ MB/s\\)"
	lc_kill_target "$LC_TARGET_PID" || true

	# a quiet target: what it writes between passes is left to the stop
	lc_start_target --pattern-mib 16
	run -0 --separate-stderr livecore.sh -k -T uffd "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/quiet.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\), converged \(dirty pages [0-9]+'
	run -0 awk '$2 == "precopy-end" { print $3 }' "$BATS_TEST_TMPDIR"/.livecore.*/manifest.precopy
	assert_output reason=converged
}

# bats test_tags=vm:arm64
@test "uffd: threads blocked in read, nanosleep, futex, epoll_wait and one in a signal handler resume with correct results" {
	start_ut --blockers
	sleep 0.2
	lc-maps "$UT_PID" >"$M"
	run -0 --separate-stderr lc-precopy -q -T uffd -s "$STAGE" "$UT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	run -0 --separate-stderr lc-freeze -s "$STAGE" -n "$BATS_TEST_TMPDIR/notes" "$UT_PID" <"$OUT.1"
	kill -USR1 "$UT_PID"
	for _ in $(seq 800); do
		[ -s "$UT_INFO.result" ] && break
		sleep 0.01
	done
	run -0 sort "$UT_INFO.result"
	assert_output $'epoll=ok\nfutex=ok\nhandler=ok\nnanosleep=ok\nread=ok'
	no_uffd_left "$UT_PID"
}

# bats test_tags=vm:arm64
@test "uffd: a target with 64 threads: injection and close, every thread runs on" {
	start_ut --region 4 --threads 64
	[ "$(ls /proc/"$UT_PID"/task | wc -l)" -ge 65 ]
	run -0 --separate-stderr livecore.sh -T uffd -k -w "$BATS_TEST_TMPDIR" "$UT_PID" "$BATS_TEST_TMPDIR/t.core"
	work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
	inject=$(awk '$2 == "uffd" { sub("inject-us=", "", $4); print $4 }' "$work/manifest.precopy")
	echo "injection window $inject us with 65 threads"
	[ "$inject" -gt 0 ]
	run -0 lc_proc_state "$UT_PID"
	refute_output --regexp '^[tT]$'
	no_uffd_left "$UT_PID"
}

@test "uffd: cleanup after success, failure and SIGINT of livecore.sh, SIGTERM of lc-precopy before it told the fd's number, and kill -9 between stages + lc-precopy -R" {
	lc_start_target --pattern-mib 64 --dirty-rate 5000 --progress-file "$BATS_TEST_TMPDIR/progress"
	# success
	run -0 --separate-stderr livecore.sh -T uffd -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/ok.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	no_uffd_left "$LC_TARGET_PID"
	# failure: the core exists and -f is not given, after the stop...
	# lc-elfwrite refuses; earlier: an unwritable work directory is
	# refused before anything. A failing lc-freeze: a bogus budget retry
	# count of 0 with a 0 ms budget makes livecore.sh exit 6
	run --separate-stderr -6 livecore.sh -T uffd -b 0 -r 0 -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/f.core"
	no_uffd_left "$LC_TARGET_PID"
	# SIGINT during pre-copy (at its default in the driver, as in a
	# terminal's foreground: livecore.bats, interrupt_livecore)
	setsid env --default-signal=INT livecore.sh -T uffd -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" \
		"$BATS_TEST_TMPDIR/i.core" 2>"$BATS_TEST_TMPDIR/err" &
	driver=$!
	for _ in $(seq 500); do
		ls -l /proc/"$LC_TARGET_PID"/fd 2>/dev/null | grep -q userfaultfd && break
		sleep 0.005
	done
	kill -INT -- "-$driver"
	wait "$driver" || true
	cat "$BATS_TEST_TMPDIR/err"
	no_uffd_left "$LC_TARGET_PID"
	# SIGTERM to lc-precopy right after the injection, before it has said
	# the fd's number: the interrupt waits for the handler, which closes it
	lc-maps "$LC_TARGET_PID" >"$M"
	LIVECORE_TEST_HANDOFF_DELAY_MS=500 lc-precopy -q -T uffd -s "$BATS_TEST_TMPDIR/term.stage" \
		"$LC_TARGET_PID" <"$M" >"$BATS_TEST_TMPDIR/term.m" 2>"$BATS_TEST_TMPDIR/term.err" &
	precopy=$!
	for _ in $(seq 400); do
		ls -l /proc/"$LC_TARGET_PID"/fd 2>/dev/null | grep -q userfaultfd && break
		sleep 0.005
	done
	kill -TERM "$precopy"
	rc=0
	wait "$precopy" || rc=$?
	cat "$BATS_TEST_TMPDIR/term.err"
	assert_equal "$rc" 8
	[ ! -e "$BATS_TEST_TMPDIR/term.stage" ]
	no_uffd_left "$LC_TARGET_PID"
	# kill -9 between the stages: the fd stays, the release command closes it
	lc-maps "$LC_TARGET_PID" >"$M"
	lc-precopy -q -T uffd -s "$STAGE" "$LC_TARGET_PID" <"$M" >"$OUT"
	fd=$(uffd_fd_of "$OUT")
	run -0 readlink "/proc/$LC_TARGET_PID/fd/$fd"
	assert_output 'anon_inode:[userfaultfd]'
	run -0 --separate-stderr lc-precopy -R "$fd" "$LC_TARGET_PID"
	assert_regex "$stderr" "closed the userfaultfd \\(fd $fd\\) in process $LC_TARGET_PID"
	no_uffd_left "$LC_TARGET_PID"
	# again: nothing to release, nothing touched
	run -0 --separate-stderr lc-precopy -R "$fd" "$LC_TARGET_PID"
	assert_regex "$stderr" 'nothing to release'
	p1=$(cat "$BATS_TEST_TMPDIR/progress")
	sleep 0.2
	[ "$(cat "$BATS_TEST_TMPDIR/progress")" -gt "$p1" ]
}

@test "uffd: new VMAs during pre-copy (mmap, brk growth, mremap) are registered, copied, and dumped right" {
	start_ut --new-vmas
	sleep 0.3
	run -0 --separate-stderr livecore.sh -T uffd -p 6 -t 0 -k -w "$BATS_TEST_TMPDIR" "$UT_PID" "$BATS_TEST_TMPDIR/n.core"
	work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
	grep '^# pass ' "$work/manifest.precopy"
	[ "$(grep -c '^# pass ' "$work/manifest.precopy")" -ge 2 ]
	run -0 "$LC_UT" --check-core "$BATS_TEST_TMPDIR/n.core" "$(lc_info ledger.addr "$UT_INFO")"
	echo "$output"
	assert_regex "$output" '^regions [0-9]+ good [0-9]+ bad 0$'
	[ "$(echo "$output" | awk '{ print $4 }')" -gt 100 ]
	no_uffd_left "$UT_PID"
}

# bats test_tags=vm:arm64
@test "uffd: a target whose seccomp filter kills on userfaultfd: injected into with its filter suspended, it survives; without CAP_SYS_ADMIN never injected into" {
	start_ut --region 4 --seccomp-kill-uffd
	run --separate-stderr -0 livecore.sh -w "$BATS_TEST_TMPDIR" "$UT_PID" "$BATS_TEST_TMPDIR/s.core"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	kill -0 "$UT_PID"
	no_uffd_left "$UT_PID"
	# without CAP_SYS_ADMIN: asked for explicitly, refused (4), nothing
	# created, target alive
	lc-maps "$UT_PID" >"$M"
	run --separate-stderr -4 setpriv --bounding-set -sys_admin -- \
		lc-precopy -q -T uffd -s "$STAGE" "$UT_PID" <"$M"
	assert_regex "$stderr" 'cannot track with uffd: .*under seccomp, CAP_SYS_ADMIN not held'
	[ ! -e "$STAGE" ]
	kill -0 "$UT_PID"
	no_uffd_left "$UT_PID"
}

@test "uffd: a target another tracer holds is not injected into: -T auto falls back to none, -T uffd is refused (4)" {
	command -v strace >/dev/null || skip "needs: strace"
	start_ut --region 1
	strace -p "$UT_PID" -o /dev/null 3>&- &
	tracer=$!
	for _ in $(seq 200); do
		[ "$(awk '/^TracerPid:/ { print $2 }' /proc/"$UT_PID"/status)" != 0 ] && break
		sleep 0.01
	done
	lc-maps "$UT_PID" >"$M"
	run --separate-stderr -0 lc-precopy -q -s "$STAGE" "$UT_PID" <"$M"
	assert_regex "$stderr" 'no dirty tracking \(uffd refused: process [0-9]+: it is already traced by another process\)'
	assert_regex "$output" '# tracking none'
	rm -f "$STAGE"
	run --separate-stderr -4 lc-precopy -q -T uffd -s "$STAGE" "$UT_PID" <"$M"
	[ ! -e "$STAGE" ]
	kill "$tracer"
	wait "$tracer" || true
	no_uffd_left "$UT_PID"
}

# bats test_tags=needs:root
@test "uffd: lc-precopy keeps CAP_SYS_PTRACE alone (the injection, and the close if it fails)" {
	lc_require_root
	start_ut --region 1
	lc-maps "$UT_PID" >"$M"
	LIVECORE_DEBUG_PRIVILEGES=1 run --separate-stderr -0 lc-precopy -q -T uffd -s "$STAGE" "$UT_PID" <"$M"
	assert_regex "$stderr" 'CapPrm=0000000000080000 CapEff=0000000000080000'
	run -0 lc-precopy -R "$(uffd_fd_of <(printf '%s\n' "$output"))" "$UT_PID"
	no_uffd_left "$UT_PID"
}

# bats test_tags=slow
@test "uffd: on the same target the pause is a fraction of the pause without a tracker" {
	lc_start_target --pattern-mib 512 --dirty-rate 1000
	pause_of() { awk '$2 == "freeze" { sub("pause-us=", "", $3); print $3 }' "$1"; }
	for mode in uffd none; do
		run -0 --separate-stderr livecore.sh -T "$mode" -q -k -w "$BATS_TEST_TMPDIR" "$LC_TARGET_PID" "$BATS_TEST_TMPDIR/$mode.core"
		work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
		cp "$work/manifest.freeze" "$BATS_TEST_TMPDIR/$mode.m"
		rm -rf "$work" "$BATS_TEST_TMPDIR/$mode.core"
	done
	u=$(pause_of "$BATS_TEST_TMPDIR/uffd.m") n=$(pause_of "$BATS_TEST_TMPDIR/none.m")
	echo "pause: uffd $u us, none $n us"
	[ $((u * 5)) -lt "$n" ]
	no_uffd_left "$LC_TARGET_PID"
}

@test "uffd: pages swapped out after the pre-copy, clean or written since, are data: the stop reads them back, none is punched" {
	lc_require_root
	# a swap file of our own: the stop's look finds these pages not
	# present, and must tell them from holes
	SWAPFILE=$(mktemp /var/tmp/lc-swap.XXXXXX)
	fallocate -l 64M "$SWAPFILE" && chmod 0600 "$SWAPFILE" && mkswap "$SWAPFILE" >/dev/null &&
		swapon "$SWAPFILE" 2>/dev/null || skip "needs: swapon of a file in /var/tmp"
	lc_start_target --pattern-mib 8 --dirty-rate 2000
	addr=$(lc_info pattern.addr)
	lc-maps "$LC_TARGET_PID" >"$M"
	run -0 --separate-stderr lc-precopy -q -T uffd -s "$STAGE" "$LC_TARGET_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	# the dirtier rewrites pages meanwhile: some written, then swapped
	sleep 0.3
	run -0 "$LIVECORE_BUILD/targets/lc-pageout" "$LC_TARGET_PID" "$addr" $((8 << 20))
	swapped=$(awk -v a="$(printf '%x' "$addr")" 'index($1, a "-") == 1 { s = 1 } s && $1 == "Swap:" { print $2; exit }' \
		"/proc/$LC_TARGET_PID/smaps")
	echo "swapped: $swapped kB"
	[ "${swapped:-0}" -gt 4096 ] || skip "the kernel swapped out only ${swapped:-0} kB of 8 MiB"
	LIVECORE_TRACE="$BATS_TEST_TMPDIR/trace" run -0 --separate-stderr \
		lc-freeze -s "$STAGE" -n "$BATS_TEST_TMPDIR/notes" "$LC_TARGET_PID" <"$OUT.1"
	printf '%s\n' "$output" >"$OUT.2"
	# every pattern page is in the stage, none a hole
	ext=$(awk -v a="$(printf '%x' "$addr")" 'index($1, a "-") == 1 { print $9 }' "$OUT.2")
	[[ $ext == *@* && $ext != *,* ]]
	run -0 "$LC_PAGECHECK" "$STAGE" "0x${ext#*@}" "$addr" 2048
	# and no punch of the stop touched it (punches elsewhere are fine)
	while read -r _ _ what range; do
		[ "$what" = punch ] || continue
		if ((0x${range%-*} < addr + (8 << 20) && 0x${range#*-} > addr)); then
			fail "the stop punched $range, inside the pattern"
		fi
	done <"$BATS_TEST_TMPDIR/trace"
	no_uffd_left "$LC_TARGET_PID"
}

# bats test_tags=vm:arm64
@test "uffd: a child forked during pre-copy inherits the fd; lc-freeze closes it there too, and the parent is left untracked" {
	start_ut --region 4 --on-usr1 fork
	lc-maps "$UT_PID" >"$M"
	run -0 --separate-stderr lc-precopy -q -T uffd -s "$STAGE" "$UT_PID" <"$M"
	printf '%s\n' "$output" >"$OUT.1"
	usr1_and_wait
	child=$(awk -F= '/^child=/ { print $2 }' "$UT_INFO.done")
	UT_PIDS+=("$child")
	run -0 --separate-stderr lc-freeze -s "$STAGE" -n "$BATS_TEST_TMPDIR/notes" "$UT_PID" <"$OUT.1"
	# the child's copy is closed in it (it would keep the parent's ranges
	# registered): the parent is untracked once lc-freeze exits
	no_uffd_left "$child"
	no_uffd_left "$UT_PID"
	run -0 lc_proc_state "$child"
	assert_output --regexp '^[RS]$'
}

say() { printf '# %s\n' "$*" >&3; }

# anon_huge_kb PID - AnonHugePages of the whole process, in kB
anon_huge_kb() { awk '$1 == "AnonHugePages:" { print $2 }' "/proc/$1/smaps_rollup"; }

@test "uffd: the huge pages its writes split during the dump are collapsed again after it (MADV_COLLAPSE), as many as before" {
	lc_require_root
	lc_start_target --pattern-mib 128 --thp --dirty-rate 20000
	pid=$LC_TARGET_PID
	# the region's huge pages come at its first touch or from khugepaged
	for _ in $(seq 150); do
		[ "$(anon_huge_kb "$pid")" -ge $((120 << 10)) ] && break
		sleep 0.1
	done
	before=$(anon_huge_kb "$pid")
	[ "$before" -ge $((120 << 10)) ] || skip "needs: transparent huge pages (the region got $before kB)"
	LIVECORE_DEBUG_PRIVILEGES=1 run -0 --separate-stderr \
		livecore.sh -T uffd -k -w "$BATS_TEST_TMPDIR" "$pid" "$BATS_TEST_TMPDIR/t.core"
	after=$(anon_huge_kb "$pid")
	# lc-freeze: CAP_SYS_NICE (bit 23) only permitted through the stop
	# (in force for the seize's and the detach's sched_setscheduler), in
	# force with CAP_SYS_PTRACE for the collapse, nothing after it
	assert_regex "$stderr" 'lc-freeze: privileges after setup: CapInh=0+ CapPrm=0000000000880000 CapEff=0000000000080000 '
	assert_regex "$stderr" 'lc-freeze: privileges after the stop: CapInh=0+ CapPrm=0+ CapEff=0+ '
	work=$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.livecore.*')
	line=$(grep '^# thp-restore ' "$work/manifest.freeze")
	say "AnonHugePages $before -> $after kB; $line"
	# lc-precopy listed the region's huge pages when it protected them
	run -0 grep -c '^# thp ' "$work/manifest.precopy"
	# the writer split some (it writes 20 000 pages a second), and every
	# one of them was collapsed again
	split=$(sed 's/.* split=\([0-9]*\) .*/\1/' <<<"$line")
	collapsed=$(sed 's/.* collapsed=\([0-9]*\) .*/\1/' <<<"$line")
	[ "$split" -ge 1 ] && [ "$collapsed" -eq "$split" ]
	assert_regex "$stderr" "$collapsed of $split split huge pages collapsed again in [0-9.]+ ms"
	# the process is as huge as it was: within 5 %
	[ $((100 * after)) -ge $((95 * before)) ]
	kill -0 "$pid"
}
