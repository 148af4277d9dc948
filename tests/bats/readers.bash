# readers.bash - for readers.bats, readers-go.bats and fork.bats: how a
# test gets the core that real readers (gdb, eu-stack, lldb, dlv) then
# check, and what each reader says of lc-target's threads. Load it after
# helpers.bash.
#
# The cores come from livecore.sh. With LC_READERS_DUMPER=gcore they come
# from gdb's gcore instead: that runs every reader assertion against the
# reference dumper, which is how the assertions themselves are checked:
#
#   LC_READERS_DUMPER=gcore bats tests/bats/readers.bats tests/bats/readers-go.bats

# readers_require_dumper - skips the test when the dumper is not there.
readers_require_dumper() {
	local t

	case ${LC_READERS_DUMPER:-livecore} in
	livecore)
		for t in livecore.sh lc-maps lc-precopy lc-freeze lc-elfwrite; do
			[ -x "$LIVECORE_BUILD/bin/$t" ] || skip "needs: livecore.sh ($t is not built)"
		done
		;;
	gcore)
		command -v gcore >/dev/null || skip "needs: gdb (gcore)"
		;;
	*)
		fail "LC_READERS_DUMPER=$LC_READERS_DUMPER: want livecore or gcore"
		;;
	esac
}

# readers_dump PID CORE - writes a core of PID to CORE with the dumper under
# test. On failure prints the dumper's output and fails.
readers_dump() {
	local pid=$1 core=$2 log="$BATS_TEST_TMPDIR/dump.log"

	case ${LC_READERS_DUMPER:-livecore} in
	livecore)
		"$LIVECORE_BUILD/bin/livecore.sh" -q "$pid" "$core" >"$log" 2>&1
		;;
	gcore)
		readers_gcore "$pid" "$core" >"$log" 2>&1
		;;
	esac || {
		echo "readers_dump: ${LC_READERS_DUMPER:-livecore} of pid $pid failed:" >&2
		cat "$log" >&2
		return 1
	}
	[ -s "$core" ] || {
		echo "readers_dump: ${LC_READERS_DUMPER:-livecore} left no core at $core:" >&2
		cat "$log" >&2
		return 1
	}
}

# readers_gcore PID CORE - gdb's gcore of PID, as CORE.
readers_gcore() {
	gcore -o "$2.gcore" "$1" && mv "$2.gcore.$1" "$2"
}

# gdb_core BIN CORE COMMAND... - runs gdb in batch mode on a core.
gdb_core() {
	local bin=$1 core=$2 args=() c
	shift 2
	for c in "$@"; do
		args+=(-ex "$c")
	done
	gdb -batch -nx -iex 'set debuginfod enabled off' "${args[@]}" "$bin" "$core"
}

# expected_threads - "TID FUNCTION" for every thread of lc-target, from its
# info file: the function the target put each thread in.
expected_threads() {
	local i

	echo "$(lc_info main.tid) $(lc_info main.func)"
	for ((i = 0; i < $(lc_info threads); i++)); do
		echo "$(lc_info "thread.$i.tid") $(lc_info "thread.$i.func")"
	done
}

# per_thread - reads `thread apply all ...` output of gdb on stdin and
# prefixes every line with the LWP of the thread it belongs to.
per_thread() {
	awk '/^Thread [0-9]+ \(.*LWP [0-9]+\)\)?:$/ {
		lwp = $0; sub(/.*LWP /, "", lwp); sub(/\).*/, "", lwp); next }
	lwp != "" && NF { print lwp, $0 }'
}

# gdb_frames - `thread apply all bt` output on stdin to "TID FUNCTION"
# lines, one per frame.
gdb_frames() {
	per_thread | awk '$2 ~ /^#[0-9]+$/ { f = ($3 ~ /^0x/ && $4 == "in") ? $5 : $3; print $1, f }'
}

# eu_stack_frames - eu-stack output on stdin to "TID N FUNCTION" lines.
eu_stack_frames() {
	awk '/^TID [0-9]+:$/ { tid = $2; sub(/:/, "", tid); next }
	tid != "" && $1 ~ /^#[0-9]+$/ { n = substr($1, 2); print tid, n + 0, $3 }'
}

# lldb_frames BIN CORE - "TID N MODULE`FUNCTION" for every frame of every
# thread that lldb finds in the core (`thread list` gives the tids,
# `thread backtrace all` the frames).
lldb_frames() {
	lldb --batch -o "target create --core $2 $1" -o 'thread list' -o 'thread backtrace all' </dev/null |
		awk '
		/^[* ] thread #[0-9]+: tid = [0-9]+,/ {
			match($0, /#[0-9]+/); i = substr($0, RSTART + 1, RLENGTH - 1)
			match($0, /tid = [0-9]+/); tid[i] = substr($0, RSTART + 6, RLENGTH - 6); next }
		/^[* ] thread #[0-9]+,/ {
			match($0, /#[0-9]+/); cur = tid[substr($0, RSTART + 1, RLENGTH - 1)]; next }
		cur != "" && /^ +[* ]? *frame #[0-9]+: / {
			n = $0; sub(/.*frame #/, "", n); sub(/:.*/, "", n)
			f = $0; sub(/.*frame #[0-9]+: 0x[0-9a-f]+ ?/, "", f)
			sub(/[( ].*/, "", f); print cur, n, f }'
}
