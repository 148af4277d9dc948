#!/bin/sh
# bench/copy-engine.sh - lc-precopy's copy engine on one target, in one run,
# every variant once a round, rounds interleaved (the machine this was
# written on is shared: a variant measured in a row of its own meets
# another load than the next one). Per variant: the median GB/s, the
# spread (min-max), the median of its ratio to raw process_vm_readv in the
# same round, and the CPU seconds per GiB it used (user + system; less
# sensitive than the wall clock to other work on the machine).
#
#   raw process_vm_readv        into a reused buffer per thread, nothing
#                               written: what issue 3's 70% criterion names
#   raw pread /proc/PID/mem     the same through /proc/PID/mem
#   raw vm into fresh memory    into a fresh anonymous mapping of the
#                               target's size: like for like with a copy,
#                               which must allocate its destination too
#   raw vm + pwrite             read + write to a file beside the staging
#                               file, through the page cache
#   raw vm + O_DIRECT pwrite    the same with O_DIRECT, 4 MiB, fallocated,
#                               4 threads per worker (as the copy engine)
#   pass METHOD WRITE           one lc-precopy pass (-T none), its bytes / ms
#                               from the manifest; WRITE is
#                               LIVECORE_COPY_WRITE (auto: O_DIRECT unless
#                               the staging file is on tmpfs or ramfs)
#
#   bench/copy-engine.sh [-m MIB] [-j WORKERS] [-d STAGEDIR] [-r ROUNDS]
#
# Needs a built tree (make). MIB defaults to 4096 (a 4 GiB target: it needs
# that much RAM, and as much again of page cache or disk under STAGEDIR).
set -eu

mib=4096 workers=$(getconf _NPROCESSORS_ONLN) dir=${TMPDIR:-/tmp} rounds=5
while getopts m:j:d:r: opt; do
	case $opt in
	m) mib=$OPTARG ;;
	j) workers=$OPTARG ;;
	d) dir=$OPTARG ;;
	r) rounds=$OPTARG ;;
	*) echo "usage: $0 [-m MIB] [-j WORKERS] [-d STAGEDIR] [-r ROUNDS]" >&2; exit 2 ;;
	esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIVECORE_BUILD:-$top/build}
for f in "$build/bin/lc-maps" "$build/bin/lc-precopy" "$build/targets/lc-target"; do
	[ -x "$f" ] || { echo "$0: $f is not built (make)" >&2; exit 1; }
done
work=$(mktemp -d "$dir/lc-bench.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

${CC:-cc} -O2 -o "$work/raw-read" "$top/bench/raw-read.c" -lpthread

"$build/targets/lc-target" -o "$work/info" --pattern-mib "$mib" </dev/null >/dev/null 2>"$work/target.err" &
pid=$!
i=0
until [ -s "$work/info" ]; do
	kill -0 "$pid" 2>/dev/null || { cat "$work/target.err" >&2; exit 1; }
	i=$((i + 1)); [ $i -lt 6000 ] || { echo "$0: target not ready" >&2; exit 1; }
	sleep 0.05
done
addr=$(sed -n 's/^pattern.addr=//p' "$work/info")
size=$(sed -n 's/^pattern.size=//p' "$work/info")
"$build/bin/lc-maps" "$pid" >"$work/m"
rss=$(($(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status") * 1024))
direct_threads=$((workers * 4))

# one line per measurement: ROUND VARIANT GB/S CPU-S/GIB
raw() { # ROUND NAME raw-read arguments...
	r=$1 name=$2
	shift 2
	rm -f "$work/raw.out"
	sync
	set -- $("$work/raw-read" "$@")
	rm -f "$work/raw.out"
	echo "$r $name" $(awk -v b="$1" -v s="$2" -v c="$3" 'BEGIN { printf "%.3f %.3f", b / s / 1e9, c / (b / 1073741824) }')
}
pass() { # ROUND METHOD WRITE
	rm -f "$work/stage"
	sync
	if [ -x /usr/bin/time ]; then
		LIVECORE_COPY_METHOD=$2 LIVECORE_COPY_WRITE=$3 /usr/bin/time -f '%U %S' -o "$work/time" \
			"$build/bin/lc-precopy" -q -T none -j "$workers" -s "$work/stage" "$pid" \
			<"$work/m" >"$work/out" 2>/dev/null
	else
		echo '- -' >"$work/time"
		LIVECORE_COPY_METHOD=$2 LIVECORE_COPY_WRITE=$3 \
			"$build/bin/lc-precopy" -q -T none -j "$workers" -s "$work/stage" "$pid" \
			<"$work/m" >"$work/out" 2>/dev/null
	fi
	rm -f "$work/stage"
	awk -v r="$1" -v name="pass-$2-$3" -v t="$(cat "$work/time")" '
		$2 == "pass" { for (i = 3; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] == "bytes") b = kv[2]; if (kv[1] == "ms") ms = kv[2] } }
		END { split(t, c, " "); cpu = c[1] == "-" ? "-" : sprintf("%.3f", (c[1] + c[2]) / (b / 1073741824))
			printf "%s %s %.3f %s\n", r, name, b / (ms > 0 ? ms : 1) / 1e6, cpu }' "$work/out"
}

for r in $(seq "$rounds"); do
	raw "$r" raw-vm vm "$pid" "$addr" "$size" "$workers"
	pass "$r" mem auto
	raw "$r" raw-mem mem "$pid" "$addr" "$size" "$workers"
	pass "$r" process_vm_readv auto
	raw "$r" raw-vm-fresh -f vm "$pid" "$addr" "$size" "$workers"
	pass "$r" mem buffered
	raw "$r" raw-vm+pwrite -o "$work/raw.out" vm "$pid" "$addr" "$size" "$workers"
	pass "$r" mem direct
	raw "$r" raw-vm+direct -d -c 4194304 -o "$work/raw.out" vm "$pid" "$addr" "$size" "$direct_threads"
	pass "$r" process_vm_readv buffered
done >"$work/all"

fs=$(stat -f -c %T "$work")
echo "target: $mib MiB pattern, RSS $((rss / 1048576)) MiB; workers $workers; $rounds rounds, interleaved; staging in $dir ($fs)"
echo "ratio: to raw process_vm_readv (reused buffer) in the same round, the median over rounds"
awk '
	{ v[$2] = v[$2] " " $3; c[$2] = c[$2] " " $4; rate[$1, $2] = $3; order[$2] = order[$2] ? order[$2] : ++n; name[n] = $2 }
	function median(s,   a, k, i, j, t) {
		k = split(s, a, " ")
		for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	function lo(s,   a, k, i, m) { k = split(s, a, " "); m = a[1]; for (i = 2; i <= k; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
	function hi(s,   a, k, i, m) { k = split(s, a, " "); m = a[1]; for (i = 2; i <= k; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
	END {
		printf "%-28s %8s %13s %7s %10s\n", "variant", "GB/s", "min-max", "ratio", "CPU-s/GiB"
		for (i = 1; i <= n; i++) {
			s = name[i]; rs = ""
			for (key in rate) { split(key, kk, SUBSEP); if (kk[2] == s && rate[kk[1], "raw-vm"] > 0) rs = rs " " rate[key] / rate[kk[1], "raw-vm"] }
			cpu = c[s] ~ /-/ ? "-" : sprintf("%.2f", median(c[s]))
			printf "%-28s %8.2f %6.2f-%-6.2f %6.0f%% %10s\n", s, median(v[s]), lo(v[s]), hi(v[s]), 100 * median(rs), cpu
		}
	}' "$work/all"
