#!/bin/bash
# bench/writers.sh - `make bench-writers`: processes that write as fast as
# livecore copies (issue 26), dumped per tracking mode, several rounds
# each, gcore once beside:
#
#   rate R    bench/bench-target with a 1 GiB heap whose dirtier writes R
#             MB/s (R/4 thousand pages a second, one byte of each, spread
#             over the heap), stepped up to the copy rate (BENCH_RATES,
#             default "100 400 1000 1600 max"); after a stop it catches up
#             on what it owes (up to a second's worth), as a server with
#             requests queued does; "max": as fast as it can, its CPU time
#             setting the rate. The stall is the longest any of its
#             threads made no progress during the dump.
#   JVM       OpenJDK 17 from Debian, -Xmx1g -XX:+UseG1GC, 8 threads
#             allocating byte[] of up to 64 KiB as fast as they can over a
#             live set of 600 MiB (tests/targets/java/LcAlloc.java), and the
#             same with -XX:+UseTransparentHugePages; the stall is the
#             longest lateness of a Java thread that parks 0.5 ms at a time
#             (lc-watch: a ptrace stop, a GC safepoint, a CPU taken), with
#             the same over 2 s without a dump beside it.
#
# Per row and mode: the pause (min/median/max), lc-freeze's estimate (the
# median dump's), the passes and why they ended (precopy-end), the bytes
# copied (passes and stop) against the core's bytes on disk, the delta's
# bytes held in memory (hold.h), the throttle's stops (how many, at what
# duty at the end, the longest and all together), the worst stall. "clone" after why the
# passes ended: the stop made a clone and the delta came from it (the
# copied bytes count what was copied from the clone). The table goes to
# docs/BENCHMARKS.md between the bench-writers markers and to standard
# output. Root.
#
# Environment: BENCH_ROWS (default "rates jvm jvm-thp"), BENCH_RATES,
# BENCH_MODES (default "auto throttle uffd fork none": auto is the default
# mode, whose stop over the budget makes a clone, lc-freeze -F; throttle
# the same where no clone can be made, LIVECORE_TEST_NO_CLONE: the
# ladder's second step), BENCH_ROUNDS (default 3), BENCH_OUT
# (default docs/BENCHMARKS.md), BENCH_DIR (default /var/tmp), LIVECORE_BUILD.
set -u

prog=bench/writers.sh
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIVECORE_BUILD:-$top/build}
out_md=${BENCH_OUT:-$top/docs/BENCHMARKS.md}
modes=${BENCH_MODES:-auto throttle uffd fork none}
rounds=${BENCH_ROUNDS:-3}
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
for f in "$build/bin/livecore.sh" "$build/bench/bench-target"; do
	[ -x "$f" ] || die "$f is not built (run: make bench-writers)"
done

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/lc-bench-writers.XXXXXX") || die "no work directory"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
rows=$work/rows
: >"$rows"

# dump MODE PID -> one line "pause_ms estimate_ms passes reason copied_mib
# core_mib held_mib", or "failed"
dump() {
	local kept
	rm -f "$work/core"
	# throttle: the default mode where no clone can be made (the
	# ladder's second step, livecore(1))
	local mode=$1 env=
	[ "$mode" = throttle ] && mode=auto env=LIVECORE_TEST_NO_CLONE=1
	if ! env $env "$build/bin/livecore.sh" -k -q -T "$mode" -w "$work" "$2" "$work/core" 2>"$work/err"; then
		say "livecore.sh -T $1 $2 failed:"
		cat "$work/err" >&2
		rm -rf "$work"/.livecore.*
		echo failed
		return
	fi
	say "-T $1: $(grep '^livecore: ' "$work/err")"
	kept=$(sed -n 's/^livecore.sh: work files kept in //p' "$work/err")
	awk -v disk_kib="$(du -k "$work/core" | cut -f1)" '
		function f(line, key,    n, i, kv) {
			n = split(line, kv, " ")
			for (i = 1; i <= n; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
			return 0 }
		FNR == NR && /^# pass / { passes++; bytes += f($0, "bytes") }
		FNR == NR && /^# precopy-end / { reason = f($0, "reason") }
		FNR != NR && /^# freeze / { fz = $0 }
		FNR != NR && /^# fork / { fork = $0; clone = 1 }
		FNR != NR && /^# throttle / { thr = sprintf("%d@%d%%,%.1f/%.0f", f($0, "stops"), f($0, "duty-pct"),
			f($0, "longest-us") / 1000, f($0, "total-us") / 1000) }
		END {
			printf "%.1f %.1f %d %s %.0f %.0f %.0f %s\n", f(fz, "pause-us") / 1000, f(fz, "estimate-us") / 1000,
				passes, (reason == "" ? "-" : reason) (clone ? ",clone" : ""),
				(bytes + f(fz, "delta-bytes") + f(fork, "bytes") + f(fork, "late-bytes")) / 1048576,
				disk_kib / 1024, f(fz, "delta-held") / 1048576, thr == "" ? "-" : thr }' \
		"$kept/manifest.precopy" "$kept/manifest.freeze"
	rm -rf "$kept" "$work/core"
}


# summarize FILE -> the row's fields from FILE's lines "pause estimate passes
# reason copied core held throttle stall what": pause min/median/max, the
# rest the median dump's (by pause), the stall the worst of the rounds
summarize() {
	grep -v failed "$1" | sort -g -k1,1 | awk '
		{ p[NR] = $1; line[NR] = $0; if ($9 + 0 > worst + 0) { worst = $9; what = $10 } }
		END {
			if (!NR) { print "failed"; exit }
			m = int((NR + 1) / 2); split(line[m], v, " ")
			printf "%s/%s/%s\t%s\t%s (%s)\t%s / %s\t%s\t%s\t%s%s\n", p[1], p[m], p[NR], v[2], v[3], v[4],
				v[5], v[6], v[7], v[8], worst, what == "" ? "" : " (" what ")" }'
}

# --- bench-target at a stated write rate ------------------------------------
# its gap log since the last call (bench-target.c: on SIGUSR2), into FILE
target_gaps() { # PID DIR FILE
	local i=0
	rm -f "$2/gaps"
	kill -USR2 "$1" || return 1
	until [ -s "$2/gaps" ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || return 1
		sleep 0.02
	done
	mv "$2/gaps" "$3"
}
# the longest stall in a gap log: "ms thread/cause"
worst_gap() {
	awk '$1 == "gap" && $4 > w { w = $4; what = $2 "/" $5 }
		END { printf "%.1f %s\n", w / 1e6, what == "" ? "-" : what }' "$1"
}

rate_row() { # MBS ("max": as fast as it can, its CPU time sets the rate)
	local mbs=$1 pages tdir=$work/t pid mode k r label="writes $1 MB/s, 1 GiB"
	if [ "$mbs" = max ]; then
		pages=100000000 label="writes as fast as it can, 1 GiB"
	else
		pages=$((mbs * 256))
	fi
	rm -rf "$tdir"
	mkdir -p "$tdir"
	setsid "$build/bench/bench-target" -m 1024 -r "$pages" -o "$tdir/info" -g "$tdir/gaps" \
		</dev/null >/dev/null 2>"$tdir/err" &
	pids+=("$!")
	until [ -s "$tdir/info" ]; do sleep 0.1; done
	pid=$(sed -n 's/^pid=//p' "$tdir/info")
	pids+=("$pid")
	sleep 1
	for mode in $modes; do
		: >"$work/rounds"
		for ((k = 0; k < rounds; k++)); do
			target_gaps "$pid" "$tdir" "$work/g0"
			r=$(dump "$mode" "$pid")
			target_gaps "$pid" "$tdir" "$work/g1"
			printf '%s %s\n' "$r" "$(worst_gap "$work/g1")" >>"$work/rounds"
		done
		printf '%s\t%s\t%s\n' "$label" "$mode" "$(summarize "$work/rounds")" >>"$rows"
	done
	target_gaps "$pid" "$tdir" "$work/g0"
	r=$(gcore_pause "$pid" 600)
	target_gaps "$pid" "$tdir" "$work/g1"
	printf '%s\tgcore\t%s\t-\t-\t-\t-\t-\t%s\n' "$label" "$r" "$(worst_gap "$work/g1")" >>"$rows"
	kill -KILL "$pid"
}

# --- a JVM ------------------------------------------------------------------
# lc-watch's longest lateness since the reset before it (ms)
jvm_gap() { # READY
	awk '{ printf "%.1f\n", $1 / 1e6 }' "$1.gap"
}
jvm_reset() { # READY
	touch "$1.reset"
	while [ -e "$1.reset" ]; do sleep 0.02; done
	sleep 0.05
}

jvm_row() { # NAME JAVA_OPTIONS...
	local name=$1 ready=$work/jvm.ready pid mode k r base
	shift
	rm -f "$ready" "$ready".*
	java -Xmx1g -XX:+UseG1GC "$@" -cp "$build/java" LcAlloc "$ready" 8 600 </dev/null >"$work/jvm.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	until [ -s "$ready" ] && [ -s "$ready.gap" ]; do
		kill -0 "$pid" 2>/dev/null || { cat "$work/jvm.out" >&2; die "the JVM did not start"; }
		sleep 0.1
	done
	sleep 5
	jvm_reset "$ready"
	sleep 2
	base=$(jvm_gap "$ready")
	for mode in $modes; do
		: >"$work/rounds"
		for ((k = 0; k < rounds; k++)); do
			jvm_reset "$ready"
			r=$(dump "$mode" "$pid")
			sleep 0.1
			printf '%s %s lc-watch\n' "$r" "$(jvm_gap "$ready")" >>"$work/rounds"
		done
		printf '%s (without a dump: %s ms)\t%s\t%s\n' "$name" "$base" "$mode" "$(summarize "$work/rounds")" >>"$rows"
	done
	jvm_reset "$ready"
	r=$(gcore_pause "$pid" 600)
	sleep 0.1
	printf '%s\tgcore\t%s\t-\t-\t-\t-\t-\t%s (lc-watch)\n' "$name" "$r" "$(jvm_gap "$ready")" >>"$rows"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
}

wants() { case " ${BENCH_ROWS:-rates jvm jvm-thp} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if wants rates; then
	for mbs in ${BENCH_RATES:-100 400 1000 1600 max}; do
		rate_row "$mbs"
	done
fi
if ! command -v java >/dev/null || [ ! -f "$build/java/LcAlloc.class" ]; then
	say "no java or no build/java/LcAlloc.class (make java-target): no JVM rows"
else
	wants jvm && jvm_row "JVM, 1 GiB heap, 8 allocating threads"
	wants jvm-thp && jvm_row "JVM with -XX:+UseTransparentHugePages" -XX:+UseTransparentHugePages
fi

table=$work/table
{
	printf '<!-- bench-writers:begin (bench/writers.sh writes between these markers) -->\n'
	printf 'bench/writers.sh, %s, %s, %s CPUs, Linux %s, %s rounds.\n\n' "$(date -u +%Y-%m-%d)" \
		"$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nproc)" "$(uname -r)" "$rounds"
	printf '| target | tool | pause ms (min/median/max) | estimate ms | passes (why they ended) | copied / core MiB | delta held in memory MiB | throttle stops@duty, longest/all ms | worst stall ms (what) |\n'
	printf '|---|---|---:|---:|---|---:|---:|---:|---:|\n'
	while IFS="$(printf '\t')" read -r what mode pause est passes copied held thr stall; do
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$what" "$mode" "$pause" "${est:--}" \
			"${passes:--}" "${copied:--}" "${held:--}" "${thr:--}" "${stall:--}"
	done <"$rows"
	printf '<!-- bench-writers:end -->\n'
} >"$table"
cat "$table"
if [ -f "$out_md" ] && grep -q '^<!-- bench-writers:begin' "$out_md"; then
	awk -v t="$table" '
		/^<!-- bench-writers:begin/ { while ((getline l < t) > 0) print l; skip = 1; next }
		/^<!-- bench-writers:end/ { skip = 0; next }
		!skip' "$out_md" >"$work/md" && cat "$work/md" >"$out_md"
else
	{ printf '\n## Fast writers (make bench-writers, issue 26)\n\n'; cat "$table"; } >>"$out_md"
fi
say "wrote $out_md"
