#include "uffd.h"
#include "inject.h"
#include "pagemap_scan.h"
#include "ptrace_stop.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Linux 6.4 and 6.7 additions; Debian 12's headers predate them. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)
/* userfaultfd(2) flags for the injected call: UFFD_USER_MODE_ONLY is what
 * vm.unprivileged_userfaultfd=0 still allows an unprivileged target, and
 * async write-protect does not need kernel-mode faults delivered (the
 * kernel resolves them itself: writes by read(2) are still reported). */
#define CREATE_FLAGS (O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY)
#define SCAN_REGIONS 512u
#define STOP_TIMEOUT_MS 2000u
#define END_OF_USER 0x7ffffffff000ull   /* 1 << 47 is EFAULT */

static int api(int fd)
{
	struct uffdio_api a = { .api = UFFD_API, .features = FEATURES };

	if (ioctl(fd, UFFDIO_API, &a) < 0)
		return -1;
	if ((a.features & FEATURES) != FEATURES) {
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

int uffd_protect(int fd, uint64_t start, uint64_t end)
{
	struct uffdio_register r = {
		.range = { .start = start, .len = end - start },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = end - start },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &r) < 0)
		return -1;
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &w) < 0) {
		int saved = errno;

		ioctl(fd, UFFDIO_UNREGISTER, &r.range);
		errno = saved;
		return -1;
	}
	return 0;
}

int uffd_unregister(int fd, uint64_t start, uint64_t end)
{
	struct uffdio_range r = { .start = start, .len = end - start };

	return ioctl(fd, UFFDIO_UNREGISTER, &r);
}

int uffd_scan(int pagemap_fd, uint64_t start, uint64_t end, bool reset, struct pagemap_runs *out)
{
	struct page_region vec[SCAN_REGIONS];

	if (end > END_OF_USER)
		end = END_OF_USER;
	while (start < end) {
		struct pm_scan_arg arg = {
			.size = sizeof arg,
			.flags = PM_SCAN_CHECK_WPASYNC | (reset ? PM_SCAN_WP_MATCHING : 0),
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = SCAN_REGIONS,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		long n;

		memset(vec, 0, sizeof vec);
		n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPERM) {
			/* not (or no longer) ours: a VMA replaced or added
			 * under a range that was tracked. Pages the walk
			 * re-protected before it met that VMA lie inside
			 * [start, end): report all of it written. */
			return pagemap_runs_append(out, start, end);
		}
		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++)
			if (pagemap_runs_append(out, vec[i].start, vec[i].end) < 0)
				return -1;
		if (arg.walk_end <= start || arg.walk_end >= end)
			break;
		start = arg.walk_end;
	}
	return 0;
}

int uffd_probe(char *why, size_t whylen)
{
	long page = sysconf(_SC_PAGESIZE);
	struct pagemap_runs runs;
	volatile char *p = MAP_FAILED;
	int fd, pm = -1, rc = -1;

	pagemap_runs_init(&runs);
	fd = (int)syscall(SYS_userfaultfd, CREATE_FLAGS);
	if (fd < 0) {
		snprintf(why, whylen, "userfaultfd: %s", strerror(errno));
		return -1;
	}
	if (api(fd) < 0) {
		snprintf(why, whylen, "UFFDIO_API without WP_ASYNC and WP_UNPOPULATED (Linux 6.7+): %s",
			 strerror(errno));
		goto out;
	}
	if ((pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(why, whylen, "/proc/self/pagemap: %s", strerror(errno));
		goto out;
	}
	p = mmap(NULL, 4 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		goto out;
	}
	p[0] = 1;
	if (uffd_protect(fd, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + 4 * (uint64_t)page) < 0) {
		snprintf(why, whylen, "UFFDIO_REGISTER/WRITEPROTECT: %s", strerror(errno));
		goto out;
	}
	/* clean after the protection, then exactly the page written (an
	 * unpopulated one: WP_UNPOPULATED must hold too) */
	if (uffd_scan(pm, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + 4 * (uint64_t)page, true,
		      &runs) < 0) {
		snprintf(why, whylen, "PAGEMAP_SCAN (Linux 6.7+): %s", strerror(errno));
		goto out;
	}
	if (runs.n) {
		snprintf(why, whylen, "PAGEMAP_SCAN reports protected pages written");
		goto out;
	}
	p[2 * page] = 1;
	if (uffd_scan(pm, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + 4 * (uint64_t)page, true,
		      &runs) < 0 || runs.n != 1 || runs.run[0].start != (uint64_t)(uintptr_t)(p + 2 * page) ||
	    runs.run[0].end != (uint64_t)(uintptr_t)(p + 3 * page)) {
		snprintf(why, whylen, "PAGEMAP_SCAN does not report exactly the page written");
		goto out;
	}
	rc = 0;
out:
	if (p != MAP_FAILED)
		munmap((void *)p, 4 * (size_t)page);
	if (pm >= 0)
		close(pm);
	close(fd);
	pagemap_runs_free(&runs);
	return rc;
}

/* "Key:\tvalue" of a status text, or NULL */
static const char *status_field(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, n) && l[n] == ':') {
			l += n + 1;
			while (*l == ' ' || *l == '\t')
				l++;
			return l;
		}
	return NULL;
}

const char *uffd_refuse(int proc_dirfd)
{
	int fd = openat(proc_dirfd, "status", O_RDONLY | O_CLOEXEC);
	char *text = fd >= 0 ? xio_read_fd_all(fd, NULL) : NULL;
	const char *v, *why = NULL;

	if (fd >= 0)
		close(fd);
	if (!text)
		return "its /proc status cannot be read";
	if ((v = status_field(text, "Seccomp")) && *v != '0')
		why = "it runs under seccomp (a filter that kills on userfaultfd would kill it): "
		      "nothing is injected";
	else if ((v = status_field(text, "TracerPid")) && *v != '0')
		why = "it is already traced by another process";
	else if ((v = status_field(text, "State")) && (*v == 'T' || *v == 't'))
		why = "it is stopped";
	free(text);
	return why;
}

static int64_t us_between(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

/* The ptrace stop for an injection: SIGINT and SIGTERM held off (and
 * delivered after the detach), SIGCHLD blocked for the waits. */
struct held {
	sigset_t cancel, old;
	struct ptrace_stop ps;
};

static int hold(struct held *h, pid_t pid, int task_dirfd)
{
	sigset_t block;

	sigemptyset(&h->cancel);
	sigaddset(&h->cancel, SIGINT);
	sigaddset(&h->cancel, SIGTERM);
	block = h->cancel;
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &h->old);
	ptrace_stop_init(&h->ps, pid, task_dirfd);
	if (ptrace_stop_all(&h->ps, STOP_TIMEOUT_MS, &h->cancel) < 0) {
		int saved = errno;

		ptrace_stop_free(&h->ps);
		sigprocmask(SIG_SETMASK, &h->old, NULL);
		errno = saved;
		return -1;
	}
	return 0;
}

static int64_t let_go(struct held *h, int *failed)
{
	int64_t us;

	*failed = ptrace_stop_detach_all(&h->ps);
	us = us_between(&h->ps.first_seize, &h->ps.last_detach);
	ptrace_stop_free(&h->ps);
	sigprocmask(SIG_SETMASK, &h->old, NULL);
	return us;
}

static int inject_at(struct ptrace_stop *s, int proc_dirfd, int mem_fd, uint64_t insn, long nr,
		     const uint64_t args[6], int64_t *ret)
{
	struct ptrace_thread *t = inject_pick_thread(s);
	unsigned char two[2];

	if (!t) {
		errno = ESRCH;
		return -1;
	}
	/* the address found before the stop must still hold 0f 05 */
	if (insn && (xio_pread_full(mem_fd, two, 2, (off_t)insn) != 2 || two[0] != 0x0f || two[1] != 0x05))
		insn = 0;
	if (!insn && inject_find_syscall(proc_dirfd, mem_fd, &insn) < 0)
		return -1;
	return inject_syscall(t, insn, nr, args, ret);
}

int uffd_inject_close(struct ptrace_stop *s, int proc_dirfd, int mem_fd, int target_fd,
		      uint64_t syscall_addr)
{
	uint64_t args[6] = { (uint64_t)target_fd };
	int64_t ret;

	if (inject_at(s, proc_dirfd, mem_fd, syscall_addr, SYS_close, args, &ret) < 0)
		return -1;
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return 0;
}

static int pidfd_getfd_of(pid_t pid, int target_fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int fd, saved;

	if (pidfd < 0)
		return -1;
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
	saved = errno;
	close(pidfd);
	errno = saved;
	return fd;
}

int uffd_inject_open(pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd, int *target_fd,
		     int *fd, int64_t *window_us, char *why, size_t whylen)
{
	uint64_t args[6] = { CREATE_FLAGS }, insn;
	struct held h;
	int64_t ret = -1;
	int failed, rc = -1, saved = 0;

	*fd = -1;
	/* looked for before the stop, so that the stop is only the call */
	if (inject_find_syscall(proc_dirfd, mem_fd, &insn) < 0) {
		snprintf(why, whylen, "no syscall instruction in the process's [vdso]: %s",
			 strerror(errno));
		return -1;
	}
	if (hold(&h, pid, task_dirfd) < 0) {
		snprintf(why, whylen, "cannot stop the process to inject userfaultfd: %s",
			 errno == EBUSY ? "it is traced by another process" : strerror(errno));
		return -1;
	}
	if (inject_at(&h.ps, proc_dirfd, mem_fd, insn, SYS_userfaultfd, args, &ret) < 0) {
		saved = errno;
		snprintf(why, whylen, "cannot inject userfaultfd: %s", strerror(errno));
	} else if (ret < 0) {
		saved = (int)-ret;
		snprintf(why, whylen, "userfaultfd in the process failed: %s", strerror(saved));
	} else if ((*fd = pidfd_getfd_of(pid, (int)ret)) < 0 || api(*fd) < 0) {
		uint64_t cargs[6] = { (uint64_t)ret };
		int64_t cret;

		saved = errno;
		snprintf(why, whylen, "cannot take the userfaultfd from the process: %s", strerror(saved));
		/* nothing may stay behind in the target */
		inject_at(&h.ps, proc_dirfd, mem_fd, insn, SYS_close, cargs, &cret);
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	} else {
		*target_fd = (int)ret;
		rc = 0;
	}
	*window_us = let_go(&h, &failed);
	if (failed && rc == 0) {
		snprintf(why, whylen, "could not detach every thread");
		saved = ESRCH;
		rc = -1;
	}
	if (rc < 0)
		errno = saved ? saved : EIO;
	return rc;
}

bool uffd_is_ours(int proc_dirfd, int target_fd)
{
	char path[64], link[64], *info;
	const char *api_line;
	unsigned long long api_v, features;
	ssize_t n;
	int fd;
	bool ours = false;

	snprintf(path, sizeof path, "fd/%d", target_fd);
	n = readlinkat(proc_dirfd, path, link, sizeof link - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]"))
		return false;
	snprintf(path, sizeof path, "fdinfo/%d", target_fd);
	if ((fd = openat(proc_dirfd, path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	info = xio_read_fd_all(fd, NULL);
	close(fd);
	/* "API:\t%Lx:%x:%Lx": the api, the features enabled, the ioctls */
	if (info && (api_line = status_field(info, "API")) &&
	    sscanf(api_line, "%llx:%llx", &api_v, &features) == 2)
		ours = (features & FEATURES) == FEATURES;
	free(info);
	return ours;
}

int uffd_take(pid_t pid, int proc_dirfd, int target_fd, int *fd)
{
	if (!uffd_is_ours(proc_dirfd, target_fd)) {
		errno = ENOENT;
		return -1;
	}
	*fd = pidfd_getfd_of(pid, target_fd);
	return *fd < 0 ? -1 : 0;
}

int uffd_release(pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd, int target_fd,
		 bool *closed, int64_t *window_us)
{
	struct held h;
	int failed, rc = 0, saved = 0;

	*closed = false;
	*window_us = 0;
	if (!uffd_is_ours(proc_dirfd, target_fd))
		return 0;
	if (hold(&h, pid, task_dirfd) < 0)
		return -1;
	/* looked at again while it cannot change */
	if (uffd_is_ours(proc_dirfd, target_fd)) {
		if (uffd_inject_close(&h.ps, proc_dirfd, mem_fd, target_fd, 0) < 0) {
			saved = errno;
			rc = -1;
		} else {
			*closed = true;
		}
	}
	*window_us = let_go(&h, &failed);
	if (rc < 0)
		errno = saved;
	return rc;
}
