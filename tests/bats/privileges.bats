#!/usr/bin/env bats
# privileges: least privilege, proven from the outside. Each tool runs as
# root on another user's process and is caught after its setup (blocked
# writing a manifest longer than a pipe holds, blocked reading its input,
# or held in the stop); its capability sets, NoNewPrivs and seccomp mode are
# read from /proc/PID/status of the running tool and compared with its man
# page's CAPABILITIES. Then `make install-caps` for real: a user of the
# group dumps its own process, not another user's; a user outside the
# group cannot run the tools.

bats_require_minimum_version 1.8.0

# capability bits (linux/capability.h)
CAP_DAC_OVERRIDE=$((1 << 1))
CAP_DAC_READ_SEARCH=$((1 << 2))
CAP_SYS_PTRACE=$((1 << 19))
CAP_SYS_ADMIN=$((1 << 21))
CAP_SYS_NICE=$((1 << 23))
# the bounding sets of lc-precopy and lc-freeze as root
# CAP_SYS_NICE: the real-time priority of the stops' seize and detach
# (lc-freeze, the throttle of lc-precopy -S), lc-freeze's collapse of
# split huge pages
PRECOPY_BND=$((CAP_SYS_PTRACE | CAP_DAC_READ_SEARCH | CAP_DAC_OVERRIDE | CAP_SYS_ADMIN | CAP_SYS_NICE))
FREEZE_BND=$PRECOPY_BND

setup() {
	load helpers
	D=$BATS_TEST_TMPDIR
	HOSTILE="$LIVECORE_BUILD/targets/lc-hostile-target"
	BG_PIDS=()
	TEST_USERS=()
	TEST_GROUPS=()
	[ -x "$HOSTILE" ] || skip "needs: lc-hostile-target built (make)"
}

teardown() {
	local p u g

	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	lc_cleanup_targets
	for u in "${TEST_USERS[@]}"; do
		pkill -KILL -u "$u" 2>/dev/null
		userdel "$u" 2>/dev/null
	done
	for g in "${TEST_GROUPS[@]}"; do
		groupdel "$g" 2>/dev/null
	done
	return 0
}

# hex16 N - the 16 hex digits /proc/PID/status shows for a capability set
hex16() {
	printf '%016x\n' "$1"
}

# status_field PID KEY - the value of KEY: in /proc/PID/status
status_field() {
	awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status"
}

# wait_wchan PID PATTERN - waits (up to 10 s) until PID sleeps in a kernel
# function matching PATTERN (*pipe_write*, *pipe_read*)
wait_wchan() {
	local i w

	for ((i = 0; i < 1000; i++)); do
		w=$(cat "/proc/$1/wchan" 2>/dev/null) || break
		# shellcheck disable=SC2053 # PATTERN is a glob on purpose
		[[ $w == $2 ]] && return 0
		sleep 0.01
	done
	echo "wait_wchan: process $1 is in '${w:-gone}', not $2" >&2
	return 1
}

# assert_caps PID EFF PRM BND - the running tool's sets, as numbers
assert_caps() {
	local got

	got="CapInh=$(status_field "$1" CapInh) CapPrm=$(status_field "$1" CapPrm)"
	got+=" CapEff=$(status_field "$1" CapEff) CapBnd=$(status_field "$1" CapBnd)"
	got+=" CapAmb=$(status_field "$1" CapAmb) NoNewPrivs=$(status_field "$1" NoNewPrivs)"
	assert_equal "$got" "CapInh=$(hex16 0) CapPrm=$(hex16 "$3") CapEff=$(hex16 "$2") CapBnd=$(hex16 "$4") CapAmb=$(hex16 0) NoNewPrivs=1"
}


# start_as USER [lc-hostile-target options] - starts lc-hostile-target as
# USER (not a child of any tool) and sets TPID once it is ready
start_as() {
	local user=$1 info i
	shift
	info=$D/target.$RANDOM.info
	mkdir -p "$D/shared"
	chmod 1777 "$D/shared"
	lc_open_path "$D/shared"
	info=$D/shared/${info##*/}
	setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- \
		"$HOSTILE" -o "$info" "$@" </dev/null >/dev/null 2>&1 3>&- &
	LC_TARGET_PIDS+=("$!")
	for ((i = 0; i < 1000; i++)); do
		[ -s "$info" ] && break
		sleep 0.01
	done
	TPID=$(sed -n 's/^pid=//p' "$info")
	[ -n "$TPID" ]
	[ "$(stat -c %u "/proc/$TPID")" = "$(id -u "$user")" ] || [ "$(status_field "$TPID" Uid)" = "$(id -u "$user")" ]
}

# ---- as root: each tool after its setup ------------------------------------

@test "lc-maps after setup (root, another user's process): nothing effective or permitted, bounding CAP_SYS_PTRACE+CAP_DAC_READ_SEARCH, NoNewPrivs" {
	lc_require_root
	start_as nobody --vmas 1500
	mkfifo "$D/out"
	lc-maps "$TPID" >"$D/out" 2>"$D/err" &
	tool=$!
	BG_PIDS+=("$tool")
	exec {rd}<"$D/out"
	wait_wchan "$tool" '*pipe_write*'
	[ "$(readlink "/proc/$tool/exe")" = "$(command -v lc-maps)" ]
	assert_caps "$tool" 0 0 $((CAP_SYS_PTRACE | CAP_DAC_READ_SEARCH))
	[ "$(status_field "$tool" Seccomp)" = 0 ]
	cat <&"$rd" >"$D/m0"
	exec {rd}<&-
	wait "$tool"
	[ "$(head -1 "$D/m0")" = "livecore-manifest 2" ]
	[[ $(tail -1 "$D/m0") == "end "* ]]
}

@test "lc-precopy after setup (root, another user's process): nothing held (CAP_SYS_PTRACE alone with uffd), bounding its five, NoNewPrivs" {
	lc_require_root
	start_as nobody --vmas 1500
	lc-maps "$TPID" >"$D/m0"
	# -T none: nothing at all; -T uffd: CAP_SYS_PTRACE alone, effective
	# (lc-precopy(1): the tracker attaches to inject userfaultfd)
	for mode in none uffd; do
		want=0
		[ $mode = uffd ] && want=$CAP_SYS_PTRACE
		rm -f "$D/stage" "$D/out"
		mkfifo "$D/out"
		lc-precopy -q -T $mode -s "$D/stage" "$TPID" <"$D/m0" >"$D/out" 2>"$D/err" &
		tool=$!
		BG_PIDS+=("$tool")
		exec {rd}<"$D/out"
		if ! wait_wchan "$tool" '*pipe_write*'; then
			cat "$D/err"
			[ $mode = uffd ] && grep -q 'uffd' "$D/err" && skip "needs: the uffd tracker on this kernel"
			false
		fi
		assert_caps "$tool" "$want" "$want" "$PRECOPY_BND"
		cat <&"$rd" >"$D/m1"
		exec {rd}<&-
		wait "$tool"
		[[ $(tail -1 "$D/m1") == "end "* ]]
		grep -q "^# tracking $mode" "$D/m1"
		[ "$(stat -c %a "$D/stage")" = 600 ]
	done
}

@test "lc-freeze (root, another user's process): CAP_SYS_PTRACE alone in force during the stop, with -T none and with uffd, nothing after it; bounding its five" {
	lc_require_root
	start_as nobody --vmas 1500
	# -T none, and the default tracker: the userfaultfd lc-precopy left
	# is recognised with CAP_SYS_PTRACE alone (pidfd_getfd, then our own
	# copy's /proc/self/fd and fdinfo), though the process's fd/ is 0500
	for mode in none uffd; do
		rm -f "$D/stage" "$D/notes" "$D/out"
		lc-maps "$TPID" >"$D/m0"
		lc-precopy -q -T $mode -s "$D/stage" "$TPID" <"$D/m0" >"$D/m1"
		grep -q "^# tracking $mode" "$D/m1"
		# CAP_SYS_NICE permitted, not in force: the seize and the detach
		# at a real-time priority, the collapse of split huge pages
		prm=$((CAP_SYS_PTRACE | CAP_SYS_NICE))
		mkfifo "$D/out"
		LIVECORE_TEST_STOP_DELAY_MS=3000 lc-freeze -s "$D/stage" -n "$D/notes" "$TPID" <"$D/m1" \
			>"$D/out" 2>"$D/err" &
		tool=$!
		BG_PIDS+=("$tool")
		exec {rd}<"$D/out"
		# held in the stop: the target is traced-stopped
		lc_wait_state "$TPID" t
		[ "$(status_field "$TPID" TracerPid)" = "$tool" ]
		assert_caps "$tool" "$CAP_SYS_PTRACE" "$prm" \
			"$FREEZE_BND"
		# after the stop, blocked writing the manifest: nothing at all
		wait_wchan "$tool" '*pipe_write*'
		[ "$(status_field "$TPID" TracerPid)" = 0 ]
		assert_caps "$tool" 0 0 "$FREEZE_BND"
		cat <&"$rd" >"$D/m2"
		exec {rd}<&-
		wait "$tool" || { cat "$D/err"; false; }
		[[ $(tail -1 "$D/m2") == "end "* ]]
		run -0 bash -c "ls -l /proc/$TPID/fd | grep -c 'anon_inode:\[userfaultfd\]' || true"
		assert_output 0
	done
	grep -q '^# uffd-close ' "$D/m2"
}

@test "under seccomp (root, another user's process): CAP_SYS_ADMIN permitted, never in force, in lc-precopy after setup and in lc-freeze's stop; nothing after it" {
	lc_require_root
	lc_kernel_has_uffd || skip "needs: uffd (Linux 6.7+)"
	mkdir -p "$D/shared"
	chmod 1777 "$D/shared"
	lc_open_path "$D/shared"
	setpriv --reuid=nobody --regid="$(id -g nobody)" --init-groups -- \
		"$LIVECORE_BUILD/targets/lc-seccomp-run" kill "$HOSTILE" -o "$D/shared/t.info" --vmas 1500 \
		</dev/null >/dev/null 2>&1 3>&- &
	LC_TARGET_PIDS+=("$!")
	for ((i = 0; i < 1000; i++)); do
		[ -s "$D/shared/t.info" ] && break
		sleep 0.01
	done
	TPID=$(sed -n 's/^pid=//p' "$D/shared/t.info")
	[ "$(status_field "$TPID" Seccomp)" = 2 ]
	lc-maps "$TPID" >"$D/m0"
	mkfifo "$D/out"
	lc-precopy -q -T uffd -s "$D/stage" "$TPID" <"$D/m0" >"$D/out" 2>"$D/err" &
	tool=$!
	BG_PIDS+=("$tool")
	exec {rd}<"$D/out"
	wait_wchan "$tool" '*pipe_write*'
	assert_caps "$tool" "$CAP_SYS_PTRACE" $((CAP_SYS_PTRACE | CAP_SYS_ADMIN)) "$PRECOPY_BND"
	cat <&"$rd" >"$D/m1"
	exec {rd}<&-
	wait "$tool" || { cat "$D/err"; false; }
	grep -q '^# tracking uffd' "$D/m1"
	rm -f "$D/out"
	mkfifo "$D/out"
	LIVECORE_TEST_STOP_DELAY_MS=3000 lc-freeze -s "$D/stage" -n "$D/notes" "$TPID" <"$D/m1" \
		>"$D/out" 2>"$D/err" &
	tool=$!
	BG_PIDS+=("$tool")
	exec {rd}<"$D/out"
	lc_wait_state "$TPID" t
	assert_caps "$tool" "$CAP_SYS_PTRACE" $((CAP_SYS_PTRACE | CAP_SYS_ADMIN | CAP_SYS_NICE)) "$FREEZE_BND"
	wait_wchan "$tool" '*pipe_write*'
	assert_caps "$tool" 0 0 "$FREEZE_BND"
	cat <&"$rd" >"$D/m2"
	exec {rd}<&-
	wait "$tool" || { cat "$D/err"; false; }
	grep -q '^# uffd-close ' "$D/m2"
	# the filter (which kills on userfaultfd) never saw the injected calls
	[ "$(status_field "$TPID" Seccomp)" = 2 ]
	run -0 bash -c "ls -l /proc/$TPID/fd | grep -c 'anon_inode:\[userfaultfd\]' || true"
	assert_output 0
}

# a finished pipeline of a nobody target: $D/m2, $D/stage, $D/notes
nobody_pipeline() {
	start_as nobody "$@"
	lc-maps "$TPID" >"$D/m0"
	lc-precopy -q -T none -s "$D/stage" "$TPID" <"$D/m0" >"$D/m1"
	lc-freeze -s "$D/stage" -n "$D/notes" "$TPID" <"$D/m1" >"$D/m2" 2>/dev/null
}

@test "lc-elfwrite after setup (root): no capability in any set, bounding empty, NoNewPrivs, seccomp filter" {
	lc_require_root
	nobody_pipeline
	mkfifo "$D/in"
	lc-elfwrite -q -c -s "$D/stage" -n "$D/notes" -o "$D/core" <"$D/in" 2>"$D/err" &
	tool=$!
	BG_PIDS+=("$tool")
	exec {wr}>"$D/in"
	# the manifest is read inside the sandbox: blocked there, setup is done
	wait_wchan "$tool" '*pipe_read*'
	assert_caps "$tool" 0 0 0
	[ "$(status_field "$tool" Seccomp)" = 2 ]
	cat "$D/m2" >&"$wr"
	exec {wr}>&-
	wait "$tool"
	[ "$(stat -c %a "$D/core")" = 600 ]
	run -0 eu-readelf -n "$D/core"
	assert_output --partial "CORE                 336  PRSTATUS"
}

@test "lc-elfwrite: a crafted input that names files to read is written from its descriptors only; no open after setup" {
	lc_require_root
	command -v strace >/dev/null || skip "needs: strace"
	nobody_pipeline
	# A dumped file-backed VMA whose bytes were never staged, named after a
	# file a naive writer would open to fill them in: /etc/shadow.
	awk 'BEGIN { done = 0 }
	     !done && $6 == "dump" && $9 != "-" && $5 != 0 {
		$9 = "-"; $10 = "-"; $NF = "/etc/shadow"; done = 1 }
	     { print }' "$D/m2" >"$D/crafted"
	grep -q ' /etc/shadow$' "$D/crafted"
	run -0 --separate-stderr strace -f -qq -e trace=open,openat,openat2,creat,seccomp -o "$D/trace" \
		env LIVECORE_DEBUG_SECCOMP=1 lc-elfwrite -q -c -s "$D/stage" -n "$D/notes" -o "$D/core" <"$D/crafted"
	[[ $stderr == *"seccomp: open after setup refused: Operation not permitted"* ]]
	# after the filter is loaded, the only open is the test hook's, refused
	run -0 awk '/seccomp\(SECCOMP_SET_MODE_FILTER/ { on = 1; next } on && /open/' "$D/trace"
	assert_output --regexp '^[0-9]+ +openat\(AT_FDCWD, "/", O_RDONLY\|O_CLOEXEC\) = -1 EPERM'
	[ "${#lines[@]}" = 1 ]
	run -1 grep -q shadow "$D/trace"
	# and the core holds no byte of /etc/shadow
	run -1 grep -qaF "$(head -1 /etc/shadow)" "$D/core"
}

# ---- make install-caps, for real ----------------------------------------------

# make_users - a group G, a user U in it, a user O outside it
make_users() {
	G=lcg$$
	U=lcu$$
	O=lco$$
	groupadd "$G"
	TEST_GROUPS+=("$G")
	useradd -M -N -g "$G" -d /nonexistent -s /bin/sh "$U"
	TEST_USERS+=("$U")
	useradd -M -N -g nogroup -d /nonexistent -s /bin/sh "$O"
	TEST_USERS+=("$O")
}

# install_caps - make install-caps into $D/root (group $G), of the build
# under test as it is (-o all: nothing is rebuilt)
install_caps() {
	run -0 make -s -C "$BATS_TEST_DIRNAME/../.." -o all install-caps DESTDIR="$D/root" PREFIX=/usr \
		LIVECORE_GROUP="$G" BUILD="$LIVECORE_BUILD"
	BIN=$D/root/usr/bin
	lc_open_path "$BIN"
	getcap "$BIN/lc-maps" | grep -q 'cap_sys_ptrace' ||
		skip "needs: a filesystem with file capabilities under \$BATS_TEST_TMPDIR"
}

# as USER CMD... - lc_as (helpers.bash)
as() {
	lc_as "$@"
}

@test "make install-caps: permitted set only, the privileged tools executable by the group alone" {
	lc_require_root
	make_users
	install_caps
	run -0 getcap "$BIN/lc-maps" "$BIN/lc-precopy" "$BIN/lc-freeze" "$BIN/lc-elfwrite"
	assert_line "$BIN/lc-maps cap_dac_read_search,cap_sys_ptrace=p"
	assert_line "$BIN/lc-precopy cap_dac_override,cap_dac_read_search,cap_sys_ptrace=p"
	assert_line "$BIN/lc-freeze cap_dac_override,cap_dac_read_search,cap_sys_ptrace,cap_sys_nice=p"
	[ "${#lines[@]}" = 3 ]   # lc-elfwrite: none
	for t in lc-maps lc-precopy lc-freeze; do
		[ "$(stat -c '%a %G' "$BIN/$t")" = "750 $G" ]
	done
}

@test "make install-caps: a group member dumps its own process that another shell started, even where ptrace needs CAP_SYS_PTRACE" {
	lc_require_root
	make_users
	install_caps
	# the target: started by U on its own, not a descendant of the dumper,
	# and non-dumpable, so that a plain ptrace by its own user is refused
	start_as "$U" --nondumpable
	mkdir "$D/out"
	chown "$U" "$D/out"
	# without the file capabilities the same user is refused
	mkdir "$D/plain"
	cp "$LIVECORE_BUILD"/bin/* "$D/plain/"
	lc_open_path "$D/plain"
	run -4 --separate-stderr as "$U" "$D/plain/livecore.sh" -q "$TPID" "$D/out/plain.core"
	[ ! -e "$D/out/plain.core" ]
	# with them: a core, the user's, 0600, with the target's threads
	run -0 --separate-stderr as "$U" "$BIN/livecore.sh" -q "$TPID" "$D/out/own.core"
	[ "$(stat -c '%a %U' "$D/out/own.core")" = "600 $U" ]
	run -0 eu-readelf -n "$D/out/own.core"
	assert_output --partial "CORE                 336  PRSTATUS"
	# the target runs on, untraced
	[ "$(status_field "$TPID" TracerPid)" = 0 ]
	[[ $(lc_proc_state "$TPID") == [SR] ]]
}

@test "make install-caps: a group member cannot dump another user's process (status 4, nothing written)" {
	lc_require_root
	make_users
	install_caps
	start_as nobody
	mkdir "$D/out"
	chown "$U" "$D/out"
	run -4 --separate-stderr as "$U" "$BIN/livecore.sh" -q "$TPID" "$D/out/other.core"
	assert_regex "$stderr" "belongs to uid $(id -u nobody): with file capabilities lc-maps dumps only the caller's own processes"
	[ -z "$(ls -A "$D/out")" ]
	# each privileged tool refuses on its own too
	run -4 --separate-stderr as "$U" "$BIN/lc-maps" "$TPID"
	lc-maps "$TPID" >"$D/m.root"
	chmod 644 "$D/m.root"
	lc_open_path "$D"
	run -4 --separate-stderr as "$U" "$BIN/lc-precopy" -q -s "$D/out/stage" "$TPID" <"$D/m.root"
	[ ! -e "$D/out/stage" ]
	lc-precopy -q -T none -s "$D/stage" "$TPID" <"$D/m.root" >"$D/m1.root"
	chmod 644 "$D/m1.root"
	run -4 --separate-stderr as "$U" "$BIN/lc-freeze" -s "$D/stage" -n "$D/out/notes" "$TPID" <"$D/m1.root"
	[ "$(status_field "$TPID" TracerPid)" = 0 ]
	[ -z "$(ls -A "$D/out")" ]
}

@test "make install-caps: a user outside the group cannot run the privileged tools (permission denied)" {
	lc_require_root
	make_users
	install_caps
	start_as "$O"
	for t in lc-maps lc-precopy lc-freeze; do
		run -126 --separate-stderr as "$O" "$BIN/$t" -h
		assert_regex "$stderr" "Permission denied"
	done
	mkdir "$D/out"
	chown "$O" "$D/out"
	# the driver finds no tool it may run (none on this PATH either)
	run -127 --separate-stderr as "$O" env PATH=/usr/bin:/bin "$BIN/livecore.sh" -q "$TPID" "$D/out/o.core"
	assert_regex "$stderr" "lc-maps"
	[ ! -e "$D/out/o.core" ]
}
