# helpers.bash - loaded by every suite (`load helpers`).
#
# Each .bats file starts with `bats_require_minimum_version 1.8.0`, loads
# this file in setup(), and calls lc_cleanup_targets in teardown():
#
#   setup()    { load helpers; }
#   teardown() { lc_cleanup_targets; }
#
# Tests write only under $BATS_TEST_TMPDIR. `make check` sets LIVECORE_BUILD
# (the build/ directory) and puts the fresh tools first on PATH.

bats_load_library bats-support
bats_load_library bats-assert

: "${LIVECORE_BUILD:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}"
export LIVECORE_BUILD
case ":$PATH:" in
*":$LIVECORE_BUILD/bin:"*) ;;
*) PATH="$LIVECORE_BUILD/bin:$PATH" ;;
esac

LC_TARGET="$LIVECORE_BUILD/targets/lc-target"
LC_PAGECHECK="$LIVECORE_BUILD/targets/lc-pagecheck"
LC_COREREAD="$LIVECORE_BUILD/targets/lc-coreread"

# pids of every target this test started (killed by lc_cleanup_targets)
LC_TARGET_PIDS=()

# lc_start_target [lc-target options...]
# Starts lc-target in the background with its info file under
# $BATS_TEST_TMPDIR and waits (at most ~10 s) until the info file exists.
# Sets and exports LC_TARGET_PID and LC_TARGET_INFO. Fails (with the
# target's stderr) if the target dies or never gets ready. Several targets
# may be started; lc_info reads the last one's file unless LC_TARGET_INFO is
# set to another.
lc_start_target() {
	local n=${#LC_TARGET_PIDS[@]}
	local dir=${LC_TARGET_DIR:-$BATS_TEST_TMPDIR}
	local info="$dir/target$n.info"
	local err="$dir/target$n.stderr"
	local pid i

	[ -x "$LC_TARGET" ] || {
		echo "lc_start_target: $LC_TARGET is not built (make)" >&2
		return 1
	}
	rm -f "$info"
	# 3>&-: bats waits for every holder of fd 3 before it ends a test
	# shellcheck disable=SC2086 # LC_TARGET_RUNNER is a command line
	${LC_TARGET_RUNNER:-} "$LC_TARGET" -o "$info" "$@" 2>"$err" </dev/null >/dev/null 3>&- &
	pid=$!
	LC_TARGET_PIDS+=("$pid")
	for ((i = 0; i < 1000; i++)); do
		[ -s "$info" ] && break
		case $(lc_proc_state "$pid") in
		'' | Z | X) ;;
		*) sleep 0.01; continue ;;
		esac
		[ -s "$info" ] || {
			echo "lc_start_target: lc-target $* died before it was ready:" >&2
			cat "$err" >&2
			return 1
		}
	done
	if [ ! -s "$info" ]; then
		echo "lc_start_target: lc-target $* not ready after 10 s" >&2
		cat "$err" >&2
		return 1
	fi
	LC_TARGET_PID=$pid
	LC_TARGET_INFO=$info
	export LC_TARGET_PID LC_TARGET_INFO
}

# lc_start_target_as USER [lc-target options...] - lc_start_target, the
# target running as USER (a service user: its files are mode 0500 to
# others), its info file in a directory USER may write.
lc_start_target_as() {
	local user=$1 dir="$BATS_TEST_TMPDIR/as-$1"
	shift
	mkdir -p "$dir"
	chmod 1777 "$dir"
	lc_open_path "$dir"
	LC_TARGET_DIR=$dir \
		LC_TARGET_RUNNER="setpriv --reuid=$user --regid=$(id -g "$user") --clear-groups --" \
		lc_start_target "$@" || return 1
	[ "$(stat -c %u "/proc/$LC_TARGET_PID")" = "$(id -u "$user")" ] || {
		echo "lc_start_target_as: process $LC_TARGET_PID is not $user's" >&2
		return 1
	}
}

# lc_info KEY [INFOFILE] - the value of KEY in the target's info file.
# Fails (status 1, message on stderr) when the key is absent.
lc_info() {
	local file=${2:-$LC_TARGET_INFO}
	local v

	v=$(awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); found = 1; exit }
		END { exit !found }' "$file") || {
		echo "lc_info: no $1 in $file" >&2
		return 1
	}
	printf '%s\n' "$v"
}
export -f lc_info

# lc_proc_state PID - the state letter of /proc/PID/stat (R S D T t Z X I),
# or nothing when the process is gone.
lc_proc_state() {
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	printf '%s\n' "${stat%% *}"
}

# lc_proc_field PID N - field N (1-based, as in proc(5)) of /proc/PID/stat.
# The comm field may hold spaces and parentheses: count after its last ')'.
lc_proc_field() {
	local stat rest

	stat=$(cat "/proc/$1/stat") || return 1
	rest=${stat##*) }
	# rest starts at field 3
	awk -v n="$2" '{ print $(n - 2) }' <<<"$rest"
}

# lc_wait_state PID STATES [TRIES] - waits (10 ms steps, default 500) until
# the state of PID is one of the letters in STATES; fails otherwise.
lc_wait_state() {
	local i s

	for ((i = 0; i < ${3:-500}; i++)); do
		s=$(lc_proc_state "$1")
		[[ -n $s && $2 == *"$s"* ]] && return 0
		sleep 0.01
	done
	echo "lc_wait_state: process $1 is in state '${s:-gone}', not one of '$2'" >&2
	return 1
}

# lc_stop_target PID - SIGSTOP, and wait until the kernel shows it stopped.
lc_stop_target() {
	kill -STOP "$1" && lc_wait_state "$1" T
}

# lc_kill_target PID - SIGKILL (SIGCONT first if it is stopped, so that it
# does not linger) and reap it if it is our child.
lc_kill_target() {
	local pid=$1 s

	s=$(lc_proc_state "$pid")
	[ -n "$s" ] || return 0
	if [ "$s" = T ] || [ "$s" = t ]; then
		kill -CONT "$pid" 2>/dev/null
	fi
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# lc_cleanup_targets - for teardown(): kills every target this test started.
# Never fails, so that teardown itself never masks the test's result.
lc_cleanup_targets() {
	local pid

	for pid in "${LC_TARGET_PIDS[@]}"; do
		lc_kill_target "$pid"
	done
	LC_TARGET_PIDS=()
	return 0
}

# lc_clones_of PID - the children of PID (any thread's) with no exit
# signal (field 38 of their stat is 0), running or zombie: what -T fork's
# clone would be, had a dump left it. Programs rarely make such children.
lc_clones_of() {
	local child

	for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ "$(lc_proc_field "$child" 38 2>/dev/null)" = 0 ] && echo "$child"
	done
	return 0
}

# lc_assert_nothing_left PID - a dump left nothing in the process: no
# userfaultfd among its fds, no VMA registered with one (uw in smaps'
# VmFlags), no clone (-T fork), and it is not stopped
lc_assert_nothing_left() {
	run -0 lc_clones_of "$1"
	assert_output ""
	run -0 bash -c "ls -l /proc/$1/fd | grep -c 'anon_inode:\[userfaultfd\]' || true"
	assert_output 0
	run -0 bash -c "grep -c '^VmFlags:.* uw' /proc/$1/smaps || true"
	assert_output 0
	run -0 lc_proc_state "$1"
	refute_output --regexp '^[tTZ]$'
}

# lc_core_pattern_is_plain - true when core_pattern makes the kernel write a
# file named "core" (maybe "core.PID") in the dumping process's directory,
# which the tests that want a kernel-made core need.
lc_core_pattern_is_plain() {
	local p

	p=$(cat /proc/sys/kernel/core_pattern 2>/dev/null) || return 1
	[ "$p" = core ] || [ "$p" = core.%p ]
}

# lc_require_root - skips the test unless it runs as root.
lc_require_root() {
	[ "$(id -u)" = 0 ] || skip "needs: root"
}

# lc_require_x86_64 WHAT - skips a test of x86-64's own WHAT (its XSAVE
# notes) on another architecture
lc_require_x86_64() {
	[ "$(uname -m)" = x86_64 ] || skip "needs: x86-64 ($1)"
}

# lc_ld_so - the dynamic linker's name on this architecture
lc_ld_so() {
	case $(uname -m) in
	aarch64) echo ld-linux-aarch64.so.1 ;;
	*) echo ld-linux-x86-64.so.2 ;;
	esac
}

# lc_start_program BIN INFO [args...] - starts BIN -o INFO args (behind
# LC_TARGET_RUNNER, a command line, when set) in the background (the convention of every test program here: it writes INFO
# when ready), registers it for lc_cleanup_targets, waits at most ~10 s for
# INFO. Sets LC_STARTED_PID; on failure prints the program's stderr
# (INFO.err) and returns 1.
lc_start_program() {
	local bin=$1 info=$2 i
	shift 2

	# shellcheck disable=SC2086 # LC_TARGET_RUNNER is a command line
	${LC_TARGET_RUNNER:-} "$bin" -o "$info" "$@" </dev/null >/dev/null 2>"$info.err" 3>&- &
	LC_STARTED_PID=$!
	LC_TARGET_PIDS+=("$LC_STARTED_PID")
	for ((i = 0; i < 1000; i++)); do
		[ -s "$info" ] && return 0
		kill -0 "$LC_STARTED_PID" 2>/dev/null || break
		sleep 0.01
	done
	cat "$info.err" >&2
	return 1
}

# lc_start_nobody_process - starts `sleep 1000` as uid/gid 65534 (another
# user's process for the privilege tests), registered for cleanup; waits
# until it has exec'd sleep. Sets LC_NOBODY_PID.
lc_start_nobody_process() {
	local i

	setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1000 3>&- &
	LC_NOBODY_PID=$!
	LC_TARGET_PIDS+=("$LC_NOBODY_PID")
	for ((i = 0; i < 500; i++)); do
		[ "$(stat -c %u "/proc/$LC_NOBODY_PID" 2>/dev/null)" = 65534 ] &&
			[ "$(readlink "/proc/$LC_NOBODY_PID/exe")" != "$(command -v setpriv)" ] && return 0
		sleep 0.01
	done
	return 0 # the callers check the owner themselves
}

# lc_open_path DIR - lets other users reach DIR (o+x on it and its parents)
# lc_as USER CMD... - runs CMD as USER with USER's groups. Through a
# shell: the exec of CMD must be the user's own (setpriv execs while it
# still holds root's capabilities, which would pass a group's 0750 check
# for anyone).
lc_as() {
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- /bin/sh -c 'exec "$@"' sh "$@"
}

# lc_memory_cgroup - a cgroup v1 memory cgroup of our own under the
# caller's (CG, for lc_remove_cgroup in teardown), and a runner that
# starts a program in it (LC_CG_RUNNER, for LC_TARGET_RUNNER); skips
# where there is none to make
lc_memory_cgroup() {
	local own

	own=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
	CG=/sys/fs/cgroup/memory$own/livecore-test-$$
	[ -n "$own" ] && mkdir "$CG" 2>/dev/null || {
		CG=
		skip "needs: a writable cgroup v1 memory controller"
	}
	LC_CG_RUNNER=$BATS_TEST_TMPDIR/in-cgroup
	printf '#!/bin/sh\necho $$ >"%s/cgroup.procs" && exec "$@"\n' "$CG" >"$LC_CG_RUNNER"
	chmod +x "$LC_CG_RUNNER"
}

# lc_remove_cgroup DIR - removes the cgroup DIR (none: nothing), waiting
# up to 5 s for the processes killed in it to leave it
lc_remove_cgroup() {
	local i

	for ((i = 0; i < 100 && ${#1} > 0; i++)); do
		rmdir "$1" 2>/dev/null && break
		sleep 0.05
	done
	return 0
}

lc_open_path() {
	local p=$1

	while [ "$p" != / ]; do
		chmod o+x "$p"
		p=$(dirname "$p")
	done
}

# lc_kernel_has_uffd - true on Linux 6.7 or later: userfaultfd's
# asynchronous write-protect and PAGEMAP_SCAN, what the uffd tracker needs
lc_kernel_has_uffd() {
	local v major minor
	v=$(uname -r)
	major=${v%%.*} minor=${v#*.}
	minor=${minor%%.*}
	[ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 7 ]; }
}

# lc_say TEXT - a "# " line in the TAP output (figures worth a look)
lc_say() {
	printf '# %s\n' "$*" >&3
}

# lc_core_word CORE ADDR - the 64-bit value at ADDR in CORE
lc_core_word() {
	"$LC_COREREAD" -w "$1" "$2"
}

# lc_core_pagecheck CORE ADDR NPAGES [MIN_GEN] - lc-pagecheck on the pages of
# CORE at target address ADDR; prints its "good G bad B"
lc_core_pagecheck() {
	local off

	off=$("$LC_COREREAD" "$1" "$2") || return 2
	"$LC_PAGECHECK" "$1" "$off" "$2" "$3" "${4:-1}"
}

# lc_check_generations CORE - the pattern pages of the last lc-target in
# CORE (--dirty-rate, --dirty-set) hold the values they had at the stop.
# The writer fills a page with generation lc_generation + 1, then sets
# lc_generation, cycling over the first dirty.set pages; the page
# at lc_dirty_page (nonzero while a fill is under way) may be torn and is
# left out. So: no page is newer than the core's lc_generation, the newest
# page is that generation (or one before it, if the one left out was the
# newest), and every page of the set is one of the last SET generations: a
# page staged during pre-copy and missed by the stop would be a whole cycle
# older. The pages past the set still hold generation 1.
lc_check_generations() {
	local core=$1 paddr npages set gen busy skip max

	paddr=$(lc_info pattern.addr)
	npages=$(($(lc_info pattern.size) / 4096))
	set=$(lc_info dirty.set)
	gen=$(lc_core_word "$core" "$(lc_info generation.addr)")
	busy=$(lc_core_word "$core" "$(lc_info dirty_page.addr)")
	skip=-1
	[ "$busy" = 0 ] || skip=$(((busy - paddr) / 4096))
	lc_say "core: lc_generation $gen, lc_dirty_page $(printf '0x%x' "$busy")"
	# the writer went round the set twice at least: a stale page would show
	[ "$gen" -gt $((2 * set)) ]
	max=$("$LC_COREREAD" -w "$core" $((paddr + 8)) "$set" 4096 |
		awk -v skip="$skip" 'NR - 1 != skip && $1 > max { max = $1 } END { print max + 0 }')
	lc_say "core: newest generation in the set's pages $max"
	[ "$max" -le "$gen" ]
	[ "$max" -ge $((gen - 1)) ]
	if [ "$skip" -lt 0 ]; then
		run -0 lc_core_pagecheck "$core" "$paddr" "$set" $((gen - set + 1))
		assert_output "good $set bad 0"
	else
		if [ "$skip" -gt 0 ]; then
			run -0 lc_core_pagecheck "$core" "$paddr" "$skip" $((gen - set))
			assert_output "good $skip bad 0"
		fi
		if [ $((skip + 1)) -lt "$set" ]; then
			run -0 lc_core_pagecheck "$core" $((paddr + (skip + 1) * 4096)) $((set - skip - 1)) $((gen - set))
			assert_output "good $((set - skip - 1)) bad 0"
		fi
	fi
	run -0 lc_core_pagecheck "$core" $((paddr + set * 4096)) $((npages - set))
	assert_output "good $((npages - set)) bad 0"
}
