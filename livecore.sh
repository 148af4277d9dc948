#!/bin/sh
# livecore.sh - dump a running process to an ELF core with a pause of
# milliseconds: discovery, pre-copy while it runs, a short stop, assembly.
# See livecore(1). POSIX sh; the tools are looked up beside this script
# first, then on PATH.
set -u

usage() {
	cat <<'USAGE'
usage: livecore.sh [-p PASSES] [-t DIRTY_PCT] [-T TRACKING] [-b PAUSE_BUDGET_MS]
                   [-r RETRIES] [-M MIB] [-w WORKDIR] [-n NICE] [-a] [-J] [-k] [-q]
                   [-f] [--no-throttle] PID OUT.core
       livecore.sh [options] -o PREFIX PID...
       livecore.sh [options] [-m MIB [-c] [-i SECONDS]] [-N COUNT [-s SECONDS] [-K KEEP]]
                   PID OUT.core
  -o PREFIX          gcore's form: dump each PID on its own into PREFIX.PID,
                     one after the other; the exit status is the highest of
                     theirs (0: every core written)
  -a                 every readable mapping, whatever the process's
                     coredump_filter (lc-maps -f all; gcore -a)
  -J                 register the core with the systemd journal as
                     systemd-coredump does, where it lies, for coredumpctl
  -m MIB             wait until the process has MIB MiB resident, checked every
                     -i seconds (default 1) as nobody, then dump it; -c: until
                     its memory cgroup uses MIB MiB
  -N COUNT           COUNT dumps, -s SECONDS apart (default 10), into OUT.1 to
                     OUT.COUNT, keeping the last -K of them (default: all); the
                     free space of OUT's filesystem is checked before each
  -p PASSES          most pre-copy passes (lc-precopy -p)
  -t DIRTY_PCT       stop pre-copying below this dirty share (lc-precopy -t)
  -T TRACKING        auto, soft-dirty, uffd, fork or none (lc-precopy -T)
  -b PAUSE_BUDGET_MS the pause the dump plans for (default 20): a stop that
                     would last longer is given up and pre-copied again
                     (lc-freeze -b), at most RETRIES times, while another
                     pass can help; else (a process that writes as fast as
                     a pass copies), and without -b, it stops anyway and
                     the summary says by how much the budget was exceeded
  -r RETRIES         stops to retry after the budget was exceeded (default 3)
  -M MIB             memory, allocated before the stop, that the stop reads the
                     final delta into (lc-freeze -M; default: 1.5 times the
                     delta foreseen and 4, at most 1024 and a quarter of
                     MemAvailable; 0: none)
  -w WORKDIR         directory for the work files (default: OUT's directory,
                     so that the core is assembled in place)
  -n NICE            the pre-copy's niceness (default 19; 0: as the caller),
                     and its I/O at the lowest best-effort priority, so that
                     the process keeps its CPUs while it is copied
  -k                 keep the work directory (manifests, staging, notes)
  -q                 quiet: only errors and the summary line
  -f                 replace OUT if it exists
  --no-throttle      -T auto: never slow the process down when the pre-copy
                     passes do not catch up with its writes and no clone of
                     it can be made (lc-precopy -S)
USAGE
}

prog=livecore.sh
die() { # status message...
	status=$1
	shift
	printf '%s: %s\n' "$prog" "$*" >&2
	exit "$status"
}

passes='' dirty_pct='' tracking='' budget='' hold_mib='' retries=3 workparent='' keep=0 quiet=0 force=0 niceness=19
prefix='' all_maps=0 journal=0 cgroup_mem=0 rss_mib='' count='' interval='' rotate='' check_every=''
# the one long option, taken out before getopts sees the rest
throttle=1
for arg; do
	shift
	if [ "$arg" = --no-throttle ]; then throttle=0; else set -- "$@" "$arg"; fi
done
while getopts p:t:T:b:r:M:w:n:o:m:N:s:K:i:acJkqfh opt; do
	case $opt in
	p) passes=$OPTARG ;;
	t) dirty_pct=$OPTARG ;;
	T) tracking=$OPTARG ;;
	b) budget=$OPTARG ;;
	r) retries=$OPTARG ;;
	M) hold_mib=$OPTARG ;;
	w) workparent=$OPTARG ;;
	n) niceness=$OPTARG ;;
	o) prefix=$OPTARG ;;
	m) rss_mib=$OPTARG ;;
	N) count=$OPTARG ;;
	s) interval=$OPTARG ;;
	K) rotate=$OPTARG ;;
	i) check_every=$OPTARG ;;
	a) all_maps=1 ;;
	J) journal=1 ;;
	c) cgroup_mem=1 ;;
	k) keep=1 ;;
	q) quiet=1 ;;
	f) force=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
is_number() { case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }

# Runs a command in the background and waits for it, so that an
# interrupt reaches the trap at once; a child started with & ignores
# SIGINT, so it is told with SIGTERM. Sets rc.
child=
waited() {
	"$@" &
	child=$!
	wait "$child"
	rc=$?
	child=
}

# gcore's form (-o) and the triggers (-m, -N): each dump is made by a
# driver of our own with the same options (below: into "$@"), so that one
# that fails does not stop the others.
triggers=$rss_mib$count$interval$rotate$check_every
[ "$cgroup_mem" = 0 ] || triggers=${triggers:-c}
if [ -n "$prefix$triggers" ]; then
	trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child"; exit 8' INT TERM HUP
	if [ -n "$prefix" ]; then
		[ $# -ge 1 ] || { usage >&2; exit 2; }
		[ -z "$triggers" ] || die 2 "-m, -c, -N, -s, -K and -i dump one process (not with -o)"
		for p; do is_number "$p" || die 2 "bad pid \"$p\" (want a decimal process id)"; done
		pids=$*
	else
		[ $# -eq 2 ] || { usage >&2; exit 2; }
		pid=$1 out=$2
	fi
	set --
	[ -n "$passes" ] && set -- "$@" -p "$passes"
	[ -n "$dirty_pct" ] && set -- "$@" -t "$dirty_pct"
	[ -n "$tracking" ] && set -- "$@" -T "$tracking"
	[ -n "$budget" ] && set -- "$@" -b "$budget"
	[ -n "$hold_mib" ] && set -- "$@" -M "$hold_mib"
	[ -n "$workparent" ] && set -- "$@" -w "$workparent"
	set -- "$@" -r "$retries" -n "$niceness"
	[ "$all_maps" = 1 ] && set -- "$@" -a
	[ "$journal" = 1 ] && set -- "$@" -J
	[ "$keep" = 1 ] && set -- "$@" -k
	[ "$quiet" = 1 ] && set -- "$@" -q
	[ "$force" = 1 ] && set -- "$@" -f
	[ "$throttle" = 0 ] && set -- "$@" --no-throttle
fi

# gcore's form: each process dumped by a driver of its own, in turn, with
# the same options, so that one that fails or exits does not stop the
# others. An interrupt ends the one running (it resumes its process and
# removes its work files) and the rest.
if [ -n "$prefix" ]; then
	worst=0
	for p in $pids; do
		waited sh "$0" "$@" "$p" "$prefix.$p"
		[ "$rc" -gt "$worst" ] && worst=$rc
	done
	exit "$worst"
fi

# The triggers (ProcDump's): a dump when the process's resident memory
# reaches -m MIB, checked every -i seconds; -N dumps -s seconds apart,
# OUT.1 to OUT.N, the last -K of them kept. The waiting holds no
# privilege: run as root, the loop that reads the process's status runs
# as nobody (setpriv; /proc/PID/status is anyone's to read).
if [ -n "$triggers" ]; then
	is_number "$pid" || die 2 "bad pid \"$pid\" (want a decimal process id)"
	for v in "$rss_mib" "$count" "$interval" "$rotate" "$check_every"; do
		[ -z "$v" ] || is_number "$v" || die 2 "bad number \"$v\""
	done
	count=${count:-1} interval=${interval:-10} check_every=${check_every:-1}
	[ "$count" -ge 1 ] || die 2 "-N wants 1 or more dumps"
	[ "$check_every" -ge 1 ] || die 2 "-i wants 1 second or more"
	[ -z "$rotate" ] || [ "$rotate" -ge 1 ] || die 2 "-K wants 1 or more cores to keep"
	[ "$out" != - ] || [ "$count" = 1 ] || die 2 "-N writes files: not with OUT -"
	[ -d "/proc/$pid" ] || die 3 "no process $pid"
	# the process, not its pid: a pid reused while we wait is not it
	started=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f20)
	[ "$cgroup_mem" = 0 ] || [ -n "$rss_mib" ] || die 2 "-c is -m's: the memory cgroup's use to wait for"
	reached=" has $rss_mib MiB resident" unreached="its resident memory reached $rss_mib MiB"
	if [ "$cgroup_mem" = 1 ]; then
		# v1's memory controller (listed first where both are), else v2's
		usage=$(awk -F: '$2 == "memory" { print "/sys/fs/cgroup/memory" $3 "/memory.usage_in_bytes"; exit }
			$1 == "0" && $2 == "" { print "/sys/fs/cgroup" $3 "/memory.current" }' "/proc/$pid/cgroup")
		[ -r "$usage" ] || die 1 "process $pid: no memory cgroup usage to read (${usage:-none})"
		reached="'s memory cgroup uses $rss_mib MiB" unreached="its memory cgroup used $rss_mib MiB"
	fi
	if [ -n "$rss_mib" ]; then
		# shellcheck disable=SC2016 # expanded by the sh that runs it
		loop='while :; do
			now=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -d" " -f20)
			[ "$now" = "$2" ] || exit 3
			if [ -n "$5" ]; then
				kib=$(($(cat "$5") / 1024))
			else
				kib=$(awk "\$1 == \"VmRSS:\" { print \$2 }" "/proc/$1/status" 2>/dev/null)
			fi
			[ -n "$kib" ] || exit 3
			[ "$kib" -ge $(($3 * 1024)) ] && exit 0
			sleep "$4"
		done'
		if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
			waited setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
				--bounding-set=-all --no-new-privs sh -c "$loop" sh "$pid" "$started" "$rss_mib" "$check_every" \
				"${usage:-}"
		else
			waited sh -c "$loop" sh "$pid" "$started" "$rss_mib" "$check_every" "${usage:-}"
		fi
		[ "$rc" = 0 ] || die 3 "process $pid exited before $unreached"
		[ "$quiet" = 1 ] || printf '%s: process %s%s or more\n' "$prog" "$pid" "$reached" >&2
	fi
	worst=0 k=1
	while [ "$k" -le "$count" ]; do
		o=$out
		[ "$count" = 1 ] || o=$out.$k
		# the core is at most what the process has resident and swapped
		if [ "$o" != - ]; then
			need=$(awk '$1 == "VmRSS:" || $1 == "VmSwap:" { kb += $2 } END { print kb + 0 }' "/proc/$pid/status" 2>/dev/null)
			free=$(df -Pk "$(dirname "$o")" | awk 'NR == 2 { print $4 }')
			[ -n "$free" ] && [ "$free" -lt "$need" ] &&
				die 1 "not enough space in $(dirname "$o") for $o: $((free / 1024)) MiB free, the process has $((need / 1024)) MiB resident and swapped"
		fi
		waited sh "$0" "$@" "$pid" "$o"
		[ "$rc" -gt "$worst" ] && worst=$rc
		# interrupted, or the process is gone: no more dumps
		case $rc in 3 | 8) exit "$rc" ;; esac
		[ -z "$rotate" ] || [ "$k" -le "$rotate" ] || rm -f "$out.$((k - rotate))"
		k=$((k + 1))
		[ "$k" -gt "$count" ] || waited sleep "$interval"
	done
	exit "$worst"
fi

[ $# -eq 2 ] || { usage >&2; exit 2; }
pid=$1 out=$2

is_number "$pid" || die 2 "bad pid \"$pid\" (want a decimal process id)"
is_number "$retries" || die 2 "bad retry count \"$retries\""
{ is_number "$niceness" && [ "$niceness" -le 19 ]; } || die 2 "bad niceness \"$niceness\" (0 to 19)"
[ -z "$budget" ] || is_number "$budget" || die 2 "bad pause budget \"$budget\" (milliseconds)"
# -b: give up a stop over the budget while another pass can help; the
# default budget is only planned for and reported (livecore(1), "The pause
# budget")
budget_explicit=0
[ -n "$budget" ] && budget_explicit=1
[ -n "$budget" ] || budget=20
[ -z "$hold_mib" ] || is_number "$hold_mib" || die 2 "bad memory size \"$hold_mib\" (MiB)"
[ -d "/proc/$pid" ] || die 3 "no process $pid"
if [ "$out" != - ] && { [ -e "$out" ] || [ -L "$out" ]; } && [ "$force" = 0 ]; then
	die 7 "$out exists (use -f to replace it)"
fi
[ "$journal" = 0 ] || [ "$out" != - ] || die 2 "-J registers a core file: not with OUT -"
[ "$journal" = 0 ] || command -v logger >/dev/null 2>&1 || die 2 "-J needs logger(1) (util-linux)"
# -J: what systemd-coredump says of a process, read before the dump (it
# may exit after); newlines would end a field
if [ "$journal" = 1 ]; then
	j_uid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
	j_gid=$(awk '$1 == "Gid:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
	j_comm=$(tr -d '\n' <"/proc/$pid/comm" 2>/dev/null)
	j_exe=$(readlink "/proc/$pid/exe" 2>/dev/null | tr '\n' ' ')
	j_cmdline=$(tr '\0\n' '  ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ $//')
	j_cgroup=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)
fi

# The tools: beside this script (build tree, make install), else PATH.
here=$(cd "$(dirname "$0")" && pwd)
tool() {
	if [ -x "$here/$1" ]; then printf '%s\n' "$here/$1"; else command -v "$1" || echo "$1"; fi
}
LC_MAPS=$(tool lc-maps)
LC_PRECOPY=$(tool lc-precopy)
LC_FREEZE=$(tool lc-freeze)
LC_ELFWRITE=$(tool lc-elfwrite)

# milliseconds: GNU date has %N; busybox's (the test guest's) has not
now_ms() {
	ms=$(date +%s%3N 2>/dev/null)
	case $ms in
	'' | *[!0-9]*) awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime ;;
	*) printf '%s\n' "$ms" ;;
	esac
}
t_start=$(now_ms)

# The work directory sits on OUT's filesystem by default: lc-elfwrite then
# turns the staging file into the core in place, without a second copy.
if [ -z "$workparent" ]; then
	if [ "$out" = - ]; then workparent=${TMPDIR:-/tmp}; else workparent=$(dirname "$out"); fi
fi
umask 077
work=$(mktemp -d "$workparent/.livecore.$pid.XXXXXX") ||
	die 1 "cannot create a work directory in $workparent"

child=
# uffd tracking leaves a userfaultfd in the target between the stages
# (lc-precopy(1)); lc-freeze closes it during its stop. If the dump ends
# before that (a failure, an interrupt, a tool killed: lc-precopy writes
# the fd's number first), close it here: lc-precopy -R does nothing when
# the fd is no longer livecore's.
release_uffd() {
	fd=$(header_value uffd fd "$work/manifest.precopy")
	[ -n "$fd" ] || return 0
	grep -qs '^# uffd-close ' "$work/manifest.freeze" && return 0
	# whose the fd is, is told whoever owns the process (lc-precopy(1));
	# what cannot be told is said, never taken for "nothing there"
	undo "close the userfaultfd (fd $fd)" "$LC_PRECOPY" -R "$fd" "$pid"
}
# -T fork: lc-freeze reaps the clone it makes in the process
# (lc-freeze(1)). Killed after making it, it leaves the clone's zombie
# there (the kernel kills the clone itself): lc-freeze writes the clone's
# tid first, and lc-freeze -R reaps that zombie, or does nothing to a tid
# that is not one.
release_clone() {
	tid=$(header_value fork-clone tid "$work/manifest.freeze")
	[ -n "$tid" ] || return 0
	# a lc-freeze that finished reaped it
	grep -qs '^# fork ' "$work/manifest.freeze" && return 0
	undo "reap the clone $tid" "$LC_FREEZE" -R "$tid" "$pid"
}
# header_value KEY FIELD MANIFEST - FIELD= of the first KEY header
header_value() {
	awk -v k="$1" -v f="$2=" '$2 == k && index($3, f) == 1 { print substr($3, length(f) + 1); exit }' \
		"$3" 2>/dev/null
}
# undo WHAT TOOL ARGS... - TOOL ARGS undoes WHAT in the process, unless it
# died (a zombie too: what the dump left died with it); said loudly, with
# the command, when it fails
undo() {
	what=$1
	shift
	state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
	case $state in '' | Z | X) return 0 ;; esac
	why=$("$@" 2>&1) || {
		printf '%s\n' "$why" >&2
		tool=${1##*/}
		shift
		printf '%s: could not %s in process %s; run: %s %s\n' "$prog" "$what" "$pid" "$tool" "$*" >&2
	}
}
cleanup() {
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	release_uffd
	release_clone
	if [ "$keep" = 1 ]; then
		printf '%s: work files kept in %s\n' "$prog" "$work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
# An interrupt: lc-freeze resumes the target itself (it gets the same
# SIGINT from the terminal); lc-precopy, in a session of its own (-g), gets
# SIGTERM from the trap, which waits for the running tool and cleans.
trap 'cleanup; trap - EXIT; exit 8' INT TERM HUP

# Runs one tool in the background so that a signal to the driver reaches
# the trap at once; returns the tool's status.
run() { # stdin stdout command...
	in=$1 outf=$2
	shift 2
	"$@" <"$in" >"$outf" &
	child=$!
	wait "$child"
	rc=$?
	child=
	return $rc
}

# A tool failed: it said why; add what it means for the whole dump.
tool_failed() { # status
	case $1 in
	3) printf '%s: process %s exited (or its pid was reused) during the dump; no core written\n' "$prog" "$pid" >&2 ;;
	# 8: the tool's own status after SIGINT/SIGTERM; 129, 130, 143: it died
	# of SIGHUP, SIGINT or SIGTERM before the driver's trap ran
	8 | 129 | 130 | 143)
		printf '%s: interrupted; the process was resumed and no core written\n' "$prog" >&2
		exit 8 ;;
	*) printf '%s: no core written\n' "$prog" >&2 ;;
	esac
	exit "$1"
}

quiet_flag=
[ "$quiet" = 1 ] && quiet_flag=-q

maps_filter=
[ "$all_maps" = 1 ] && maps_filter="-f all"
# shellcheck disable=SC2086 # maps_filter is two words or none
run /dev/null "$work/manifest.maps" "$LC_MAPS" $maps_filter "$pid" || tool_failed $?

# The pre-copy runs beside the process, on the CPUs it needs: at the
# lowest priority by default, so that the process's own threads come
# first (make bench: the target's work rate during pre-copy). The stop is
# not reniced: the process waits for it. A system without nice(1) (a
# minimal busybox) runs it as the caller.
background=
if [ "$niceness" -gt 0 ] && command -v nice >/dev/null 2>&1; then
	background="nice -n $niceness"
	command -v ionice >/dev/null 2>&1 && background="$background ionice -c 2 -n 7"
fi

# -P: if this script is killed outright, lc-precopy closes the userfaultfd
# it left in the process (it gets SIGTERM), which nothing else would do.
# -g: its niceness counts against the process's threads, not only this
# session's (a scheduling group of its own: lc-precopy(1)); an interrupt
# reaches it through the trap, not from the terminal.
set -- -s "$work/stage" -P $quiet_flag
[ -n "$background" ] && set -- "$@" -g
[ -n "$passes" ] && set -- "$@" -p "$passes"
[ -n "$dirty_pct" ] && set -- "$@" -t "$dirty_pct"
[ -n "$tracking" ] && set -- "$@" -T "$tracking"
# -T auto, the ladder (livecore(1)): the stop clones the process when
# over its budget (lc-freeze -F below); where no clone can be made, the
# pre-copy slows down a process it does not catch up with
case $tracking in
'' | auto) [ "$throttle" = 1 ] && [ "$budget" -gt 0 ] && set -- "$@" -S "$budget" -F ;;
esac
# shellcheck disable=SC2086 # background is a command prefix
run "$work/manifest.maps" "$work/manifest.precopy" $background "$LC_PRECOPY" "$@" "$pid" || tool_failed $?

attempt=0
while :; do
	set -- -s "$work/stage" -n "$work/notes" -b "$budget"
	# another pass cannot help a process that writes as fast as a pass
	# copies (lc-precopy ended the passes so: precopy-end): stop anyway
	case $(sed -n 's/^# precopy-end reason=\([a-z-]*\).*/\1/p' "$work/manifest.precopy") in
	not-halving | copy-limit | outpaced) set -- "$@" -a ;;
	*) [ "$budget_explicit" = 1 ] || set -- "$@" -a ;;
	esac
	# nor can a pass after the throttle's, which made the passes converge
	# and goes on until the stop (another would run unthrottled)
	grep -q '^# throttle ' "$work/manifest.precopy" && set -- "$@" -a
	[ -n "$hold_mib" ] && set -- "$@" -M "$hold_mib"
	# -T auto: over the budget, a clone rather than the delta's copy in
	# the stop (the ladder, livecore(1))
	case $tracking in '' | auto) set -- "$@" -F ;; esac
	run "$work/manifest.precopy" "$work/manifest.freeze" "$LC_FREEZE" "$@" "$pid"
	rc=$?
	[ $rc -eq 6 ] || break
	attempt=$((attempt + 1))
	if [ $attempt -gt "$retries" ]; then
		die 6 "the stop would exceed the pause budget of ${budget} ms after $retries retries (target not stopped longer than needed to measure)"
	fi
	[ "$quiet" = 1 ] || printf '%s: the stop would exceed %s ms; pre-copying again (retry %d of %d)\n' \
		"$prog" "$budget" "$attempt" "$retries" >&2
	# Another pass over the same staging file, from the manifest lc-precopy wrote.
	mv "$work/manifest.precopy" "$work/manifest.precopy.$attempt"
	# shellcheck disable=SC2086 # background is a command prefix
	run "$work/manifest.precopy.$attempt" "$work/manifest.precopy" \
		$background "$LC_PRECOPY" -c -P -s "$work/stage" $quiet_flag -p 1 "$pid" || {
		rc=$?
		cp "$work/manifest.precopy.$attempt" "$work/manifest.precopy"
		tool_failed $rc
	}
done
[ $rc -eq 0 ] || tool_failed $rc

force_flag=
[ "$force" = 1 ] && force_flag=-f
if [ "$out" = - ]; then
	run "$work/manifest.freeze" /dev/stdout "$LC_ELFWRITE" -s "$work/stage" -n "$work/notes" -o - || tool_failed $?
else
	run "$work/manifest.freeze" /dev/null "$LC_ELFWRITE" -s "$work/stage" -n "$work/notes" \
		-o "$out" $force_flag || tool_failed $?
fi
t_end=$(now_ms)

# -J: the core registered with the journal as systemd-coredump(8)
# registers the kernel's (its MESSAGE_ID and COREDUMP_* fields), where it
# lies and not copied, so that coredumpctl list, info and debug find it.
# No signal caused it: COREDUMP_SIGNAL is 0, the null signal (coredumpctl
# cannot list an entry without one), and LIVECORE_LIVE says so too.
if [ "$journal" = 1 ]; then
	dir=$(cd "$(dirname "$out")" && pwd)
	{
		printf 'MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1\n'
		printf 'MESSAGE=Process %s (%s) of user %s dumped core while it ran (livecore: no crash, no signal; paused %s us)\n' \
			"$pid" "$j_comm" "$j_uid" "$(header_value freeze pause-us "$work/manifest.freeze")"
		printf 'PRIORITY=6\n'
		printf 'COREDUMP_PID=%s\nCOREDUMP_UID=%s\nCOREDUMP_GID=%s\n' "$pid" "$j_uid" "$j_gid"
		printf 'COREDUMP_SIGNAL=0\nCOREDUMP_TIMESTAMP=%s000\n' "$t_end"
		printf 'COREDUMP_COMM=%s\nCOREDUMP_CMDLINE=%s\n' "$j_comm" "$j_cmdline"
		[ -n "$j_exe" ] && printf 'COREDUMP_EXE=%s\n' "$j_exe"
		[ -n "$j_cgroup" ] && printf 'COREDUMP_CGROUP=%s\n' "$j_cgroup"
		printf 'COREDUMP_HOSTNAME=%s\n' "$(uname -n)"
		printf 'COREDUMP_FILENAME=%s/%s\n' "$dir" "$(basename "$out")"
		printf 'LIVECORE_LIVE=1\nLIVECORE_PAUSE_US=%s\n' "$(header_value freeze pause-us "$work/manifest.freeze")"
	} >"$work/journal"
	if ! logger --journald="$work/journal" 2>"$work/journal.err"; then
		printf '%s: %s is written, but the journal did not take it: %s\n' "$prog" "$out" \
			"$(cat "$work/journal.err")" >&2
		exit 1
	fi
fi

# One summary line from what the tools wrote into the manifest.
awk -v total_ms=$((t_end - t_start)) -v out="$out" -v disk_kb="$(
	if [ "$out" != - ]; then du -k "$out" | cut -f1; else echo 0; fi)" '
function field(line, key,    n, i, kv) {
	n = split(line, kv, " ")
	for (i = 1; i <= n; i++)
		if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
	return 0
}
/^# pass / {
	passes++
	bytes += field($0, "bytes")
	dirty = dirty (passes > 1 ? " " : "") field($0, "dirty")
}
/^# precopy-end / { ended = $0 }
/^# budget / { budget = $0 }
/^# throttle / { throttled = $0 }
/^# tracking / { tracking = $3 }
/^# freeze / { freeze = $0 }
/^# thp-restore / { thp = $0 }
/^# fork / { fork = $0 }
/^# tracking-fallback / { fallback = substr($0, length("# tracking-fallback ") + 1) }
END {
	pause = field(freeze, "pause-us") / 1000
	# a process that was stopped before the dump (SIGSTOP) feels no
	# downtime: it was copied once while held, and it stays stopped
	what = field(freeze, "target") == "stopped" ? "stopped process (no downtime), held" : "pause"
	# uffd: the huge pages the tracking split, collapsed again after it
	huge = field(thp, "split") > 0 ? sprintf(", %d of %d split huge pages collapsed again in %.1f ms",
		field(thp, "collapsed"), field(thp, "split"), field(thp, "us") / 1000) : ""
	# a tracker that could not be used is said, with its cost
	why = fallback != "" ? sprintf("; tracker %s: %s: every page is copied in the stop", tracking,
		fallback) : ""
	# the pause lc-freeze foresaw before the stop (lc-freeze(1))
	foreseen = field(freeze, "estimate-us") > 0 ? sprintf(", the stop foreseen at %.2f ms",
		field(freeze, "estimate-us") / 1000) : ""
	# why the passes ended (lc-precopy(1)), the dirty pages each found,
	# and the rate the process wrote at against the copy rate of the last pass
	split("passes:at the pass limit:converged:converged:not-halving:not converging" \
		":copy-limit:at 1.5x the bytes of pass 1:outpaced:outpaced (pass 1 ended early)", r, ":")
	for (i = 1; i < 10; i += 2) reason[r[i]] = r[i + 1]
	why_end = field(ended, "reason")
	conv = ended != "" ? sprintf(", %s (dirty pages %s; the process wrote %.1f MB/s, the last pass " \
		"copied %.1f MB/s)", (why_end in reason) ? reason[why_end] : why_end, dirty,
		field(ended, "dirty-bps") / 1e6, field(ended, "copy-bps") / 1e6) : ""
	# a pause over the budget: by how much, and its largest part
	over = field(budget, "over-us") / 1000
	threads_ms = (field(freeze, "seize-us") + field(freeze, "regs-us")) / 1000
	maps_ms = field(freeze, "maps-us") / 1000
	delta_ms = field(freeze, "delta-us") / 1000
	if (delta_ms >= threads_ms && delta_ms >= maps_ms && fork != "")
		cause = sprintf("the clone of the process, %.2f ms, and %d pages it does not hold", \
			field(fork, "clone-us") / 1000, field(freeze, "delta-pages"))
	else if (delta_ms >= threads_ms && delta_ms >= maps_ms)
		cause = (why_end == "not-halving" || why_end == "copy-limit" || why_end == "outpaced") ? \
			sprintf("the stop copied %d pages: the process writes about as fast as a pass copies", \
			field(freeze, "delta-pages")) : \
			sprintf("the stop copied %d pages written since the last pass", field(freeze, "delta-pages"))
	else if (threads_ms >= maps_ms)
		cause = sprintf("%d threads, stopped and read one by one", field(freeze, "threads"))
	else
		cause = "the memory map and its final scan"
	# the stops that slowed the process down so that the passes caught up
	slowed = throttled != "" ? sprintf(", throttled: %d stops of up to %.1f ms (%.0f ms in all, %d%% of " \
		"the time at the end)", field(throttled, "stops"), field(throttled, "longest-us") / 1000, \
		field(throttled, "total-us") / 1000, field(throttled, "duty-pct")) : ""
	copied = sprintf("%d pre-copy passes (%s)%s%s", passes, tracking, conv, slowed)
	# a clone (-T fork, or the stop over the budget): the clone, the copy
	# from it, what it cost the process
	if (fork != "")
		copied = sprintf("%sa copy-on-write clone (fork) made in %.2f ms of it, %.1f MiB copied from " \
			"the clone in %.2f s while the process ran, duplicating %.1f MiB of its memory",
			tracking == "fork" ? "" : copied ", then ",
			field(fork, "clone-us") / 1000, field(fork, "bytes") / 1048576,
			field(fork, "copy-us") / 1e6, field(fork, "duplicated") / 1048576)
	overbudget = over > 0 ? sprintf(", over the %d ms budget by %.2f ms (%s)", field(budget, "ms"), over,
		cause) : ""
	printf "livecore: %s %.2f ms (seize %.2f, registers %.2f, maps %.2f, delta %.2f ms: %d pages)%s, " \
		"%s, %.1f MiB copied, core %s%.1f MiB on disk, %.2f s total%s%s%s\n",
		what, pause, field(freeze, "seize-us") / 1000, field(freeze, "regs-us") / 1000,
		field(freeze, "maps-us") / 1000, field(freeze, "delta-us") / 1000,
		field(freeze, "delta-pages"), overbudget, copied,
		(bytes + field(freeze, "delta-bytes") + field(fork, "bytes") + field(fork, "late-bytes")) / 1048576,
		out == "-" ? "streamed, " : "", disk_kb / 1024, total_ms / 1000, foreseen, huge, why
}' "$work/manifest.freeze" >&2
