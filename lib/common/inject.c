#include "inject.h"
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
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

/* include/linux/errno.h: never seen by user space, but left in rax by a
 * system call interrupted by the stop */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516
#define X86_EFLAGS_TF 0x100

int inject_find_syscall(int proc_dirfd, int mem_fd, uint64_t *addr)
{
	char *maps, *line, *save = NULL;
	uint64_t start = 0, end = 0;
	int fd = openat(proc_dirfd, "maps", O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0)
		return -1;
	maps = xio_read_fd_all(fd, NULL);
	close(fd);
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

		for (ssize_t i = 0; n > 1 && i + 1 < n; i++)
			if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
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
 * set, not while it holds). */
static int set_options(pid_t tid, bool suspend)
{
	long options = OPTIONS | (suspend ? PTRACE_O_SUSPEND_SECCOMP : 0);
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

int inject_syscall(struct ptrace_thread *t, uint64_t syscall_addr, long nr, const uint64_t args[6],
		   int64_t *ret)
{
	struct user_regs_struct saved, regs;
	int rc = -1, saved_errno;

	if (set_options(t->tid, suspend_seccomp) < 0)
		return -1;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &saved) < 0) {
		saved_errno = errno;
		set_options(t->tid, false);
		errno = saved_errno;
		return -1;
	}
	regs = saved;
	regs.rip = syscall_addr;
	regs.rax = (unsigned long long)nr;
	regs.orig_rax = (unsigned long long)-1;
	regs.rdi = args[0];
	regs.rsi = args[1];
	regs.rdx = args[2];
	regs.r10 = args[3];
	regs.r8 = args[4];
	regs.r9 = args[5];
	regs.eflags &= ~(unsigned long long)X86_EFLAGS_TF;
	if (ptrace(PTRACE_SETREGS, t->tid, 0, &regs) < 0)
		goto restore;
	/* entry, then exit */
	if (to_syscall_stop(t) < 0 || to_syscall_stop(t) < 0)
		goto restore;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &regs) < 0)
		goto restore;
	*ret = (int64_t)regs.rax;
	rc = 0;
restore:
	saved_errno = errno;
	if ((int64_t)saved.orig_rax >= 0) {
		switch ((int64_t)saved.rax) {
		case -ERESTARTSYS:
		case -ERESTARTNOINTR:
		case -ERESTARTNOHAND:
			saved.rax = saved.orig_rax;
			saved.rip -= 2;
			break;
		case -ERESTART_RESTARTBLOCK:
			saved.rax = SYS_restart_syscall;
			saved.rip -= 2;
			break;
		}
	}
	saved.orig_rax = (unsigned long long)-1;
	if (ptrace(PTRACE_SETREGS, t->tid, 0, &saved) < 0 && rc == 0) {
		rc = -1;
		saved_errno = errno;
	}
	/* the filter is in force again before the thread runs its code */
	if (suspend_seccomp && set_options(t->tid, false) < 0 && rc == 0) {
		rc = -1;
		saved_errno = errno;
	}
	errno = saved_errno;
	return rc;
}
