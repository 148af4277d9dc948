#include "uffd.h"
#include "caps.h"
#include "inject.h"
#include "pagemap_scan.h"
#include "ptrace_stop.h"
#include "xio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
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

/* The populated pages of [start, end) in clusters that never cross a
 * 2 MiB region holding no populated page: UFFDIO_WRITEPROTECT allocates a
 * page table for every empty region it covers (with WP_UNPOPULATED it
 * installs markers in the holes), which would stay after the dump; inside
 * a region that has a page table already, the holes only get markers,
 * which cost nothing and go with the unregistration. A huge page is
 * covered whole (all of it is populated), so protecting never splits it. */
#define CLUSTER_SHIFT 21

static int protect(int fd, uint64_t start, uint64_t end)
{
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = end - start },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	return ioctl(fd, UFFDIO_WRITEPROTECT, &w);
}

int uffd_register(int fd, uint64_t start, uint64_t end)
{
	struct uffdio_register r = {
		.range = { .start = start, .len = end - start },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(fd, UFFDIO_REGISTER, &r);
}

int uffd_protect(int fd, uint64_t start, uint64_t end, const struct pagemap_runs *populated)
{
	uint64_t from = 0, to = 0;
	bool open = false;

	for (size_t i = 0; i <= populated->n; i++) {
		const struct pagemap_run *run = i < populated->n ? &populated->run[i] : NULL;
		uint64_t s, e;

		if (run && (run->end <= start || run->start >= end))
			continue;
		if (run) {
			s = run->start > start ? run->start : start;
			e = run->end < end ? run->end : end;
			if (open && (s >> CLUSTER_SHIFT) <= ((to - 1) >> CLUSTER_SHIFT) + 1) {
				to = e;
				continue;
			}
		}
		if (open && protect(fd, from, to) < 0)
			return -1;
		if (!run)
			break;
		from = s;
		to = e;
		open = true;
	}
	return 0;
}

/* Undoes what a scan appended to r (an answer cut short). */
struct runs_mark {
	size_t n;
	uint64_t last_end;
};

static struct runs_mark runs_mark(const struct pagemap_runs *r)
{
	return (struct runs_mark){ r->n, r->n ? r->run[r->n - 1].end : 0 };
}

static void runs_rewind(struct pagemap_runs *r, struct runs_mark m)
{
	r->n = m.n;
	if (m.n)
		r->run[m.n - 1].end = m.last_end;
}

int uffd_scan(int pagemap_fd, uint64_t start, uint64_t end, bool reset, struct pagemap_runs *written,
	      struct pagemap_runs *populated, struct pagemap_runs *present)
{
	struct page_region vec[SCAN_REGIONS];
	struct runs_mark w0 = runs_mark(written), p0 = runs_mark(populated);
	struct runs_mark r0 = present ? runs_mark(present) : (struct runs_mark){ 0 };

	if (end > ARCH_SCAN_END)
		end = ARCH_SCAN_END;
	while (start < end) {
		/* Every populated page with its written bit: the generic walk
		 * (category_anyof_mask), not the fast path that reports only
		 * written pages, because the caller needs to know, for the
		 * same instant, which pages hold data (stagemap.h). An empty
		 * PTE is not populated and not reported; WP_MATCHING
		 * re-protects only the written pages it reports. */
		struct pm_scan_arg arg = {
			.size = sizeof arg,
			.flags = PM_SCAN_CHECK_WPASYNC | (reset ? PM_SCAN_WP_MATCHING : 0),
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = SCAN_REGIONS,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			/* the zero page is no data: a hole (pagemap.h) */
			.category_inverted = PAGE_IS_PFNZERO,
			.category_mask = PAGE_IS_PFNZERO,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_WRITTEN,
		};
		long n;

		n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPERM) {
			/* not (or no longer) ours: a VMA replaced or added
			 * under a range that was tracked. The caller treats the
			 * whole range as untracked. */
			runs_rewind(written, w0);
			runs_rewind(populated, p0);
			if (present)
				runs_rewind(present, r0);
			return 1;
		}
		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++)
			if (pagemap_runs_append(populated, vec[i].start, vec[i].end) < 0 ||
			    ((vec[i].categories & PAGE_IS_WRITTEN) &&
			     pagemap_runs_append(written, vec[i].start, vec[i].end) < 0) ||
			    (present && (vec[i].categories & PAGE_IS_PRESENT) &&
			     pagemap_runs_append(present, vec[i].start, vec[i].end) < 0))
				return -1;
		if (arg.walk_end <= start || arg.walk_end >= end)
			break;
		start = arg.walk_end;
	}
	return 0;
}

/* One PAGEMAP_SCAN question over [start, end), every answer to out (by
 * category: written, gone, gone and swapped, or all of them). */
static int scan_question(int pagemap_fd, uint64_t start, uint64_t end, uint64_t inverted, uint64_t mask,
			 uint64_t anyof, uint64_t ret, struct pagemap_runs *written, struct pagemap_runs *gone,
			 struct pagemap_runs *swapped, struct pagemap_runs *all)
{
	struct page_region vec[SCAN_REGIONS];

	if (end > ARCH_SCAN_END)
		end = ARCH_SCAN_END;
	while (start < end) {
		struct pm_scan_arg arg = {
			.size = sizeof arg,
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = SCAN_REGIONS,
			.category_inverted = inverted,
			.category_mask = mask,
			.category_anyof_mask = anyof,
			.return_mask = ret,
		};
		long n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		/* the categories come back as they are, not inverted */
		for (long i = 0; i < n; i++) {
			uint64_t c = vec[i].categories;
			bool is_gone = !(c & PAGE_IS_PRESENT) || (c & PAGE_IS_PFNZERO);

			if ((all && pagemap_runs_append(all, vec[i].start, vec[i].end) < 0) ||
			    (written && (c & PAGE_IS_WRITTEN) &&
			     pagemap_runs_append(written, vec[i].start, vec[i].end) < 0) ||
			    (gone && is_gone && pagemap_runs_append(gone, vec[i].start, vec[i].end) < 0) ||
			    (swapped && is_gone && (c & PAGE_IS_SWAPPED) &&
			     pagemap_runs_append(swapped, vec[i].start, vec[i].end) < 0))
				return -1;
		}
		if (arg.walk_end <= start || arg.walk_end >= end)
			break;
		start = arg.walk_end;
	}
	return 0;
}

void uffd_exceptions_init(struct uffd_exceptions *x)
{
	pagemap_runs_init(&x->written);
	pagemap_runs_init(&x->gone);
	pagemap_runs_init(&x->swapped);
	pagemap_runs_init(&x->unregistered);
}

void uffd_exceptions_free(struct uffd_exceptions *x)
{
	pagemap_runs_free(&x->written);
	pagemap_runs_free(&x->gone);
	pagemap_runs_free(&x->swapped);
	pagemap_runs_free(&x->unregistered);
}

int uffd_scan_exceptions(int pagemap_fd, uint64_t start, uint64_t end, struct uffd_exceptions *x)
{
	/* Where no VMA is registered in asynchronous mode (PAGE_IS_WPALLOWED
	 * inverted and required): the kernel skips every registered VMA
	 * whole, so this costs a walk of the others only. Their pages are
	 * not to be asked about: a page table moved or kept from a
	 * registered VMA may still carry write-protect bits there, which
	 * say "not written" of pages the process writes (seen here under the
	 * torture target's mremap and mprotect: a stale page in the core). */
	if (scan_question(pagemap_fd, start, end, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED, 0,
			  PAGE_IS_WPALLOWED, NULL, NULL, NULL, &x->unregistered) < 0)
		return -1;
	/* In the registered VMAs (WPALLOWED required): written, or not
	 * present (PRESENT inverted), or the zero page. The walk skips every
	 * clean present page. SWAPPED only in the answer: of the pages not
	 * present, which still hold data (swapped out; a marker reads the
	 * same), so that no second look is needed (the walk is off the
	 * WRITTEN-only fast path already, for PFNZERO). */
	return scan_question(pagemap_fd, start, end, PAGE_IS_PRESENT, PAGE_IS_WPALLOWED,
			     PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_PFNZERO,
			     PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_PFNZERO | PAGE_IS_SWAPPED, &x->written,
			     &x->gone, &x->swapped, NULL);
}

int uffd_probe(char *why, size_t whylen)
{
	long page = sysconf(_SC_PAGESIZE);
	struct pagemap_runs runs, populated;
	volatile char *p = MAP_FAILED;
	int fd, pm = -1, rc = -1;

	pagemap_runs_init(&runs);
	pagemap_runs_init(&populated);
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
	if (pagemap_runs_append(&populated, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + (uint64_t)page) < 0 ||
	    uffd_register(fd, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + 4 * (uint64_t)page) < 0 ||
	    uffd_protect(fd, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + 4 * (uint64_t)page,
			 &populated) < 0) {
		snprintf(why, whylen, "UFFDIO_REGISTER/WRITEPROTECT: %s", strerror(errno));
		goto out;
	}
	/* clean after the protection, then exactly the page written (one
	 * that was not populated, so never protected: its first write must
	 * show too) */
	pagemap_runs_clear(&populated);
	if (uffd_scan(pm, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + 4 * (uint64_t)page, true,
		      &runs, &populated, NULL) != 0) {
		snprintf(why, whylen, "PAGEMAP_SCAN (Linux 6.7+): %s", strerror(errno));
		goto out;
	}
	if (runs.n) {
		snprintf(why, whylen, "PAGEMAP_SCAN reports protected pages written");
		goto out;
	}
	p[2 * page] = 1;
	if (uffd_scan(pm, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + 4 * (uint64_t)page, true,
		      &runs, &populated, NULL) != 0 || runs.n != 1 || runs.run[0].start != (uint64_t)(uintptr_t)(p + 2 * page) ||
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
	pagemap_runs_free(&populated);
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
	char *text = xio_read_at_all(proc_dirfd, "status", NULL);
	const char *v, *why = NULL;

	if (!text)
		return "its /proc status cannot be read";
	if ((v = status_field(text, "TracerPid")) && *v != '0')
		why = "it is already traced by another process";
	else if ((v = status_field(text, "State")) && (*v == 'T' || *v == 't'))
		why = "it is stopped";
	free(text);
	return why;
}

const char *uffd_seccomp_refuse(int mode, bool *suspend)
{
	*suspend = false;
	if (mode <= 0)
		return NULL;
	if (!caps_permitted(CAP_SYS_ADMIN))
		return "process under seccomp, CAP_SYS_ADMIN not held (it suspends the filter around "
		       "the injected calls)";
	*suspend = true;
	return NULL;
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
	struct inject_hold h;
	int64_t ret = -1;
	int failed, rc = -1, saved = 0;

	*fd = -1;
	/* looked for before the stop, so that the stop is only the call */
	if (inject_find_syscall(proc_dirfd, mem_fd, &insn) < 0) {
		snprintf(why, whylen, "no syscall instruction in the process's [vdso]: %s",
			 strerror(errno));
		return -1;
	}
	if (inject_hold_process(&h, pid, task_dirfd, true) < 0) {
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
	*window_us = inject_release(&h, &failed);
	if (failed && rc == 0) {
		snprintf(why, whylen, "could not detach every thread");
		saved = ESRCH;
		rc = -1;
	}
	if (rc < 0)
		errno = saved ? saved : EIO;
	return rc;
}

/* Whether our own fd is a userfaultfd with the features this tracker asks
 * for. Read in /proc/self, which is ours whoever the target is: the
 * kernel lets a process read its own fd/ and fdinfo/ whatever their owner
 * and mode (proc_fd_permission), so no capability is needed. */
static int own_copy_is_ours(int fd)
{
	char path[64], link[64], *info;
	const char *api_line;
	unsigned long long api_v, features;
	ssize_t n;
	int info_fd, ours;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((n = readlink(path, link, sizeof link - 1)) < 0)
		return -1;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]"))
		return 0;
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	if ((info_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	info = xio_read_fd_all(info_fd, NULL);
	close(info_fd);
	if (!info)
		return -1;
	/* "API:\t%Lx:%x:%Lx": the api, the features enabled, the ioctls */
	if ((api_line = status_field(info, "API")) && sscanf(api_line, "%llx:%llx", &api_v, &features) == 2) {
		ours = (features & FEATURES) == FEATURES;
	} else {
		errno = EPROTO;
		ours = -1;
	}
	free(info);
	return ours;
}

int uffd_identify(pid_t pid, int target_fd, int *copy)
{
	int fd, ours, saved;

	*copy = -1;
	if ((fd = pidfd_getfd_of(pid, target_fd)) < 0)
		/* EBADF: the process has no such fd; anything else
		 * (EPERM: no ptrace access, ESRCH: it exited) says nothing */
		return errno == EBADF ? 0 : -1;
	if ((ours = own_copy_is_ours(fd)) == 1) {
		*copy = fd;
		return 1;
	}
	saved = errno;
	close(fd);
	errno = saved;
	return ours;
}

bool uffd_same_file(pid_t pid, int target_fd, int our_fd)
{
	return syscall(SYS_kcmp, getpid(), pid, KCMP_FILE, our_fd, target_fd) == 0;
}

int uffd_take(pid_t pid, int target_fd, int *fd)
{
	int ours = uffd_identify(pid, target_fd, fd);

	if (ours == 0)
		errno = ENOENT;
	return ours == 1 ? 0 : -1;
}

int uffd_release(pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd, int target_fd,
		 bool *closed, int64_t *window_us)
{
	struct inject_hold h;
	int failed, ours, copy, rc = 0, saved = 0;

	*closed = false;
	*window_us = 0;
	if ((ours = uffd_identify(pid, target_fd, &copy)) <= 0)
		return ours;
	if (inject_hold_process(&h, pid, task_dirfd, false) < 0) {
		saved = errno;
		close(copy);
		errno = saved;
		return -1;
	}
	/* still the same file, now that the process cannot change it */
	if (uffd_same_file(pid, target_fd, copy)) {
		if (uffd_inject_close(&h.ps, proc_dirfd, mem_fd, target_fd, 0) < 0) {
			saved = errno;
			rc = -1;
		} else {
			*closed = true;
		}
	}
	*window_us = inject_release(&h, &failed);
	/* the last copy, unless a child inherited one: the kernel
	 * unregisters every range now, while the process runs */
	close(copy);
	if (rc < 0)
		errno = saved;
	return rc;
}

/* Whether [start, end) is exactly one line of the maps text at *cursor
 * ("start-end ..."); ranges come ascending, the cursor moves on. Parsed
 * with strtoull: glibc's sscanf takes the length of the whole rest of the
 * text first, which made 50 000 VMAs cost 1.4 s here, the target held. */
static bool one_vma(const char **cursor, uint64_t start, uint64_t end)
{
	for (const char *l = *cursor; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long long s, e;
		char *p;

		*cursor = l;
		s = strtoull(l, &p, 16);
		if (p == l || *p != '-')
			continue;
		e = strtoull(p + 1, &p, 16);
		if (s < start)
			continue;
		return s == start && e == end;
	}
	return false;
}

int uffd_register_held(pid_t pid, int task_dirfd, int maps_fd, int fd, const struct pagemap_run *vmas,
		       size_t n, bool *registered, int64_t *window_us)
{
	struct inject_hold h;
	char *maps;
	const char *cursor;
	int failed, saved = 0, rc = 0;

	*window_us = 0;
	for (size_t i = 0; i < n; i++)
		registered[i] = false;
	if (inject_hold_process(&h, pid, task_dirfd, true) < 0)
		return -1;
	/* the maps as they are while nothing can change them */
	maps = lseek(maps_fd, 0, SEEK_SET) == 0 ? xio_read_fd_all(maps_fd, NULL) : NULL;
	if (!maps) {
		saved = errno;
		rc = -1;
	}
	cursor = maps;
	for (size_t i = 0; maps && i < n;) {
		size_t j = i + 1;

		if (i && vmas[i].start < vmas[i - 1].end)
			cursor = maps;  /* not ascending: from the top */
		if (!one_vma(&cursor, vmas[i].start, vmas[i].end)) {
			i++;
			continue;
		}
		/* its neighbours that are each exactly one VMA too: one
		 * registration for the run, the kernel walks its VMAs itself
		 * (50 000 one-page VMAs: one ioctl of 8.5 ms here, the
		 * process held meanwhile). Where the run is refused as a
		 * whole, each VMA alone, as before. */
		while (j < n && vmas[j].start == vmas[j - 1].end && one_vma(&cursor, vmas[j].start, vmas[j].end))
			j++;
		if (uffd_register(fd, vmas[i].start, vmas[j - 1].end) == 0) {
			for (size_t k = i; k < j; k++)
				registered[k] = true;
		} else if (j - i > 1) {
			for (size_t k = i; k < j; k++)
				registered[k] = uffd_register(fd, vmas[k].start, vmas[k].end) == 0;
		}
		i = j;
	}
	free(maps);
	*window_us = inject_release(&h, &failed);
	if (failed && rc == 0) {
		saved = ESRCH;
		rc = -1;
	}
	if (rc < 0)
		errno = saved;
	return rc;
}

/* ---- children that inherited the fd ------------------------------------- */

/* Appends to *pids (a growing array) the children of every thread of pid
 * (/proc/PID/task/TID/children: the kernel lists them with ptrace read
 * access, which we hold). */
static int children_of(pid_t pid, pid_t **pids, size_t *n, size_t *cap)
{
	char path[64];
	DIR *dir;
	struct dirent *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if (!(dir = opendir(path)))
		return -1;
	while ((d = readdir(dir))) {
		char file[128], *text, *p, *end;
		int fd;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(file, sizeof file, "/proc/%d/task/%.20s/children", (int)pid, d->d_name);
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		text = xio_read_fd_all(fd, NULL);
		close(fd);
		for (p = text; p && *p; p = end) {
			long c = strtol(p, &end, 10);

			if (end == p)
				break;
			if (*n == *cap) {
				size_t grown = *cap ? 2 * *cap : 16;
				pid_t *more = realloc(*pids, grown * sizeof *more);

				if (!more) {
					free(text);
					closedir(dir);
					return -1;
				}
				*pids = more;
				*cap = grown;
			}
			(*pids)[(*n)++] = (pid_t)c;
		}
		free(text);
	}
	closedir(dir);
	return 0;
}

/* Stops child, checks again that its fd is our file, closes it there. */
static int close_in_child(pid_t child, int child_fd, int our_fd, uint64_t syscall_addr)
{
	char path[64];
	struct inject_hold h;
	int task_dirfd, failed, rc = -1;

	snprintf(path, sizeof path, "/proc/%d/task", (int)child);
	if ((task_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (inject_hold_process(&h, child, task_dirfd, false) == 0) {
		struct ptrace_thread *t = inject_pick_thread(&h.ps);
		uint64_t args[6] = { (uint64_t)child_fd };
		int64_t ret;

		/* a fork keeps the parent's mappings: its [vdso], and the
		 * syscall instruction in it, are where they were */
		if (t && uffd_same_file(child, child_fd, our_fd) &&
		    inject_syscall(t, syscall_addr, SYS_close, args, &ret) == 0 && ret == 0)
			rc = 0;
		inject_release(&h, &failed);
	}
	close(task_dirfd);
	return rc;
}

int uffd_release_children(pid_t pid, int target_fd, int our_fd, uint64_t syscall_addr,
			  unsigned *closed, unsigned *left)
{
	pid_t *pids = NULL;
	size_t n = 0, cap = 0;

	*closed = *left = 0;
	if (children_of(pid, &pids, &n, &cap) < 0) {
		free(pids);
		return -1;
	}
	/* breadth first: a child's children inherited it too */
	for (size_t i = 0; i < n; i++) {
		if (!uffd_same_file(pids[i], target_fd, our_fd))
			continue;
		if (syscall_addr && close_in_child(pids[i], target_fd, our_fd, syscall_addr) == 0)
			(*closed)++;
		else
			(*left)++;
		(void)children_of(pids[i], &pids, &n, &cap);
	}
	free(pids);
	return 0;
}
