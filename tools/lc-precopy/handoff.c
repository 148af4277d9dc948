#include "handoff.h"
#include "caps.h"
#include "inject.h"
#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "target.h"
#include "uffd.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exit_for_open_errno(int err)
{
	return err == EACCES || err == EPERM ? EXIT_DENIED
	       : err == ESRCH || err == ENOENT ? EXIT_NO_TARGET : EXIT_FAILURE_IO;
}

/* lc-precopy leaves the fd there for lc-freeze (uffd.h); when lc-precopy
 * fails or is interrupted it closes it itself, so that nothing stays
 * behind. */
static struct release_info {
	pid_t pid;
	int proc_dirfd, task_dirfd, mem_fd;
	int target_fd;          /* -1: nothing to release */
} to_release = { .target_fd = -1 };

static void (*before_release)(void);

void handoff_before_release(void (*fn)(void))
{
	before_release = fn;
}

void handoff_release(void)
{
	bool closed;
	int64_t us;
	int fd = to_release.target_fd;

	if (fd < 0)
		return;
	if (before_release)
		before_release();
	to_release.target_fd = -1;
	if (uffd_release(to_release.pid, to_release.proc_dirfd, to_release.task_dirfd,
			 to_release.mem_fd, fd, &closed, &us) < 0)
		log_errno("cannot close the userfaultfd (fd %d) in process %d; run lc-precopy -R %d %d",
			  fd, (int)to_release.pid, fd, (int)to_release.pid);
}

/* With a userfaultfd to release, SIGINT, SIGTERM and SIGHUP are taken by
 * this thread (blocked everywhere else): the release stops the target,
 * which needs ptrace calls and waits, nothing a signal handler may do. */
static void (*on_signal_cleanup)(void);

static void *signal_thread(void *arg)
{
	const sigset_t *set = arg;
	int sig;

	while (sigwait(set, &sig) != 0)
		;
	handoff_release();
	if (on_signal_cleanup)
		on_signal_cleanup();
	_exit(EXIT_INTERRUPTED);
	return NULL;
}

bool handoff_pending(void)
{
	return to_release.target_fd >= 0;
}

int handoff_catch_signals(void (*cleanup)(void))
{
	static sigset_t set;
	sigset_t pipe_only;
	pthread_t th;

	on_signal_cleanup = cleanup;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	/* a closed standard output is an EPIPE error, released like any */
	sigprocmask(SIG_BLOCK, &pipe_only, NULL);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&th, NULL, signal_thread, &set) != 0)
		return -1;
	pthread_detach(th);
	return 0;
}

int handoff_release_command(pid_t pid, int fd)
{
	static const cap_value_t ptrace_admin[] = { CAP_SYS_PTRACE, CAP_SYS_ADMIN };
	struct target t;
	bool closed, suspend;
	int64_t us;
	int mem, task, opened;
	const char *unfiltered;

	if ((opened = cli_open_target(pid, &t)) != EXIT_OK)
		return opened;
	if (caps_check_own_target(t.status.uid) < 0) {
		log_error("process %d is not the caller's own", (int)pid);
		return EXIT_DENIED;
	}
	if (caps_raise() < 0 || (mem = xio_openat(t.proc_dirfd, "mem", O_RDONLY, 1)) < 0 ||
	    (task = xio_openat(t.proc_dirfd, "task", O_RDONLY | O_DIRECTORY, 1)) < 0) {
		int saved = errno;

		caps_lower();
		log_errno("cannot open the files of process %d", (int)pid);
		return exit_for_open_errno(saved);
	}
	/* CAP_SYS_ADMIN stays permitted, not in force, for a process under
	 * seccomp: the close is injected with its filter suspended (inject.h) */
	if (caps_keep(ptrace_admin, t.status.seccomp > 0 ? 2 : 1, ptrace_admin, 1) < 0) {
		log_errno("cannot drop capabilities");
		return EXIT_FAILURE_IO;
	}
	if ((unfiltered = uffd_seccomp_refuse(t.status.seccomp, &suspend))) {
		log_error("cannot release fd %d of process %d: %s", fd, (int)pid, unfiltered);
		return EXIT_DENIED;
	}
	inject_suspend_seccomp(suspend);
	if (uffd_release(pid, t.proc_dirfd, task, mem, fd, &closed, &us) < 0) {
		int saved = errno;

		log_errno("could not release fd %d of process %d (it may still hold a userfaultfd)",
			  fd, (int)pid);
		return saved == ESRCH ? EXIT_NO_TARGET
		       : saved == EBUSY || saved == EPERM || saved == EACCES ? EXIT_DENIED : EXIT_FAILURE_IO;
	}
	if (closed)
		log_error("closed the userfaultfd (fd %d) in process %d; stopped %" PRId64 " us",
			  fd, (int)pid, us);
	else
		log_error("fd %d of process %d is not a livecore userfaultfd: nothing to release",
			  fd, (int)pid);
	return EXIT_OK;
}

int handoff_start(const struct handoff_target *t, const struct manifest *in, bool resume,
		  bool asked, enum track_mode *mode, int *fd, char *header, size_t headerlen,
		  char *why, size_t whylen)
{
	const char *refused;
	int target_fd;
	int64_t window_us;
	char inject_why[300];
	bool suspend = false;
	const char *unfiltered = uffd_seccomp_refuse(t->seccomp, &suspend);

	/* the injected calls never meet the process's filter: suspended
	 * around them, or none is made (uffd_seccomp_refuse) */
	inject_suspend_seccomp(suspend);
	if (resume) {
		const char *v = manifest_header_get(in, "uffd");
		int n;

		if (!v || sscanf(v, "fd=%d", &n) != 1 || n < 0) {
			log_error("standard input: tracking uffd without a valid uffd header");
			return EXIT_BAD_INPUT;
		}
		if (uffd_take(t->pid, n, fd) < 0) {
			int saved = errno;

			if (saved == ENOENT) {
				log_error("process %d: fd %d is not the userfaultfd lc-precopy left there",
					  (int)t->pid, n);
				return EXIT_BAD_INPUT;
			}
			log_errno("process %d: cannot tell whether fd %d is the userfaultfd lc-precopy "
				  "left there", (int)t->pid, n);
			return exit_for_open_errno(saved);
		}
		snprintf(header, headerlen, "%s", v);
		to_release = (struct release_info){ t->pid, t->proc_dirfd, t->task_dirfd, t->mem_fd, n };
		return EXIT_OK;
	}
	if ((refused = uffd_refuse(t->proc_dirfd)) || (refused = unfiltered)) {
		snprintf(inject_why, sizeof inject_why, "process %d: %s", (int)t->pid, refused);
	} else if (uffd_inject_open(t->pid, t->proc_dirfd, t->task_dirfd, t->mem_fd, &target_fd, fd,
				    &window_us, inject_why, sizeof inject_why) == 0) {
		snprintf(header, headerlen, "fd=%d inject-us=%" PRId64, target_fd, window_us);
		to_release = (struct release_info){ t->pid, t->proc_dirfd, t->task_dirfd, t->mem_fd, target_fd };
		return EXIT_OK;
	}
	if (asked) {
		log_error("cannot track with uffd: %s", inject_why);
		return refused || errno == EBUSY || errno == EPERM ? EXIT_DENIED : EXIT_FAILURE_IO;
	}
	snprintf(why, whylen, "uffd refused: %s", inject_why);
	*mode = TRACK_NONE;
	return EXIT_OK;
}

