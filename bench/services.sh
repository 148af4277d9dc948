#!/bin/bash
# bench/services.sh - `make bench-services`: the pause of processes that
# share memory with others, beside gcore's, in one run (issue 28):
#
#   shared    lc-target with MIB of MAP_SHARED|MAP_ANONYMOUS memory that a
#             child process rewrites (5000 pages a second) while the
#             target itself only sleeps: pause and pages copied in the stop,
#             per tracking mode, and gcore's pause.
#   postgres  a private PostgreSQL cluster from Debian (shared_buffers
#             128 MB and 1 GB; 4 GB with BENCH_LARGE=1), pgbench's tables
#             (scale 50) read into shared_buffers, pgbench -c 2 running; one
#             of pgbench's backends is dumped per mode (BENCH_ROUNDS
#             times, default 5: min/median/max) and once by gcore: the
#             pause, the pages copied in the stop, and pgbench's latency
#             (99th percentile and max, ms; the worst of the dumps) over
#             the dump against the 5 s before it.
#
#   gcore-read  lc-target with 64 MiB written and a 1 GiB PROT_NONE
#             reservation (as the Go runtime and the JVM reserve address
#             space), dumped per mode, then read once by gcore (its pause
#             beside), then dumped again: a debugger's reads map the zero
#             page into the reservation, which must change nothing.
#   redis     redis-server holding about 1 GB (a million keys of 1000
#             bytes), redis-benchmark rewriting 100 000 of them with SET on
#             two connections: per mode (BENCH_ROUNDS dumps) and gcore, the
#             pause and redis-cli --latency's worst round trip over the
#             dump against the 3 s before it (issue 13: the client's worst
#             latency within 2x of lc-freeze's pause).
#   seccomp   lc-target with MIB written and 1000 pages a second rewritten,
#             with no filter and under filters that allow everything,
#             answer userfaultfd with EPERM, or kill on it
#             (tests/targets/lc-seccomp-run.c), dumped with the default
#             tracker as root, and without CAP_SYS_ADMIN (the filter
#             cannot be suspended: no tracker).
#
# The table goes to docs/BENCHMARKS.md between the bench-services markers
# and to standard output. Root only (the cluster runs as the postgres
# user). bash: it reads the pgbench logs with arrays.
#
# Environment: BENCH_ROWS (default "shared gcore-read seccomp postgres redis": which kinds
# of rows), BENCH_LARGE=1 (4 GB of shared_buffers too), BENCH_MODES
# (default "uffd none"), BENCH_OUT (default docs/BENCHMARKS.md),
# BENCH_ROUNDS (default 5: dumps per mode of a PostgreSQL or redis row),
# BENCH_DIR (work files, default /var/tmp), LIVECORE_BUILD.
set -u

prog=bench/services.sh
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIVECORE_BUILD:-$top/build}
out_md=${BENCH_OUT:-$top/docs/BENCHMARKS.md}
modes=${BENCH_MODES:-uffd none}
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres user)"
for f in "$build/bin/livecore.sh" "$build/targets/lc-target"; do
	[ -x "$f" ] || die "$f is not built (run: make)"
done
PG_BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/lc-bench-services.XXXXXX") || die "no work directory"
chmod 0755 "$work"
pids=()
pg_data=
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$pg_data" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
rows=$work/rows
: >"$rows"

# dump MODE PID [COMMAND PREFIX...] -> "pause_ms delta_pages maps_ms"
# (livecore.sh's summary; maps_ms: the stop's look at the memory map) or
# "failed"; the core's MiB on disk in $work/core.mib
dump() {
	local err mode=$1 pid=$2
	shift 2
	rm -f "$work/core"
	if ! "$@" "$build/bin/livecore.sh" -q -T "$mode" -w "$work" "$pid" "$work/core" 2>"$work/err"; then
		say "livecore.sh -T $mode $pid failed:"
		cat "$work/err" >&2
		echo "failed -"
		return
	fi
	err=$(tail -n 1 "$work/err")
	say "-T $mode $pid: ${err#livecore: }"
	sed -n 's/.*pause \([0-9.]*\) ms (.*maps \([0-9.]*\), delta [0-9.]* ms: \([0-9]*\) pages.*/\1 \3 \2/p' <<<"$err"
	stat -c '%b %B' "$work/core" | awk '{ printf "%.1f\n", $1 * $2 / 1048576 }' >"$work/core.mib"
	rm -f "$work/core"
}


# --- shared memory written by another process ------------------------------
shared_row() { # MIB
	local info=$work/t.info pid mode r
	rm -f "$info"
	"$build/targets/lc-target" -o "$info" --pattern-mib "$1" --pattern-shared --shared-writer 5000 \
		</dev/null >/dev/null 2>&1 &
	pid=$!
	pids+=("$pid")
	until [ -s "$info" ]; do sleep 0.1; done
	sleep 1
	for mode in $modes; do
		r=$(dump "$mode" "$pid")
		printf 'shared %s MiB\t%s\t%s\t-\t-\n' "$1" "$mode" "$r" >>"$rows"
	done
	printf 'shared %s MiB\tgcore\t%s -\t-\t-\n' "$1" "$(gcore_pause "$pid")" >>"$rows"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
}

# --- after a debugger's read ----------------------------------------------------
gcore_read_row() {
	local info=$work/t.info pid mode r before after
	for mode in $modes; do
		rm -f "$info"
		"$build/targets/lc-target" -o "$info" --pattern-mib 64 --reserve-gib 1 </dev/null >/dev/null 2>&1 &
		pid=$!
		pids+=("$pid")
		until [ -s "$info" ]; do sleep 0.1; done
		r=$(dump "$mode" "$pid")
		before=$(cat "$work/core.mib")
		printf 'gcore-read: before gcore\t%s\t%s\t-\t-\t%s\n' "$mode" "$r" "$before" >>"$rows"
		printf 'gcore-read: gcore\tgcore\t%s -\t-\t-\t-\n' "$(gcore_pause "$pid")" >>"$rows"
		r=$(dump "$mode" "$pid")
		after=$(cat "$work/core.mib")
		printf 'gcore-read: after gcore\t%s\t%s\t-\t-\t%s\n' "$mode" "$r" "$after" >>"$rows"
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
	done
}

# --- under seccomp -------------------------------------------------------------
seccomp_row() { # MIB
	local info=$work/t.info pid kind runner r
	for kind in none allow errno kill; do
		runner=
		[ "$kind" = none ] || runner="$build/targets/lc-seccomp-run $kind"
		rm -f "$info"
		$runner "$build/targets/lc-target" -o "$info" --pattern-mib "$1" --dirty-rate 1000 \
			</dev/null >/dev/null 2>&1 &
		pid=$!
		pids+=("$pid")
		until [ -s "$info" ]; do sleep 0.1; done
		r=$(dump auto "$pid" env)
		printf 'seccomp %s, %s MiB\tlivecore\t%s\t-\t-\n' "$kind" "$1" "$r" >>"$rows"
		if [ "$kind" != none ]; then
			r=$(dump auto "$pid" setpriv --bounding-set -sys_admin --)
			printf 'seccomp %s, %s MiB\tlivecore, no CAP_SYS_ADMIN\t%s\t-\t-\n' "$kind" "$1" "$r" >>"$rows"
		fi
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
	done
}

# --- PostgreSQL ---------------------------------------------------------------
pg() { runuser -u postgres -- "$PG_BIN/$1" -h "$work/sock" -p 5432 "${@:2}"; }

# latency LOGPREFIX FROM_US TO_US -> "p99_ms max_ms" of the transactions
# that ended in [FROM, TO) (pgbench -l: ... latency_us ... epoch_s epoch_us)
latency() {
	cat "$1".* 2>/dev/null | awk -v a="$2" -v b="$3" '{ end = $5 * 1e6 + $6; if (end >= a && end < b) print $3 }' |
		sort -n | awk '{ l[NR] = $1 }
		END {
			if (!NR) { print "- -"; exit }
			printf "%.1f %.1f\n", l[int(0.99 * (NR - 1)) + 1] / 1000, l[NR] / 1000 }'
}

# summarize_rounds FILE -> a row's fields from FILE's lines "pause pages
# maps p99 max p99_before max_before", one a dump: the pause as
# min/median/max (one value for one dump), the median dump's pages and
# maps part, pgbench's worst p99 and max over the dumps, during and before
summarize_rounds() {
	sort -g -k1,1 "$1" | awk '
		function worst(a, b) { return a == "-" ? b : (b == "-" ? a : (b + 0 > a + 0 ? b : a)) }
		{ p[NR] = $1; pages[NR] = $2; maps[NR] = $3
		  d99 = NR == 1 ? $4 : worst(d99, $4); dmx = NR == 1 ? $5 : worst(dmx, $5)
		  b99 = NR == 1 ? $6 : worst(b99, $6); bmx = NR == 1 ? $7 : worst(bmx, $7) }
		END {
			m = int((NR + 1) / 2)
			pause = NR == 1 ? p[1] : p[1] "/" p[m] "/" p[NR]
			printf "%s %s %s\t%s %s\t%s %s\n", pause, pages[m], maps[m], d99, dmx, b99, bmx }'
}

postgres_row() { # SHARED_BUFFERS(MB)
	local sb=$1 backend mode r t0 t1 base dur bench rounds k
	pg_data=$work/pg/data
	rm -rf "$work/pg" "$work/sock"
	mkdir -p "$work/pg" "$work/sock"
	chown postgres: "$work/pg" "$work/sock"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$pg_data" -A trust -U postgres --no-sync >/dev/null ||
		die "initdb failed"
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pg_data" -l "$work/pg/log" -w -t 120 \
		-o "-c listen_addresses='' -k $work/sock -p 5432 -c shared_buffers=${sb}MB -c fsync=off" \
		start >/dev/null || die "pg_ctl start failed: $(tail -n 5 "$work/pg/log")"
	say "postgres shared_buffers=${sb}MB: pgbench -i -s 50"
	pg pgbench -i -s 50 -q postgres >/dev/null 2>&1 || die "pgbench -i failed"
	# the tables into shared_buffers (as far as they fit)
	pg psql -X -q -c 'select count(*) from pgbench_accounts' postgres >/dev/null
	(cd "$work/pg" && exec runuser -u postgres -- "$PG_BIN/pgbench" -h "$work/sock" -p 5432 -n -c 2 \
		-T 600 -l --log-prefix="$work/pg/pglog" postgres >/dev/null 2>&1) &
	bench=$!
	pids+=("$bench")
	sleep 3
	backend=$(pg psql -X -At -c "select pid from pg_stat_activity where application_name = 'pgbench' limit 1" postgres)
	[ -n "$backend" ] || die "no pgbench backend"
	for mode in $modes gcore; do
		rounds=${BENCH_ROUNDS:-5}
		[ "$mode" = gcore ] && rounds=1
		: >"$work/rounds"
		for ((k = 0; k < rounds; k++)); do
			sleep 5
			t0=$(now_us)
			if [ "$mode" = gcore ]; then
				r="$(gcore_pause "$backend") - -"
			else
				r=$(dump "$mode" "$backend")
			fi
			t1=$(now_us)
			sleep 1
			dur=$(latency "$work/pg/pglog" "$t0" $((t1 + 1000000)))
			base=$(latency "$work/pg/pglog" $((t0 - 5000000)) "$t0")
			printf '%s %s %s\n' "$r" "$dur" "$base" >>"$work/rounds"
		done
		printf 'postgres %s MB\t%s\t%s\n' "$sb" "$mode" "$(summarize_rounds "$work/rounds")" >>"$rows"
	done
	kill -TERM "$bench" 2>/dev/null
	wait "$bench" 2>/dev/null
	rm -f "$work/pg/pglog".*
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1
	pg_data=
}

# --- redis under a SET load ---------------------------------------------------
# redis_row MB: redis-server with MB thousand keys of 1000 bytes (DEBUG
# POPULATE), redis-benchmark rewriting 100 000 of them (SET, 2 clients) all
# along; per dump, redis-cli --latency's worst round trip over a window that
# holds the whole dump, against a window of 3 s just before it (integer ms:
# redis-cli's resolution)
redis_row() {
	local port=7390 mode r k rounds sampler window base lat redis load
	if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
		say "redis-server or redis-benchmark is not installed: no redis row"
		return
	fi
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--enable-debug-command local </dev/null >"$work/redis.log" 2>&1 &
	redis=$!
	pids+=("$redis")
	until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
	say "redis: DEBUG POPULATE $(($1 * 1000)) keys of 1000 bytes"
	redis-cli -p "$port" debug populate $(($1 * 1000)) key 1000 >/dev/null
	redis-benchmark -p "$port" -t set -r 100000 -d 1000 -c 2 -n 1000000000 -q </dev/null >/dev/null 2>&1 &
	load=$!
	pids+=("$load")
	sleep 2
	for mode in $modes gcore; do
		rounds=${BENCH_ROUNDS:-5} window=8
		[ "$mode" = gcore ] && rounds=1 window=20
		: >"$work/rounds"
		for ((k = 0; k < rounds; k++)); do
			base=$(redis-cli -p "$port" --latency --raw -i 3 | awk '{ print $2 }')
			redis-cli -p "$port" --latency --raw -i "$window" >"$work/lat" &
			sampler=$!
			sleep 0.5
			if [ "$mode" = gcore ]; then
				r="$(gcore_pause "$redis") - -"
			else
				r=$(dump "$mode" "$redis")
			fi
			wait "$sampler"
			lat=$(awk '{ print $2 }' "$work/lat")
			printf '%s - %s - %s\n' "$r" "${lat:--}" "${base:--}" >>"$work/rounds"
		done
		printf 'redis %s MB, SET load\t%s\t%s\n' "$1" "$mode" "$(summarize_rounds "$work/rounds")" >>"$rows"
	done
	kill -KILL "$load" "$redis" 2>/dev/null
	wait "$load" "$redis" 2>/dev/null
}

wants() { case " ${BENCH_ROWS:-shared gcore-read seccomp postgres redis} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if wants shared; then
	shared_row 256
	shared_row 1024
fi
wants gcore-read && gcore_read_row
wants seccomp && seccomp_row 1024
wants redis && redis_row 1024
if ! wants postgres; then
	:
elif [ -n "$PG_BIN" ] && id postgres >/dev/null 2>&1; then
	postgres_row 128
	postgres_row 1024
	[ "${BENCH_LARGE:-0}" = 1 ] && postgres_row 4096
else
	say "PostgreSQL is not installed (apt-get install postgresql): no postgres rows"
fi

table=$work/table
{
	printf '<!-- bench-services:begin (bench/services.sh writes between these markers) -->\n'
	printf 'bench/services.sh, %s, %s, %s CPUs, Linux %s.\n\n' "$(date -u +%Y-%m-%d)" \
		"$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nproc)" "$(uname -r)"
	printf '| target | tool | pause ms (min/median/max) | maps part ms | pages copied in the stop | client p99 / max ms during (pgbench; redis-cli: max) | before | core MiB on disk |\n'
	printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
	while IFS="$(printf '\t')" read -r what mode r dur base disk; do
		set -- $r
		p99=${dur% *} mx=${dur#* } bp99=${base% *} bmx=${base#* }
		printf '| %s | %s | %s | %s | %s | %s / %s | %s / %s | %s |\n' "$what" "$mode" "$1" "${3:--}" "${2:--}" \
			"$p99" "$mx" "$bp99" "$bmx" "${disk:--}"
	done <"$rows"
	printf '<!-- bench-services:end -->\n'
} >"$table"
cat "$table"
if [ -f "$out_md" ] && grep -q '^<!-- bench-services:begin' "$out_md"; then
	awk -v t="$table" '
		/^<!-- bench-services:begin/ { while ((getline l < t) > 0) print l; skip = 1; next }
		/^<!-- bench-services:end/ { skip = 0; next }
		!skip' "$out_md" >"$work/md" && cat "$work/md" >"$out_md"
else
	{ printf '\n## Shared memory and services (make bench-services)\n\n'; cat "$table"; } >>"$out_md"
fi
