#include "snapshot.h"
#include "arch.h"
#include "inject.h"
#include "xio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
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

/* A child that must not live: killed, and its death taken as tracer.
 * SIGKILL to another uid's process needs CAP_KILL, which no tool holds (a
 * tracer is no exception: the clone of a service user's process was left
 * alive, then a zombie): then, as tracer, the clone is made to call
 * exit_group at the syscall instruction insn of its [vdso], the kernel's
 * code, which is all it ever runs. */
static void kill_child(pid_t tid, uint64_t insn)
{
	static const uint64_t status[6] = { 0 };
	struct arch_call_saved regs;

	if (kill(tid, SIGKILL) < 0) {
		if (!insn || arch_call_save(tid, &regs) < 0 ||
		    arch_call_start(tid, &regs, insn, SYS_exit_group, status) < 0 ||
		    ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			return;
	}
	while (wait_report(tid) > 0)
		ptrace(PTRACE_CONT, tid, 0, 0);
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
			kill_child(child, insn);
		errno = saved;
		return -1;
	}
	sn->clone_us = us_since(&a);
	sn->tid = child;
	sn->ns_pid = (pid_t)ret;
	sn->insn = insn;
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
	/* any thread of the process may reap its children: one is stopped,
	 * not all (4000 threads: 53 ms), the leader, else every thread (a
	 * leader that called pthread_exit is a zombie) */
	if (inject_hold_thread(&h, pid, pid, task_dirfd, false) < 0 &&
	    (errno != ESRCH || inject_hold_process(&h, pid, task_dirfd, false) < 0))
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
	kill_child(sn->tid, sn->insn);
	sn->tid = 0;
	return snapshot_reap(sn->ns_pid, pid, proc_dirfd, task_dirfd, mem_fd, insn, reap_us);
}

/* Whether a cgroup v1 hierarchy's controller list names memory. */
static bool is_memory(const char *controllers)
{
	for (const char *p = controllers; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, "memory", 6) && (p[6] == ',' || p[6] == '\0'))
			return true;
	return false;
}

/* A cgroup file's number: -1 for "max", a missing file or no number. */
static int64_t cgroup_number(const char *dir, const char *name)
{
	char path[4200], *text, *end;
	long long v;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(text = xio_read_path_all(path, NULL)))
		return -1;
	v = strtoll(text, &end, 10);
	if (end == text || v < 0)
		v = -1;
	free(text);
	return v;
}

/* The least headroom of the cgroup at base + path and its ancestors. */
static uint64_t least_headroom(const char *base, const char *path, const char *limit_file,
			       const char *usage_file, uint64_t least)
{
	char dir[4200], *slash;

	snprintf(dir, sizeof dir, "%s%s", base, path);
	for (;;) {
		int64_t limit = cgroup_number(dir, limit_file), usage = cgroup_number(dir, usage_file);

		/* v1 says "no limit" with a number near 2^63 */
		if (limit >= 0 && usage >= 0 && limit < (1ll << 62)) {
			uint64_t free = limit > usage ? (uint64_t)(limit - usage) : 0;

			if (free < least)
				least = free;
		}
		slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < strlen(base))
			return least;
		*slash = '\0';
	}
}

uint64_t snapshot_headroom(int proc_dirfd)
{
	char *text = xio_read_at_all(proc_dirfd, "cgroup", NULL), *line, *save = NULL;
	uint64_t least = UINT64_MAX;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *controllers = strchr(line, ':'), *path;

		if (!controllers || !(path = strchr(controllers + 1, ':')))
			continue;
		*path++ = '\0';
		controllers++;
		if (!*controllers) {
			least = least_headroom("/sys/fs/cgroup", path, "memory.max", "memory.current", least);
			least = least_headroom("/sys/fs/cgroup/unified", path, "memory.max", "memory.current",
					       least);
		} else if (is_memory(controllers)) {
			least = least_headroom("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes",
					       "memory.usage_in_bytes", least);
		}
	}
	free(text);
	return least;
}

int snapshot_rollup(int proc_dirfd, struct snapshot_rollup *r)
{
	char *text = xio_read_at_all(proc_dirfd, "smaps_rollup", NULL), *at;

	*r = (struct snapshot_rollup){ 0 };
	if (!text)
		return -1;
	if ((at = strstr(text, "\nRss:")))
		r->rss = strtoull(at + strlen("\nRss:"), NULL, 10) << 10;
	if ((at = strstr(text, "\nAnonHugePages:")))
		r->anon_huge = strtoull(at + strlen("\nAnonHugePages:"), NULL, 10) << 10;
	if ((at = strstr(text, "\nAnonymous:")))
		r->anon = strtoull(at + strlen("\nAnonymous:"), NULL, 10) << 10;
	free(text);
	return 0;
}

const char *snapshot_refused(int proc_dirfd, char *why, size_t whylen)
{
	struct snapshot_rollup r;
	uint64_t free;

	const char *test = getenv("LIVECORE_TEST_NO_CLONE");

	if (test && *test) {
		snprintf(why, whylen, "LIVECORE_TEST_NO_CLONE is set");
		return why;
	}
	if (snapshot_rollup(proc_dirfd, &r) < 0) {
		snprintf(why, whylen, "cannot read its smaps_rollup: %s", strerror(errno));
		return why;
	}
	free = snapshot_headroom(proc_dirfd);
	if (free >= r.anon)
		return NULL;
	snprintf(why, whylen, "its memory cgroup has %" PRIu64 " MiB free, and the pages it writes "
		 "while its clone lives are copied, up to its %" PRIu64 " MiB of anonymous memory",
		 free >> 20, r.anon >> 20);
	return why;
}
