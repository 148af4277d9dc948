#!/bin/sh
# demo/run.sh - what `make demo` does: start lc-demo, dump it live with
# livecore.sh, show the summary and gdb's backtrace of every thread from the
# core, stop lc-demo. Run from the top of the tree after `make`.
set -u
build=${LIVECORE_BUILD:-build}
dir=$(mktemp -d "${TMPDIR:-/tmp}/livecore-demo.XXXXXX") || exit 1
"$build/demo/lc-demo" >"$dir/pid" &
demo=$!
trap 'kill "$demo" 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
sleep 0.5
echo "demo: lc-demo runs as pid $demo; dumping it live:"
echo "\$ livecore.sh $demo $dir/demo.core"
"$build/bin/livecore.sh" "$demo" "$dir/demo.core" || exit $?
kill -0 "$demo" || { echo "demo: lc-demo did not survive the dump" >&2; exit 1; }
echo "demo: lc-demo is still running; gdb reads the core:"
gdb -q -batch -ex 'set pagination off' -ex 'info threads' -ex 'thread apply all bt' \
	"$build/demo/lc-demo" "$dir/demo.core" 2>&1 | grep -v '^\[New LWP'
