#!/usr/bin/env bats
# Containers and hardened services (issue 30): a process under a seccomp
# filter keeps the low pause. The userfaultfd(2) and close(2) the uffd
# tracker injects run with the thread's filter suspended
# (PTRACE_O_SUSPEND_SECCOMP, CAP_SYS_ADMIN in force for that request
# alone), so they never meet it: a filter that kills, returns an errno,
# traps or asks a supervisor on userfaultfd, and one that allows
# everything. Without CAP_SYS_ADMIN nothing is injected, and the summary
# says so and what it costs. tests/targets/lc-seccomp-run.c installs the
# filters.
bats_require_minimum_version 1.8.0

setup() {
	load helpers
	lc_require_root
	D=$BATS_TEST_TMPDIR
	RUNNER="$LIVECORE_BUILD/targets/lc-seccomp-run"
	lc_kernel_has_uffd || skip "needs: uffd (userfaultfd async write-protect, PAGEMAP_SCAN: Linux 6.7+)"
}

teardown() {
	lc_cleanup_targets
}

status_of() { # PID KEY
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# start_filtered KIND - lc-target rewriting 64 pages of its pattern, under
# a filter of KIND
start_filtered() {
	export LC_SECCOMP_NOTIFY_FILE=$D/notified.$1
	LC_TARGET_RUNNER="$RUNNER $1" lc_start_target --pattern-mib 32 --dirty-set 64 --dirty-rate 6400
	[ "$(status_of "$LC_TARGET_PID" Seccomp)" = 2 ]
	[ "$(status_of "$LC_TARGET_PID" Seccomp_filters)" = 1 ]
	sleep 0.1
}

@test "seccomp: under an allow-all, errno, kill, trap or notify filter the default mode tracks with uffd; the target survives with its filter, the core is exact, nothing is left" {
	for kind in allow errno kill trap notify; do
		start_filtered $kind
		for dump in 1 2; do
			rm -f "$D/f.core"
			run -0 --separate-stderr livecore.sh -w "$D" "$LC_TARGET_PID" "$D/f.core"
			lc_say "$kind, dump $dump: $(tail -n 1 <<<"$stderr")"
			assert_regex "$stderr" 'pre-copy passes \(uffd\)'
			refute_output --partial 'tracker none'
			lc_check_generations "$D/f.core"
			# alive, its filter as it was, nothing of the dump left
			[ "$(status_of "$LC_TARGET_PID" Seccomp)" = 2 ]
			[ "$(status_of "$LC_TARGET_PID" Seccomp_filters)" = 1 ]
			lc_assert_nothing_left "$LC_TARGET_PID"
		done
		# the supervisor was never asked: the injected call never met
		# the filter
		[ ! -e "$D/notified.$kind" ]
		lc_kill_target "$LC_TARGET_PID" || true
	done
}

@test "seccomp: without CAP_SYS_ADMIN nothing is injected; stderr and the summary say why and what it costs; the target under a kill filter survives, its core exact" {
	start_filtered kill
	# root without CAP_SYS_ADMIN in its bounding set: the tools' permitted
	# sets lack it
	run -0 --separate-stderr setpriv --bounding-set -sys_admin -- \
		livecore.sh -w "$D" "$LC_TARGET_PID" "$D/n.core"
	lc_say "$(tail -n 1 <<<"$stderr")"
	assert_regex "$stderr" 'lc-precopy: no dirty tracking \(uffd refused: process [0-9]+: process under seccomp, CAP_SYS_ADMIN not held'
	assert_regex "$(tail -n 1 <<<"$stderr")" 'pre-copy passes \(none\).*; tracker none: uffd refused: process [0-9]+: process under seccomp, CAP_SYS_ADMIN not held .*: every page is copied in the stop$'
	lc_check_generations "$D/n.core"
	[ "$(status_of "$LC_TARGET_PID" Seccomp_filters)" = 1 ]
	lc_assert_nothing_left "$LC_TARGET_PID"
	# -T uffd asked for explicitly: refused (4), nothing touched
	run -4 --separate-stderr setpriv --bounding-set -sys_admin -- \
		livecore.sh -T uffd -w "$D" "$LC_TARGET_PID" "$D/u.core"
	assert_regex "$stderr" 'cannot track with uffd: process [0-9]+: process under seccomp, CAP_SYS_ADMIN not held'
	lc_assert_nothing_left "$LC_TARGET_PID"
}
