#include "inject.h"
#include "arch.h"
#include "caps.h"
#include "procfs.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int inject_find_syscall(int proc_dirfd, int mem_fd, uint64_t *addr)
{
	char *maps = xio_read_at_all(proc_dirfd, "maps", NULL), *line, *save = NULL;
	uint64_t start = 0, end = 0;
	int rc = -1;

	if (!maps)
		return -1;
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct procfs_map m;

		if (procfs_parse_maps_line(line, &m) == 0 && !strcmp(m.path, "[vdso]")) {
			start = m.start;
			end = m.end;
			break;
		}
	}
	free(maps);
	if (start < end && end - start <= (1u << 20)) {
		unsigned char *buf = malloc(end - start);
		ssize_t n = buf ? xio_pread_full(mem_fd, buf, end - start, (off_t)start) : -1;

		for (ssize_t i = 0; n > 0 && i + (ssize_t)arch_syscall_insn_len <= n;
		     i += (ssize_t)arch_syscall_insn_align)
			if (!memcmp(buf + i, arch_syscall_insn, arch_syscall_insn_len)) {
				*addr = start + (uint64_t)i;
				rc = 0;
				break;
			}
		free(buf);
		if (rc == 0)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

struct ptrace_thread *inject_pick_thread(struct ptrace_stop *s)
{
	struct ptrace_thread *any = NULL;

	for (size_t i = 0; i < s->n; i++) {
		struct ptrace_thread *t = &s->threads[i];

		if (t->gone || !t->stopped || !t->attached)
			continue;
		if (!t->pending_signal)
			return t;
		if (!any)
			any = t;
	}
	return any;
}

/* the child a clone event announced during the call (inject_call) */
static pid_t clone_child;

/* Resumes with PTRACE_SYSCALL until the next syscall stop (entry or exit).
 * Other stops on the way: a signal is kept for the detach and suppressed
 * now, an event stop is passed. */
static int to_syscall_stop(struct ptrace_thread *t)
{
	for (int guard = 0; guard < 64; guard++) {
		int status;
		pid_t w;

		if (ptrace(PTRACE_SYSCALL, t->tid, 0, 0) < 0)
			return -1;
		do
			w = waitpid(t->tid, &status, __WALL);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			return -1;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			t->gone = true;
			errno = ESRCH;
			return -1;
		}
		if (!WIFSTOPPED(status))
			continue;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80))
			return 0;
		if ((status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP && !t->pending_signal)
			t->pending_signal = WSTOPSIG(status);
		if ((status >> 16) == PTRACE_EVENT_CLONE || (status >> 16) == PTRACE_EVENT_FORK ||
		    (status >> 16) == PTRACE_EVENT_VFORK) {
			unsigned long msg = 0;

			if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg) == 0)
				clone_child = (pid_t)msg;
		}
	}
	errno = EIO;
	return -1;
}

#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

static bool suspend_seccomp;

void inject_suspend_seccomp(bool on)
{
	suspend_seccomp = on;
}

#define OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACESYSGOOD)

/* The options for the call: with the filter suspended, CAP_SYS_ADMIN in
 * force for this request alone (the kernel checks it when the option is
 * set, not while it holds); extra: more options for the call alone. */
static int set_options(pid_t tid, bool suspend, long extra)
{
	long options = OPTIONS | extra | (suspend ? PTRACE_O_SUSPEND_SECCOMP : 0);
	int rc, saved;

	if (!suspend)
		return (int)ptrace(PTRACE_SETOPTIONS, tid, 0, (void *)options);
	if (caps_raise_one(CAP_SYS_ADMIN) < 0)
		return -1;
	rc = (int)ptrace(PTRACE_SETOPTIONS, tid, 0, (void *)options);
	saved = errno;
	if (caps_lower_one(CAP_SYS_ADMIN) < 0 && rc == 0)
		return -1;
	errno = saved;
	return rc;
}

/* inject_syscall, with extra ptrace options on the thread for the call
 * alone, and the tid of a child a clone event announced on the way (0 if
 * none; child may be NULL). */
static int inject_call(struct ptrace_thread *t, uint64_t syscall_addr, long nr, const uint64_t args[6],
		       long extra_options, int64_t *ret, pid_t *child)
{
	struct arch_call_saved saved;
	int rc = -1, saved_errno;

	clone_child = 0;
	if (set_options(t->tid, suspend_seccomp, extra_options) < 0)
		return -1;
	if (arch_call_save(t->tid, &saved) < 0) {
		saved_errno = errno;
		set_options(t->tid, false, 0);
		errno = saved_errno;
		return -1;
	}
	if (arch_call_start(t->tid, &saved, syscall_addr, nr, args) < 0)
		goto restore;
	/* entry, then exit */
	if (to_syscall_stop(t) < 0 || arch_call_enter(t->tid, &saved, nr, args) < 0 ||
	    to_syscall_stop(t) < 0)
		goto restore;
	if (arch_call_result(t->tid, ret) < 0)
		goto restore;
	rc = 0;
restore:
	/* said even when the call failed later: the child exists */
	if (child)
		*child = clone_child;
	saved_errno = errno;
	if (arch_call_restore(t->tid, &saved) < 0 && rc == 0) {
		rc = -1;
		saved_errno = errno;
	}
	/* the filter is in force again before the thread runs its code, and
	 * the extra options are gone */
	if ((suspend_seccomp || extra_options) && set_options(t->tid, false, 0) < 0 && rc == 0) {
		rc = -1;
		saved_errno = errno;
	}
	errno = saved_errno;
	return rc;
}

int inject_syscall(struct ptrace_thread *t, uint64_t syscall_addr, long nr, const uint64_t args[6],
		   int64_t *ret)
{
	return inject_call(t, syscall_addr, nr, args, 0, ret, NULL);
}

int inject_clone(struct ptrace_thread *t, uint64_t syscall_addr, uint64_t flags, int64_t *ret,
		 pid_t *child)
{
	const uint64_t args[6] = { flags };
	uint64_t mask, all = ~0ull;
	int rc, saved;

	/* Every signal blocked for the call: clone fails with -ERESTARTNOINTR
	 * while the thread has one pending (copy_process, so that a group
	 * signal reaches parent and child or neither), and the process is
	 * stopped with whatever was sent meanwhile (a child's SIGCHLD) still
	 * queued. The kernel recalculates the pending state when the thread
	 * leaves its ptrace stop (ptrace_stop), so the signals are delivered
	 * as usual once the mask is back. */
	if (ptrace(PTRACE_GETSIGMASK, t->tid, sizeof mask, &mask) < 0 ||
	    ptrace(PTRACE_SETSIGMASK, t->tid, sizeof all, &all) < 0)
		return -1;
	/* PTRACE_O_EXITKILL for the call alone: the child copies the
	 * thread's ptrace flags at its birth (ptrace_init_task), so that it
	 * is killed if we die, before it ever returns to user space */
	rc = inject_call(t, syscall_addr, SYS_clone, args, PTRACE_O_EXITKILL, ret, child);
	saved = errno;
	if (ptrace(PTRACE_SETSIGMASK, t->tid, sizeof mask, &mask) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	errno = saved;
	return rc;
}

static int64_t us_between(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

/* tid 0: every thread */
static int hold(struct inject_hold *h, pid_t pid, pid_t tid, int task_dirfd, bool cancellable)
{
	const sigset_t *cancel = cancellable ? &h->cancel : NULL;
	sigset_t block;
	int rc;

	sigemptyset(&h->cancel);
	sigaddset(&h->cancel, SIGINT);
	sigaddset(&h->cancel, SIGTERM);
	block = h->cancel;
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &h->old);
	ptrace_stop_init(&h->ps, pid, task_dirfd);
	rc = tid ? ptrace_stop_one(&h->ps, tid, INJECT_STOP_TIMEOUT_MS, cancel)
		 : ptrace_stop_all(&h->ps, INJECT_STOP_TIMEOUT_MS, cancel);
	if (rc < 0) {
		int saved = errno;

		ptrace_stop_free(&h->ps);
		sigprocmask(SIG_SETMASK, &h->old, NULL);
		errno = saved;
		return -1;
	}
	return 0;
}

int inject_hold_process(struct inject_hold *h, pid_t pid, int task_dirfd, bool cancellable)
{
	return hold(h, pid, 0, task_dirfd, cancellable);
}

int inject_hold_thread(struct inject_hold *h, pid_t pid, pid_t tid, int task_dirfd, bool cancellable)
{
	return hold(h, pid, tid, task_dirfd, cancellable);
}

int64_t inject_release(struct inject_hold *h, int *failed)
{
	int64_t us;

	*failed = ptrace_stop_detach_all(&h->ps);
	us = us_between(&h->ps.first_seize, &h->ps.last_detach);
	ptrace_stop_free(&h->ps);
	sigprocmask(SIG_SETMASK, &h->old, NULL);
	return us;
}

int inject_at(struct ptrace_stop *s, int proc_dirfd, int mem_fd, uint64_t insn, long nr,
	      const uint64_t args[6], int64_t *ret)
{
	struct ptrace_thread *t = inject_pick_thread(s);

	if (!t) {
		errno = ESRCH;
		return -1;
	}
	if (inject_check_syscall(proc_dirfd, mem_fd, &insn) < 0)
		return -1;
	return inject_syscall(t, insn, nr, args, ret);
}

int inject_check_syscall(int proc_dirfd, int mem_fd, uint64_t *insn)
{
	unsigned char at[16];

	/* the address found before the stop must still hold the instruction */
	if (*insn && (arch_syscall_insn_len > sizeof at ||
		      xio_pread_full(mem_fd, at, arch_syscall_insn_len, (off_t)*insn) !=
			      (ssize_t)arch_syscall_insn_len ||
		      memcmp(at, arch_syscall_insn, arch_syscall_insn_len)))
		*insn = 0;
	return *insn ? 0 : inject_find_syscall(proc_dirfd, mem_fd, insn);
}
