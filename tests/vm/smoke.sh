#!/bin/sh
# tests/vm/smoke.sh RESULTS_DIR - run in a guest by run-guest.sh: the whole
# pipeline on a target that writes while it is dumped, with the tracker
# auto picks, which must be SMOKE_TRACKING (soft-dirty, the default; uffd
# in the arm64 guest). The core and the target's info file (its threads'
# TLS values) go to RESULTS_DIR for the host's gdb, and so does the
# kernel's own core of the same process (SIGABRT after the dump), whose
# notes the host compares with ours. Exit 0 when everything held.
set -u
res=$1
dir=$(mktemp -d)
# shellcheck disable=SC3045 # busybox sh and dash have it
ulimit -c unlimited
fail() { echo "SMOKE FAIL: $*"; kill -9 "$pid" 2>/dev/null; exit 1; }

"$LIVECORE_BUILD/targets/lc-target" -o "$dir/info" --threads 3 --tls --pattern-mib 64 --dirty-rate 2000 --progress-file "$dir/progress" &
pid=$!
i=0
while ! [ -f "$dir/info" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "lc-target did not start"
	sleep 0.1
done
livecore.sh -k -w "$dir" "$pid" "$dir/smoke.core" 2>"$dir/stderr"
rc=$?
cat "$dir/stderr"
[ $rc = 0 ] || fail "livecore.sh exited $rc"
m=$(ls "$dir"/.livecore.*/manifest.freeze)
grep '^# tracking ' "$m"
want=${SMOKE_TRACKING:-soft-dirty}
grep -q "^# tracking $want\$" "$m" || fail "auto did not pick $want"
grep '^# pass ' "$m"
grep '^# freeze ' "$m" || fail "no freeze line"
p1=$(cat "$dir/progress")
sleep 0.3
p2=$(cat "$dir/progress")
[ "$p2" -gt "$p1" ] || fail "the target stopped running after the dump ($p1 -> $p2)"
[ "$(stat -c %a "$dir/smoke.core")" = 600 ] || fail "core is not 0600"
cp "$dir/smoke.core" "$res/smoke.core" || fail "cannot copy the core out"
cp "$dir/info" "$res/smoke.info" || fail "cannot copy the info file out"
# the kernel's core of the same process, for its notes
echo "$dir/kernel.core" >/proc/sys/kernel/core_pattern
kill -ABRT "$pid"
wait "$pid" 2>/dev/null
[ -s "$dir/kernel.core" ] || fail "no kernel core"
cp "$dir/kernel.core" "$res/kernel.core" || fail "cannot copy the kernel's core out"
echo "SMOKE OK"
