# shellcheck shell=bash disable=SC2154 # $work is the sourcing script's
# bench/lib.sh - what bench/services.sh and bench/writers.sh share; sourced,
# after they set $work (their work directory).

now_us() { date +%s%6N; }

# gcore_pause PID [TIMEOUT_S] -> the ms gcore held the process (it stops it
# for its whole run), "-" without gdb's gcore, "failed" when it failed or
# ran past TIMEOUT_S (default 300)
gcore_pause() {
	local t0 t1
	command -v gcore >/dev/null 2>&1 || { echo -; return; }
	t0=$(now_us)
	timeout -s KILL "${2:-300}" gcore -o "$work/gcore" "$1" >/dev/null 2>&1 || { echo failed; return; }
	t1=$(now_us)
	rm -f "$work/gcore".*
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", (b - a) / 1000 }'
}
