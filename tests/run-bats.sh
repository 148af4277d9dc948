#!/bin/sh
# tests/run-bats.sh [bats options] PATHS... - runs bats (TAP output, so a
# log reads the same on a terminal and in CI) and ends with one line
# "bats: N passed, N failed, N skipped"; exits with bats's status, and
# non-zero when no test ran at all.
set -u
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
bats --tap "$@" | tee "$log"
rc=0
# bats's own status: POSIX sh has no PIPESTATUS, so read the TAP instead
passed=$(grep -c '^ok ' "$log" | tr -d ' ')
skipped=$(grep -c '^ok .* # skip' "$log" | tr -d ' ')
failed=$(grep -c '^not ok ' "$log" | tr -d ' ')
planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n 1)
passed=$((passed - skipped))
echo "bats: $passed passed, $failed failed, $skipped skipped"
ran=$((passed + failed + skipped))
if [ "$failed" -ne 0 ] || [ "$ran" -eq 0 ]; then
	rc=1
elif [ -n "$planned" ] && [ "$ran" -ne "$planned" ]; then
	echo "bats: $ran of $planned planned tests reported (a test file aborted?)"
	rc=1
fi
exit $rc
