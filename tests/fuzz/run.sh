#!/bin/sh
# tests/fuzz/run.sh - runs each libFuzzer target for a bounded time.
#   run.sh BUILD_DIR SECONDS TARGET...
# Each target starts from its committed seeds (tests/fuzz/corpus/TARGET/,
# which libFuzzer only reads: every seed is replayed, so a fixed crash kept
# there is a regression test) and a scratch corpus under BUILD_DIR that it
# grows. A crash, a sanitizer report or a leak fails the run; the input is
# saved as BUILD_DIR/artifacts/TARGET-crash-SHA1 (add it to the corpus once
# the bug is fixed). Exits non-zero when any target failed.
set -u
build=$1 seconds=$2
shift 2
here=$(dirname "$0")
failed=
mkdir -p "$build/artifacts"
for t in "$@"; do
	mkdir -p "$build/corpus/$t"
	printf 'fuzz %s: %s s\n' "$t" "$seconds"
	if ! "$build/fuzz_$t" -max_total_time="$seconds" -max_len=16384 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t-" \
		"$build/corpus/$t" "$here/corpus/$t" >"$build/fuzz_$t.log" 2>&1; then
		echo "fuzz $t: FAILED (log: $build/fuzz_$t.log)" >&2
		grep -E 'ERROR|runtime error|invariant failed|Test unit written' "$build/fuzz_$t.log" >&2
		failed="$failed $t"
		continue
	fi
	grep -E '^stat::number_of_executed_units|^Done' "$build/fuzz_$t.log" | tr '\n' ' '
	echo
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed" >&2
	exit 1
fi
