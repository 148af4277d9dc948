#include "snapshot.h"
#include "inject.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void snapshot_init(struct snapshot *sn)
{
	*sn = (struct snapshot){ .mem_fd = -1, .pagemap_fd = -1, .clone_us = -1 };
}

static int64_t us_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((int64_t)b.tv_sec - a->tv_sec) * 1000000 + (b.tv_nsec - a->tv_nsec) / 1000;
}

/* Waits for tid's next report: 1 a stop, 0 its death, -1 with errno. */
static int wait_report(pid_t tid)
{
	int status;
	pid_t w;

	do
		w = waitpid(tid, &status, __WALL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -1;
	return WIFSTOPPED(status) ? 1 : 0;
}

/* A child that must not live: killed, and its death taken as tracer. */
static void kill_child(pid_t tid)
{
	if (kill(tid, SIGKILL) < 0)
		return;
	while (wait_report(tid) > 0)
		;
}

int snapshot_take(struct snapshot *sn, struct ptrace_stop *s, int proc_dirfd, int mem_fd,
		  uint64_t insn)
{
	struct ptrace_thread *t = inject_pick_thread(s);
	struct timespec a;
	int64_t ret = -1;
	pid_t child = 0;
	int rc, saved;

	if (!t) {
		errno = ESRCH;
		return -1;
	}
	if (inject_check_syscall(proc_dirfd, mem_fd, &insn) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = inject_clone(t, insn, CLONE_FILES, &ret, &child);
	saved = errno;
	if (rc == 0 && ret < 0) {
		saved = (int)-ret;
		rc = -1;
	} else if (rc == 0 && child <= 0) {
		/* the clone was made, and not reported to us: it cannot be,
		 * with PTRACE_O_TRACECLONE set for the call */
		saved = EPROTO;
		rc = -1;
	}
	/* its first stop: before it returns to user space */
	if (rc == 0 && wait_report(child) != 1) {
		saved = errno ? errno : ESRCH;
		rc = -1;
	}
	if (rc < 0) {
		if (child > 0)
			kill_child(child);
		errno = saved;
		return -1;
	}
	sn->clone_us = us_since(&a);
	sn->tid = child;
	sn->ns_pid = (pid_t)ret;
	return 0;
}

int snapshot_open(struct snapshot *sn)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/mem", (int)sn->tid);
	sn->mem_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)sn->tid);
	if (sn->mem_fd >= 0)
		sn->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return sn->mem_fd < 0 || sn->pagemap_fd < 0 ? -1 : 0;
}

int snapshot_private_bytes(const struct snapshot *sn, uint64_t *bytes)
{
	static const char *const keys[] = { "\nPrivate_Clean:", "\nPrivate_Dirty:" };
	char path[64], *text;

	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)sn->tid);
	if (!(text = xio_read_path_all(path, NULL)))
		return -1;
	*bytes = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *at = strstr(text, keys[i]);

		if (at)
			*bytes += strtoull(at + strlen(keys[i]), NULL, 10) * 1024;
	}
	free(text);
	return 0;
}

int snapshot_reap(pid_t ns_pid, pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd,
		  uint64_t insn, int64_t *reap_us)
{
	/* WNOHANG: should the zombie be gone already (the process waited
	 * with __WALL), the call must not wait for another child */
	const uint64_t args[6] = { (uint64_t)ns_pid, 0, __WALL | WNOHANG, 0 };
	struct inject_hold h;
	int64_t ret = 0;
	int rc, failed, saved;

	*reap_us = -1;
	if (inject_hold_process(&h, pid, task_dirfd, false) < 0)
		return -1;
	rc = inject_at(&h.ps, proc_dirfd, mem_fd, insn, SYS_wait4, args, &ret);
	saved = errno;
	*reap_us = inject_release(&h, &failed);
	if (rc == 0 && ret != ns_pid && ret != -ECHILD) {
		saved = ret < 0 ? (int)-ret : EAGAIN; /* 0: not a zombie yet */
		rc = -1;
	}
	errno = saved;
	return rc;
}

int snapshot_end(struct snapshot *sn, pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd,
		 uint64_t insn, int64_t *reap_us)
{
	*reap_us = -1;
	if (sn->mem_fd >= 0)
		close(sn->mem_fd);
	if (sn->pagemap_fd >= 0)
		close(sn->pagemap_fd);
	sn->mem_fd = sn->pagemap_fd = -1;
	if (sn->tid <= 0)
		return 0;
	kill_child(sn->tid);
	sn->tid = 0;
	return snapshot_reap(sn->ns_pid, pid, proc_dirfd, task_dirfd, mem_fd, insn, reap_us);
}
