#!/bin/sh
# bench/run.sh - `make bench`: the pause a process feels while livecore
# dumps it, beside gdb's gcore of the same process in the same run.
#
# For each target configuration (size, page kind, dirtying rate, threads)
# it starts build/bench/bench-target, reads its heap raw with
# process_vm_readv and writes as many bytes raw with O_DIRECT
# (bench/raw-read.c: the ceilings for pre-copy), dumps it
# with livecore.sh once per tracking mode that works here, then with
# gcore, and records for each dump:
#   - the pause the target felt: the longest gap its probe thread saw that
#     overlaps lc-freeze's run (or gcore's), and the longest gap at any
#     other time of the dump (scheduler noise, for scale);
#   - the pause lc-freeze reports and its parts (# freeze in the kept
#     manifest, lc-manifest(5));
#   - pre-copy throughput (# pass 1) against the lower of the raw rates,
#     and the stop's copy rate against pass 1's;
#   - total time to a finished core; peak RSS of every tool (wait4, via
#     bench-run wrappers put beside a copy of livecore.sh); the core's
#     size, apparent and on disk.
# Then writes the table to docs/BENCHMARKS.md (between the bench markers;
# the text around them is kept) and prints it.
#
# Environment:
#   BENCH_FULL=1          the whole matrix (1 and 4 GiB x 4 KiB and THP x
#                         0, 1000, 10000 pages/s x 1 and 16 threads)
#                         instead of the pruned default (see below)
#   BENCH_LARGE=1         also 8 GiB targets, and one of 16 GiB
#   BENCH_CONFIGS="..."   exactly these: MIB:4k|thp|4k+VMAS:RATE:THREADS[:ROUNDS],
#                         separated by spaces (4k+VMAS: that many more
#                         one-page mappings beside the heap)
#   BENCH_MODES="..."     tracking modes to try (default: every mode
#                         lc-precopy -T lists, except auto)
#   BENCH_DIR=DIR         where targets' cores go (default $TMPDIR or
#                         /var/tmp; needs twice the largest target free)
#   BENCH_REPEAT=N        rounds for every configuration (default: 3 for
#                         the two headline ones, 1 for the rest); a round
#                         is a fresh target dumped once by each tool; the
#                         table shows medians
#   BENCH_BUDGET=S        start no configuration that would end after S
#                         seconds (default 780, estimated from the last
#                         round of the same size): `make bench` stays under
#                         15 minutes on a loaded machine; what was left out
#                         is listed
#   BENCH_GCORE_TIMEOUT=S gcore is killed after S seconds (default 90)
#   BENCH_OUT=FILE        the markdown file (default docs/BENCHMARKS.md)
#   LIVECORE_BUILD=DIR    the build tree (default build)
set -u

prog=bench/run.sh
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIVECORE_BUILD:-$top/build}
bb=$build/bench
out_md=${BENCH_OUT:-$top/docs/BENCHMARKS.md}
dir=${BENCH_DIR:-${TMPDIR:-/var/tmp}}
gcore_timeout=${BENCH_GCORE_TIMEOUT:-90}
budget=${BENCH_BUDGET:-780}
t_bench=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# the share of time runnable tasks waited for a CPU (PSI), over the run
psi_cpu() { awk '/^some/ { split($5, t, "="); print t[2] }' /proc/pressure/cpu 2>/dev/null; }
# The time the host took this virtual machine's CPUs from it (steal, all
# CPUs together), in ms: a stall in which every thread of the target was
# off its CPU with no fault and no wait for one can be the host's
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
steal_ms() { awk -v hz="$clk_tck" '$1 == "cpu" { printf "%d\n", $9 * 1000 / hz }' /proc/stat; }
psi_start=$(psi_cpu)

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "$*"; exit 1; }

# --- what is needed, and what is missing ----------------------------------
for f in "$build/bin/livecore.sh" "$build/bin/lc-maps" "$build/bin/lc-precopy" \
	"$build/bin/lc-freeze" "$build/bin/lc-elfwrite" \
	"$bb/bench-target" "$bb/bench-run" "$bb/raw-read"; do
	[ -x "$f" ] || die "$f is not built (run: make bench)"
done
missing=
for c in awk timeout stat du setsid; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -z "$missing" ] || die "missing commands:$missing"
have_gcore=1
if ! command -v gcore >/dev/null 2>&1 || ! command -v gdb >/dev/null 2>&1; then
	have_gcore=0
	say "gdb's gcore is missing (apt-get install gdb): no gcore rows, no ratios"
fi
[ "$(id -u)" = 0 ] || say "not root: Yama may refuse to attach (kernel.yama.ptrace_scope); run as root if dumps fail"

work=$(mktemp -d "$dir/lc-bench.XXXXXX") || die "cannot create a directory in $dir"
target_pid=
cleanup() {
	[ -n "$target_pid" ] && kill -KILL "$target_pid" 2>/dev/null && wait "$target_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the wrappers: each tool livecore.sh runs is measured on its own -------
# livecore.sh looks for its tools beside itself first: a copy of it sits
# beside scripts that exec bench-run with the real tool.
# The tools are copied first: a rebuild of the tree during the run (other
# work in the same tree) must not change them under the benchmark.
wrap=$work/wrap
mkdir -p "$wrap" "$work/bin"
cp "$build/bin/livecore.sh" "$wrap/livecore.sh"
for t in lc-maps lc-precopy lc-freeze lc-elfwrite livecore.sh; do
	cp "$build/bin/$t" "$work/bin/$t"
done
for t in lc-maps lc-precopy lc-freeze lc-elfwrite; do
	printf '#!/bin/sh\nexec "%s" "$BENCH_LOG" %s "%s" "$@"\n' "$bb/bench-run" "$t" "$work/bin/$t" >"$wrap/$t"
	chmod 755 "$wrap/$t"
done

# --- the target ----------------------------------------------------------
target_start() { # MIB PAGES RATE THREADS
	tdir=$work/target
	rm -rf "$tdir"
	mkdir -p "$tdir"
	huge= vmas=0
	[ "$2" = thp ] && huge=-H
	case $2 in 4k+*) vmas=${2#4k+} ;; esac
	# in a session of its own, as a service runs: with autogroup (no cpu
	# cgroup) a session is a scheduling group, and the pre-copy's
	# niceness must count against the target's threads across groups
	# (lc-precopy -g); setsid(1) runs it in place, as the shell's child
	setsid "$bb/bench-target" -m "$1" $huge -r "$3" -t "$4" -v "$vmas" -o "$tdir/info" -g "$tdir/gaps" \
		</dev/null >/dev/null 2>"$tdir/err" &
	target_pid=$!
	i=0
	until [ -s "$tdir/info" ]; do
		kill -0 "$target_pid" 2>/dev/null || { cat "$tdir/err" >&2; target_pid=; return 1; }
		i=$((i + 1))
		[ $i -lt 12000 ] || { say "target not ready after 10 minutes"; return 1; }
		sleep 0.05
	done
	# the target itself, had setsid(1) had to fork
	target_pid=$(sed -n 's/^pid=//p' "$tdir/info")
	heap_addr=$(sed -n 's/^heap.addr=//p' "$tdir/info")
	heap_size=$(sed -n 's/^heap.size=//p' "$tdir/info")
	heap_huge_kib=$(sed -n 's/^heap.huge-kib=//p' "$tdir/info")
}
target_stop() {
	[ -n "$target_pid" ] || return 0
	kill -KILL "$target_pid" 2>/dev/null
	wait "$target_pid" 2>/dev/null
	target_pid=
}
# The probe's log since the last call, into FILE (and the log restarts).
target_gaps() { # FILE
	rm -f "$tdir/gaps"
	kill -USR2 "$target_pid" 2>/dev/null || return 1
	i=0
	until [ -s "$tdir/gaps" ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || { say "the probe did not answer"; return 1; }
		sleep 0.02
	done
	mv "$tdir/gaps" "$1"
}

# --- figures ---------------------------------------------------------------
# From the target's stall log (bench-target.c: "gap THREAD START LEN CAUSE
# ..."), in ms: the longest stop of the probe (off its CPU without a
# fault: a tracer held it) that overlaps [START, END) (the felt pause), the
# probe's longest wait for a CPU (scheduler noise), and its longest stop
# outside [START, END) (another stop of the target: uffd's injection).
gap_figures() { # GAPFILE START END
	awk -v s="$2" -v e="$3" '
		$1 == "worst" && $2 == "probe" && $3 == "sched" { noise = $4 }
		$1 == "gap" && $2 == "probe" && $5 == "stopped" {
			if ($3 < e && $3 + $4 > s) { if ($4 > felt) felt = $4 } else if ($4 > other) other = $4 }
		END { printf "%.1f %.1f %.1f\n", felt / 1e6, noise / 1e6, other / 1e6 }' "$1"
}
# The worst stall of any of the target's threads (probe, dirtier, worker)
# that overlaps the dump [START, END), in ms, and what it was (thread/cause,
# bench-target.c), and the worker's units of work in the 10 ms buckets
# inside [WSTART, WEND) against BASE units a bucket: a percentage.
stall_figures() { # GAPFILE START END WSTART WEND BASE
	awk -v s="$2" -v e="$3" -v ws="$4" -v we="$5" -v base="$6" '
		$1 == "gap" && $3 < e && $3 + $4 > s && $4 > worst { worst = $4; what = $2 "/" $5 }
		$1 == "work" && $2 >= ws && $2 + 1e7 <= we { units += $3; n++ }
		END { printf "%.1f %s %s\n", worst / 1e6, what == "" ? "-" : what,
			(n && base > 0) ? sprintf("%.0f", 100 * units / n / base) : "-" }' "$1"
}
# The worker's units a 10 ms bucket over a log with no dump in it.
work_base() { # GAPFILE
	awk '$1 == "work" { units += $3; n++ } END { if (n) printf "%.1f\n", units / n; else print 0 }' "$1"
}
# A second of the target undisturbed, before a dump: its work rate.
target_baseline() { # FILE
	target_gaps "$work/gaps.discard" || return 1
	sleep 1
	target_gaps "$1"
}
# From a bench-run log: a tool's first start, last end and peak RSS (KiB).
rusage_of() { # LOG NAME
	awk -v n="$2" '$1 == n { if (!s || $2 < s) s = $2; if ($3 > e) e = $3; if ($4 > r) r = $4; c = $5 }
		END { if (s) print s, e, r, c; else print "0 0 0 -" }' "$1"
}
mib_of_kib() { awk -v k="$1" 'BEGIN { if (k == "" || k == 0) print "-"; else printf "%.1f\n", k / 1024 }'; }
core_sizes() { # FILE -> apparent MiB, on-disk MiB
	stat -c '%s %b %B' "$1" | awk '{ printf "%.0f %.0f\n", $1 / 1048576, $2 * $3 / 1048576 }'
}

# The two ceilings of pre-copy, as many threads as lc-precopy's default -j
# (the online CPUs), best of two each, GB/s: a raw read of the heap with
# process_vm_readv into a reused buffer, and a raw write of as many bytes
# with O_DIRECT to a fresh file where the staging file goes (the cores'
# directory), as the copy engine writes. Pre-copy cannot beat the lower.
# Both at niceness 19, as livecore.sh runs lc-precopy by default: beside
# the target's busy threads on few CPUs, what a reader gets is decided by
# the scheduler, and the ceiling is what it gets at the same niceness.
raw_rate() { # vm|none
	for r in 1 2; do
		if [ "$1" = none ]; then
			# as the copy engine writes: 4 MiB a write, 4 threads a
			# CPU (raw-read takes 64 at most)
			w=$(($(getconf _NPROCESSORS_ONLN) * 4))
			[ "$w" -le 64 ] || w=64
			nice -n 19 "$bb/raw-read" -d -c 4194304 -o "$work/raw.out" none 0 0 "$heap_size" "$w"
		else
			nice -n 19 "$bb/raw-read" vm "$target_pid" "$heap_addr" "$heap_size" "$(getconf _NPROCESSORS_ONLN)"
		fi || { rm -f "$work/raw.out"; return 1; }
		rm -f "$work/raw.out"
	done | awk '{ g = $1 / $2 / 1e9; if (g > best) best = g } END { printf "%.2f\n", best }'
}

results=$work/results.tsv
: >"$results"
# columns of results.tsv (one row per dump; - where it does not apply):
#  1 mib 2 pages 3 rate 4 threads 5 tool 6 felt_ms 7 noise_ms 8 freeze_ms
#  9 seize_ms 10 regs_ms 11 maps_ms 12 delta_ms 13 delta_pages 14 other_parts
#  15 passes 16 precopy_gbs 17 raw_gbs 18 total_s 19 rss_maps 20 rss_precopy
#  21 rss_freeze 22 rss_elfwrite 23 rss_all 24 core_mib 25 disk_mib 26 status
#  27 other_stops_ms 28 worst_stall_ms 29 worst_stall_what 30 work_precopy_pct
#  31 raw_write_gbs 32 steal_ms (over the dump)

dump_livecore() { # MODE CONFIG...
	mode=$1
	shift
	log=$work/rusage.$mode
	: >"$log"
	core=$work/core.$mode
	target_baseline "$work/base.$mode" || return 1
	base=$(work_base "$work/base.$mode")
	steal0=$(steal_ms)
	BENCH_LOG=$log "$bb/bench-run" "$log" livecore.sh "$wrap/livecore.sh" -k -q -T "$mode" \
		"$target_pid" "$core" 2>"$work/livecore.err"
	rc=$?
	steal=$(($(steal_ms) - steal0))
	target_gaps "$work/gaps.$mode"
	kept=$(sed -n 's/^livecore.sh: work files kept in //p' "$work/livecore.err")
	set -- "$@" "$mode"
	if [ $rc -ne 0 ] || [ ! -f "$kept/manifest.freeze" ]; then
		say "livecore.sh -T $mode failed ($rc):"
		cat "$work/livecore.err" >&2
		printf '%s\t%s\t%s\t%s\t%s' "$@" >>"$results"
		printf '\t-%.0s' $(seq 20) >>"$results"
		printf '\tfailed(%s)\t-\t-\t-\t-\t-\t-\n' "$rc" >>"$results"
		[ -n "$kept" ] && rm -rf "$kept"
		rm -f "$core"
		return 0
	fi
	set -- "$@" $(rusage_of "$log" lc-freeze)
	fz_start=$6 fz_end=$7
	set -- "$1" "$2" "$3" "$4" "$5"
	read -r felt noise others <<EOF
$(gap_figures "$work/gaps.$mode" "$fz_start" "$fz_end")
EOF
	# the whole dump (livecore.sh's run) and the pre-copy (lc-precopy's)
	read -r d_start d_end _ <<EOF
$(rusage_of "$log" livecore.sh)
EOF
	read -r p_start p_end _ <<EOF
$(rusage_of "$log" lc-precopy)
EOF
	stalls=$(stall_figures "$work/gaps.$mode" "$d_start" "$d_end" "$p_start" "$p_end" "$base")
	# The parts of the stop, and any other time a tool reports in
	# microseconds (a further part of # freeze, a tracker's own short stop
	# such as uffd's injection during pre-copy, or its close): "name=ms".
	freeze=$(awk '
		function add(name, us) { other = other (other == "" ? "" : ",") name "=" sprintf("%.1f", us / 1000) }
		/^# freeze / {
			for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2]
				if (kv[1] ~ /-us$/ && kv[1] !~ /^(pause|seize|regs|maps|delta)-us$/)
					add(substr(kv[1], 1, length(kv[1]) - 3), kv[2]) }
			next }
		/^# / && $2 != "pass" {
			for (i = 3; i <= NF; i++) { split($i, kv, "=")
				if (kv[1] == "us") add($2, kv[2])
				else if (kv[1] ~ /-us$/) add($2 "-" substr(kv[1], 1, length(kv[1]) - 3), kv[2])
				# fork: what the clone made the process copy
				else if ($2 == "fork" && kv[1] == "duplicated")
					other = other (other == "" ? "" : ",") "fork-duplicated=" \
						sprintf("%.0fMiB", kv[2] / 1048576) } }
		END { printf "%.1f %.2f %.2f %.2f %.1f %d %s\n", v["pause-us"] / 1000, v["seize-us"] / 1000,
			v["regs-us"] / 1000, v["maps-us"] / 1000, v["delta-us"] / 1000, v["delta-pages"],
			other == "" ? "-" : other }' "$kept/manifest.freeze")
	precopy=$(awk '/^# pass / { n++; for (i = 4; i <= NF; i++) { split($i, kv, "=");
			if (n == 1 && kv[1] == "bytes") b = kv[2]; if (n == 1 && kv[1] == "ms") ms = kv[2] } }
		END { printf "%d %.2f\n", n, (ms > 0 ? b / ms / 1e6 : 0) }' "$kept/manifest.precopy")
	total=$(rusage_of "$log" livecore.sh | awk '{ printf "%.2f\n", ($2 - $1) / 1e9 }')
	rss_all=$(rusage_of "$log" livecore.sh | awk '{ print $3 }')
	rss=
	for t in lc-maps lc-precopy lc-freeze lc-elfwrite; do
		rss="$rss $(mib_of_kib "$(rusage_of "$log" "$t" | awk '{ print $3 }')")"
	done
	sizes=$(core_sizes "$core")
	rm -rf "$kept" "$core"
	printf '%s\t' "$@" >>"$results"
	printf '%s\t' "$felt" "$noise" $freeze $precopy "$raw_gbs" "$total" $rss "$(mib_of_kib "$rss_all")" $sizes >>"$results"
	printf 'ok\t%s\t%s\t%s\t%s\n' "$others" "$(echo "$stalls" | tr ' ' '\t')" "$raw_write_gbs" "$steal" >>"$results"
}

dump_gcore() { # CONFIG...
	log=$work/rusage.gcore
	: >"$log"
	target_baseline "$work/base.gcore" || return 1
	base=$(work_base "$work/base.gcore")
	steal0=$(steal_ms)
	"$bb/bench-run" "$log" gcore timeout -s KILL "$gcore_timeout" gcore -o "$work/gcore" "$target_pid" \
		>"$work/gcore.out" 2>&1
	rc=$?
	steal=$(($(steal_ms) - steal0))
	target_gaps "$work/gaps.gcore"
	core=$work/gcore.$target_pid
	set -- "$@" gcore
	printf '%s\t' "$@" >>"$results"
	if [ $rc -ne 0 ] || [ ! -f "$core" ]; then
		say "gcore failed ($rc; killed after ${gcore_timeout} s if 137):"
		tail -5 "$work/gcore.out" >&2
		printf -- '-\t%.0s' $(seq 20) >>"$results"
		printf 'failed(%s)\t-\t-\t-\t-\t-\t-\n' "$rc" >>"$results"
		rm -f "$core"
		return 0
	fi
	set -- $(rusage_of "$log" gcore)
	read -r felt noise others <<EOF
$(gap_figures "$work/gaps.gcore" "$1" "$2")
EOF
	total=$(awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f\n", (e - s) / 1e9 }')
	# gcore has no pre-copy: the work done during its whole run
	stalls=$(stall_figures "$work/gaps.gcore" "$1" "$2" "$1" "$2" "$base")
	rss=$(mib_of_kib "$3")
	sizes=$(core_sizes "$core")
	rm -f "$core"
	# the felt pause and the whole run: gcore stops the target throughout
	printf '%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\t-\t-\t-\t-\t%s\t%s\t%s\tok\t%s\t%s\t-\t%s\n' \
		"$felt" "$noise" "$total" "$rss" $sizes "$others" "$(echo "$stalls" | tr ' ' '\t')" "$steal" >>"$results"
}

# --- the matrix ----------------------------------------------------------
# The default prunes the 24-cell cross product to the cells that answer
# the issue's questions, most important first, so that the time budget
# cuts the least useful ones: the headlines (1 and 4 GiB, 4 KiB pages,
# 1000 pages/s, 1 thread; 3 rounds each), then every dirtying rate at 1 and
# 4 GiB (how the pause grows with the size and with the dirty set), 16
# threads at 1000 pages/s (what threads cost the stop), THP at 1000 pages/s
# (a write dirties 2 MiB), 1000 and 4000 threads on a 64 MiB heap; 1 round
# each. Left out: THP and 16 threads at 0
# and 10000 pages/s, and THP with 16 threads. BENCH_FULL=1 runs them all.
if [ -n "${BENCH_CONFIGS:-}" ]; then
	configs=$BENCH_CONFIGS
elif [ "${BENCH_FULL:-0}" = 1 ]; then
	configs=
	sizes="1024 4096"
	[ "${BENCH_LARGE:-0}" = 1 ] && sizes="$sizes 8192"
	for m in $sizes; do for p in 4k thp; do for r in 0 1000 10000; do for t in 1 16; do
		configs="$configs $m:$p:$r:$t:1"
	done; done; done; done
else
	configs="1024:4k:1000:1:3 4096:4k:1000:1:3"
	[ "${BENCH_LARGE:-0}" = 1 ] && configs="$configs 8192:4k:1000:1:1"
	for r in 0 10000; do
		configs="$configs 1024:4k:$r:1:1 4096:4k:$r:1:1"
	done
	configs="$configs 1024:4k:1000:16:1 4096:4k:1000:16:1 1024:thp:1000:1:1 4096:thp:1000:1:1"
	# thousands of threads (a small heap: what the threads cost the stop)
	configs="$configs 64:4k:0:1000:1 64:4k:0:4000:1"
	# tens of thousands of mappings (what the maps part of the stop costs)
	configs="$configs 64:4k+50000:0:1:1"
	[ "${BENCH_LARGE:-0}" = 1 ] && configs="$configs 8192:4k:0:1:1 8192:4k:10000:1:1 8192:4k:1000:16:1 8192:thp:1000:1:1 16384:4k:1000:1:1"
fi

# --- which tracking modes work here: a tiny run of each ---------------------
if [ -n "${BENCH_MODES:-}" ]; then
	candidates=$BENCH_MODES
else
	candidates=$("$work/bin/lc-precopy" -h 2>&1 | sed -n 's/.*\[-T \([a-z|-]*\)\].*/\1/p' | head -1 |
		tr '|' '\n' | grep -v '^auto$' | tr '\n' ' ')
	[ -n "$candidates" ] || candidates=none
fi
modes=
target_start 8 4k 1000 2 || die "the probe target did not start"
for mode in $candidates; do
	if "$work/bin/livecore.sh" -q -T "$mode" "$target_pid" "$work/probe.core" 2>"$work/probe.err"; then
		modes="$modes $mode"
	else
		say "tracking mode $mode does not work here: $(grep -v '^livecore:' "$work/probe.err" | head -1)"
	fi
	rm -f "$work/probe.core"
done
target_stop
modes=${modes# }
# none first: what the others do to the target (split huge pages) must not
# change its figures
case " $modes " in *" none "*) modes="none $(echo " $modes " | sed 's/ none / /; s/^ *//; s/ *$//')" ;; esac
modes=${modes% }
[ -n "$modes" ] || die "no tracking mode works here"
say "tracking modes: $modes; configurations:$configs"

# --- run ---------------------------------------------------------------------
left_out=
mem_avail_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
for cfg in $configs; do
	IFS=: read -r mib pages rate threads rounds <<EOF
$cfg
EOF
	[ -n "$rounds" ] || rounds=1
	[ -n "${BENCH_REPEAT:-}" ] && rounds=$BENCH_REPEAT
	# Would it end within the budget? The estimate is the last round of
	# this size (0 before the first: the first of each size always runs).
	eval "round_s=\${round_s_$mib:-0}"
	if [ $(($(date +%s) - t_bench + round_s * rounds)) -gt "$budget" ]; then
		say "not running $cfg: it would end past the time budget of $budget s (BENCH_BUDGET)"
		left_out="$left_out $mib:$pages:$rate:$threads"
		continue
	fi
	free_mib=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
	# RAM for the target and a margin (the tools' own memory is bounded,
	# the staging file is written with O_DIRECT, and the page cache of the
	# cores can be reclaimed); disk for a core and the raw write's file
	need_mib=$((mib + mib / 8 + 1024))
	if [ "$need_mib" -gt "$mem_avail_mib" ] || [ $((mib * 2)) -gt "$free_mib" ]; then
		say "skipping $cfg: needs $need_mib MiB of RAM (have $mem_avail_mib) and $((mib * 2)) MiB free in $dir (have $free_mib)"
		continue
	fi
	# A fresh target for each round: gdb's reads map the zero page into
	# the unpopulated parts (thread stacks), which a later dump would then
	# copy, and tracking may split huge pages. In a round the modes go
	# none first, gcore last.
	for rep in $(seq "$rounds"); do
		say "$cfg: round $rep of $rounds: starting the target ($(($(date +%s) - t_bench)) s so far)"
		t_round=$(date +%s)
		target_start "$mib" "$pages" "$rate" "$threads" || { target_stop; continue; }
		if [ "$pages" = thp ] && [ "${heap_huge_kib:-0}" -lt $((mib * 1024 / 2)) ]; then
			say "$cfg: only $heap_huge_kib KiB of the heap are huge pages (/sys/kernel/mm/transparent_hugepage)"
		fi
		raw_gbs=$(raw_rate vm) || raw_gbs=-
		raw_write_gbs=$(raw_rate none) || raw_write_gbs=-
		for mode in $modes; do
			say "$cfg: livecore.sh -T $mode"
			dump_livecore "$mode" "$mib" "$pages" "$rate" "$threads"
		done
		if [ $have_gcore = 1 ]; then
			say "$cfg: gcore"
			dump_gcore "$mib" "$pages" "$rate" "$threads"
		fi
		target_stop
		eval "round_s_$mib=$(($(date +%s) - t_round))"
	done
done
t_total=$(($(date +%s) - t_bench))
mkdir -p "$bb"
cp "$results" "$bb/results.tsv"

# --- the table -------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
ncpu=$(getconf _NPROCESSORS_ONLN)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
thp=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
# (GIT_OPTIONAL_LOCKS=0, git diff: never touch the index others use)
rev=${BENCH_REV:-$(GIT_OPTIONAL_LOCKS=0 git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [ -z "${BENCH_REV:-}" ] && ! GIT_OPTIONAL_LOCKS=0 git -C "$top" diff --quiet HEAD -- tools lib livecore.sh 2>/dev/null; then
	rev="$rev (with uncommitted changes to the tools)"
fi
table=$work/table.md
{
	printf '%s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC'): \`make bench\` at $rev, $t_total s."
	printf -- '- kernel %s, %s (%s CPUs), %s RAM, THP %s, cores in %s (%s)\n' \
		"$(uname -r)" "$cpu" "$ncpu" "$mem" "$thp" "$dir" \
		"$(df -PT "$work" | awk 'NR == 2 { print $2 }')"
	printf -- '- tracking modes that work here: %s; gdb %s\n' "$modes" \
		"$(gdb --version 2>/dev/null | head -1 | sed 's/.* //')"
	psi_end=$(psi_cpu)
	printf -- '- load average at the start %s, at the end %s; tasks waiting for a CPU %s of the run (PSI cpu some): other work on the machine shares its CPUs\n\n' \
		"$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" \
		"$(awk -v a="$psi_start" -v b="$psi_end" -v s="$t_total" 'BEGIN { if (a == "" || s == 0) print "?"; else printf "%.0f%%", (b - a) / 1e4 / s }')"
	[ -z "$left_out" ] || printf -- '- not run, they would have ended past the time budget of %s s (BENCH_BUDGET):%s\n\n' "$budget" "$left_out"
	# Each dump ran BENCH_REPEAT times: medians (felt pause: also the
	# range), the largest peak RSS.
	awk -F'\t' '
	function med(k, c, lo_hi,    n, i, j, x, a) {
		n = 0
		for (i = 1; i <= cnt[k]; i++)
			if (v[k, c, i] != "-") a[++n] = v[k, c, i] + 0
		if (n == 0) return "-"
		for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
		if (lo_hi == "lo") return a[1]
		if (lo_hi == "hi") return a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function f(k, c, fmt,    m) { m = med(k, c); return m == "-" ? "-" : sprintf(fmt, m) }
	function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.3g", a / b) }
	{
		k = $1 FS $2 FS $3 FS $4 FS $5
		if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
		if ($26 != "ok") { failed[k]++; why[k] = $26; next }
		n = ++cnt[k]
		for (c = 6; c <= 32; c++) v[k, c, n] = $c
		if (n == 1) other[k] = $14
		# the worst stall of all the rounds, and what it was
		if ($28 != "-" && (!(k in wmax) || $28 + 0 > wmax[k])) { wmax[k] = $28 + 0; wwhat[k] = $29; wsteal[k] = $32 }
	}
	END {
		print "| target | tool | rounds | felt pause ms (range) | felt / gcore | lc-freeze pause ms | seize / regs / maps / delta ms (delta pages) | other stops ms | worst stall ms (what) | work in pre-copy | noise ms | passes | pre-copy GB/s | raw read / write GB/s | pre-copy / limit | stop copy GB/s (/ pass 1) | total s | total / gcore | peak RSS MiB | core MiB / on disk |"
		print "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
		for (i = 1; i <= nk; i++) {
			k = order[i]
			split(k, kc, FS)
			g = kc[1] FS kc[2] FS kc[3] FS kc[4] FS "gcore"
			target = sprintf("%g GiB %s, %s/s, %s thr", kc[1] / 1024, kc[2] == "thp" ? "THP" : "4K", kc[3], kc[4])
			if (kc[2] ~ /^4k\+/)
				target = target ", " substr(kc[2], 4) " more VMAs"
			tool = kc[5] == "gcore" ? "gcore" : "livecore -T " kc[5]
			note = failed[k] ? sprintf(" (%d failed: %s)", failed[k], why[k]) : ""
			if (!cnt[k]) { printf "| %s | %s | 0 |%s |||||||||||||||||\n", target, tool, note; continue }
			felt = sprintf("%.1f (%.0f–%.0f)%s", med(k, 6), med(k, 6, "lo"), med(k, 6, "hi"), note)
			worst = (k in wmax) ? sprintf("%.1f (%s%s)", wmax[k], wwhat[k],
				wsteal[k] != "-" && wsteal[k] + 0 > 0 ? "; steal " wsteal[k] : "") : "-"
			work = f(k, 30, "%.0f%%")
			if (kc[5] == "gcore") {
				printf "| %s | gcore | %d | %s | 1 | - | - | %s | %s | %s | %s | - | - | - | - | - | %s | 1 | gdb %s | %s / %s |\n",
					target, cnt[k], felt, f(k, 27, "%.1f"), worst, work, f(k, 7, "%.1f"), f(k, 18, "%.2f"), f(k, 23, "%.1f"), f(k, 24, "%.0f"), f(k, 25, "%.0f")
				continue
			}
			parts = f(k, 9, "%.2f") " / " f(k, 10, "%.2f") " / " f(k, 11, "%.2f") " / " f(k, 12, "%.1f") " (" f(k, 13, "%d") ")"
			if (other[k] != "-") parts = parts " " other[k]
			# the limit of pre-copy: the lower of the raw read and the raw write
			lim = med(k, 17)
			if (med(k, 31) != "-" && (lim == "-" || med(k, 31) < lim)) lim = med(k, 31)
			pr = ratio(med(k, 16), lim)
			if (pr != "-") pr = sprintf("%.0f%%", 100 * pr)
			raw = f(k, 17, "%.2f") " / " f(k, 31, "%.2f")
			# the copy rate of the stop, where it copied enough to tell (40 MB)
			sc = "-"
			if (med(k, 13) != "-" && med(k, 13) >= 10000 && med(k, 12) > 0) {
				sc = sprintf("%.2f", med(k, 13) * 4096 / med(k, 12) / 1e6)
				if (med(k, 16) != "-" && med(k, 16) > 0) sc = sc sprintf(" (%.0f%%)", 100 * sc / med(k, 16))
			}
			rss = sprintf("%.1f / %.1f / %.1f / %.1f", med(k, 19, "hi"), med(k, 20, "hi"), med(k, 21, "hi"), med(k, 22, "hi"))
			printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n",
				target, tool, cnt[k], felt, ratio(med(k, 6), med(g, 6)), f(k, 8, "%.1f"), parts, f(k, 27, "%.1f"), worst, work, f(k, 7, "%.1f"),
				f(k, 15, "%d"), f(k, 16, "%.2f"), raw, pr, sc,
				f(k, 18, "%.2f"), ratio(med(k, 18), med(g, 18)), rss, f(k, 24, "%.0f"), f(k, 25, "%.0f")
		}
	}' "$results"
	printf '\n%s\n' "Columns (medians over the rounds; a round is a fresh target dumped once by each tool, livecore's none mode first and gcore last): *felt pause* is the longest time the target's probe thread (waking every 500 us at nice -20) was stopped by a tracer (late, off its CPU without a page fault, not waiting for a CPU), overlapping lc-freeze's run, or gcore's; *other stops* the longest stop of the probe at any other time of the dump (uffd: the injection of the userfaultfd during pre-copy); *worst stall* the longest time any of the target's three measuring threads made no progress at any moment of the dump, whatever the cause, and what it was: the thread (probe; dirtier, which writes the heap; worker, which reads random cache lines of it in a loop at nice 0) and the cause its clocks give (stopped; fault: it took page faults; sched: it waited for a CPU for half the time or more; cpu: it ran, slowly), the largest over the rounds, and the ms of steal the host took from this virtual machine's CPUs during that round's dump where any (/proc/stat: a stall that stopped every thread at once can be the host's); *work in pre-copy* the worker's units of work in each 10 ms while lc-precopy ran, against its rate in the second just before the dump (for gcore: during its whole run); *noise* the probe's longest wait for a CPU. *lc-freeze pause* and its parts come from \`# freeze\` in the kept manifest; *pre-copy GB/s* is pass 1's bytes / ms (\`# pass 1\`), *raw read / write* the best of two plain process_vm_readv reads of the heap (bench/raw-read.c, as many threads as lc-precopy's default -j) of the same target just before, and the best of two O_DIRECT writes of as many bytes to a fresh file in the cores' directory (4 MiB a write, 4 threads a CPU, as the copy engine writes), both at niceness 19 as lc-precopy runs; *pre-copy / limit* pass 1's rate against the lower of the two; *stop copy* the stop's copy rate (delta pages / delta ms, where it copied 10 000 pages or more) and its share of pass 1's rate. *total* is livecore.sh's (or gcore's) wall time to a finished core. *peak RSS* is the largest wait4 ru_maxrss of lc-maps / lc-precopy / lc-freeze / lc-elfwrite (of gdb and its children for gcore). Targets: bench/bench-target.c; *N thr* means N application threads, plus the probe and the dirtier."
} >"$table"

mkdir -p "$(dirname "$out_md")"
begin='<!-- bench:begin (bench/run.sh writes between these markers) -->'
end='<!-- bench:end -->'
if [ -f "$out_md" ] && grep -qF "$begin" "$out_md"; then
	awk -v b="$begin" -v e="$end" -v t="$table" '
		$0 == b { print; while ((getline l < t) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip' "$out_md" >"$out_md.tmp" && mv "$out_md.tmp" "$out_md"
else
	{
		printf '# Benchmarks\n\n'
		printf '`make bench` (bench/run.sh) writes the table below; the analysis follows it.\n\n'
		printf '%s\n' "$begin"
		cat "$table"
		printf '%s\n' "$end"
	} >"$out_md"
fi
cat "$table"
say "wrote $out_md in $t_total s"
