# readers.bash - for readers.bats and readers-go.bats: how a test gets the
# core that real readers (gdb, eu-stack, lldb, dlv) then check. Load it
# after helpers.bash.
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
