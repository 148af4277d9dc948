#!/bin/bash
# tests/vm/read-arm64-core.sh BIN CORE INFO SYSROOT - run on the host by
# run-guest.sh aarch64: gdb-multiarch reads the core an arm64 guest made
# of lc-target (BIN, its -o INFO file; SYSROOT: the guest's userland, for
# its libc and ld.so). For every thread INFO names (the main one and each
# worker): a backtrace through the function INFO says it runs, its own
# lc_tls_value (TLS, from its NT_ARM_TLS and the executable's TLS block),
# and a pc register on its system call: every thread of lc-target waits in
# one (read, nanosleep, futex, sigsuspend), so the instruction at pc - 4
# (the call returns there) or at pc (the kernel rewound an interrupted call
# to restart it) is `svc #0`. Prints what it read; exit 0 when all of it
# held, 1 otherwise.
set -u
bin=$1 core=$2 info=$3 sysroot=$4
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# shellcheck disable=SC2016 # $pc is gdb's
gdb-multiarch -q -batch -nx -iex 'set architecture aarch64' -iex "set sysroot $sysroot" \
	-iex 'set auto-load safe-path /' -ex 'set pagination off' \
	-ex 'thread apply all bt' \
	-ex 'thread apply all print/x lc_tls_value' \
	-ex 'thread apply all x/2i $pc - 4' \
	-ex 'info registers pc sp x0' \
	"$bin" "$core" >"$out" 2>&1
sed -n '/^Thread\|^#\|^\$\|^pc\|^sp\|^x0\|^ *0x\|^=> /p' "$out"

val() { sed -n "s/^$1=//p" "$info" | head -1; }
fail=0
check() { # tid func tls
	# the thread's lines, from its "Thread N (LWP tid" header to the next
	local lines
	lines=$(awk -v tid="$1" '/^Thread [0-9]+ / { on = match($0, "\\(LWP " tid "[ )]") > 0 } on' "$out")
	if ! grep -q " $2 (" <<<"$lines"; then
		echo "read-arm64-core: thread $1: no frame in $2"
		fail=1
	fi
	if ! grep -qi "= $3\$" <<<"$lines"; then
		echo "read-arm64-core: thread $1: lc_tls_value is not $3"
		fail=1
	fi
	if ! grep -Eq '	svc	#0x0$' <<<"$lines"; then
		echo "read-arm64-core: thread $1: no svc #0 at pc or just before it"
		fail=1
	fi
}
check "$(val main.tid)" "$(val main.func)" "$(val main.tls)"
n=$(val threads)
for ((i = 0; i < n; i++)); do
	check "$(val "thread\\.$i\\.tid")" "$(val "thread\\.$i\\.func")" "$(val "thread\\.$i\\.tls")"
done
threads=$(grep '^#0 ' -B1 "$out" | grep -c '(LWP [0-9]*))' || true)
echo "read-arm64-core: gdb-multiarch read $threads threads; checked $((n + 1))"
[ "$threads" -ge $((n + 1)) ] || fail=1
exit $fail
