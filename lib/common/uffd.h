/* uffd - dirty tracking with a userfaultfd in asynchronous write-protect
 * mode and the PAGEMAP_SCAN ioctl (Linux 6.7+), for kernels without
 * soft-dirty (../shared/notes/uffd-tracking.md has what was measured).
 *
 * A userfaultfd works only on the memory of the process that created it,
 * so the context is created inside the target: uffd_inject_open stops
 * every thread (ptrace_stop), injects userfaultfd(2) into one of them
 * (inject.h), lets them go, and takes a copy of the new fd with
 * pidfd_getfd(2). The stop lasts a fraction of a millisecond.
 *
 * The handoff between the tools: the fd stays open in the target, its
 * number recorded in the manifest (`# uffd fd=N ...`), so that lc-precopy
 * -c and lc-freeze take it again with pidfd_getfd. lc-freeze closes it in
 * the target by injecting close(2) during its stop, after the final scan;
 * when the last copy is closed the kernel unregisters every range and
 * clears the write protection. Whatever ends the pipeline early closes it
 * the same way (uffd_release: `lc-precopy -R PID FD`). Killed outright
 * between two stages, the target keeps one userfaultfd and its registered
 * ranges until that command runs or the target exits: each page it then
 * writes for the first time takes one minor fault (about a microsecond),
 * once, and that is all.
 *
 * UFFDIO_API asks for UFFD_FEATURE_WP_ASYNC (a write to a protected page
 * is resolved by the kernel, never waits for us: the target is never
 * blocked by the tracker) and WP_UNPOPULATED (which WP_ASYNC implies). Only
 * populated pages are protected (uffd_protect): the first write to a hole
 * of a registered VMA populates it with a page that is not protected, so
 * the scan reports it written without the hole ever being protected, and
 * no page table is allocated for it. A scan with PM_SCAN_WP_MATCHING
 * reports the written pages and protects them again in the same walk,
 * under the page table lock: nothing falls between scan and reset. */
#ifndef LC_UFFD_H
#define LC_UFFD_H

#include "pagemap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 when the uffd tracker works here, tried in this process: a
 * userfaultfd with WP_ASYNC and WP_UNPOPULATED, a page registered,
 * protected, written, and PAGEMAP_SCAN reporting exactly that page. -1 and
 * why otherwise (kernel older than 6.7, userfaultfd not allowed, ...). */
int uffd_probe(char *why, size_t whylen);

/* Why the tracker must not be put into this process, or NULL: a tracer
 * already attached, a process stopped by a signal. A process under
 * seccomp is the caller's to decide (uffd_seccomp_refuse). */
const char *uffd_refuse(int proc_dirfd);

/* For a process whose status says Seccomp: MODE (0 none, 1 strict, 2
 * filter): NULL when the injected calls can be made (no filter, or
 * CAP_SYS_ADMIN is permitted: the filter is suspended around them,
 * inject.h, and *suspend says so), else why not. A filter would see the
 * injected userfaultfd(2) and close(2): one that kills on them would kill
 * the process, one that traps would send it a SIGSYS, one that notifies
 * would ask its supervisor. */
const char *uffd_seccomp_refuse(int mode, bool *suspend);

/* Creates the context in the target (see above). task_dirfd: /proc/PID/task;
 * mem_fd: /proc/PID/mem (the vdso's syscall instruction). On success
 * *target_fd is the fd number in the target, *fd our copy with UFFDIO_API
 * done, *window_us the stop. -1 with errno and why on failure; nothing is
 * left in the target then. */
int uffd_inject_open(pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd, int *target_fd,
		     int *fd, int64_t *window_us, char *why, size_t whylen);

/* Whether fd target_fd of process pid is a userfaultfd in asynchronous
 * write-protect mode (the features this tracker asks for). Asked with
 * ptrace access alone, whoever owns the process: pidfd_getfd(2) takes a
 * copy (PTRACE_MODE_ATTACH), and the copy is looked at in our own
 * /proc/self/fd and fdinfo. /proc/PID/fd of another user's process is
 * mode 0500 and would need CAP_DAC_READ_SEARCH as well.
 * 1: it is; *copy is then our copy (the caller closes it). 0: it is not
 * (no such fd, another kind of file, other features). -1 with errno: the
 * question could not be answered (EPERM: no ptrace access, ESRCH: the
 * process is gone); never taken as "not ours". */
int uffd_identify(pid_t pid, int target_fd, int *copy);

/* Whether fd target_fd of process pid is the file our_fd is (kcmp(2),
 * ptrace read access). */
bool uffd_same_file(pid_t pid, int target_fd, int our_fd);

/* Takes a copy of the target's fd target_fd (uffd_identify). -1 with
 * errno: ENOENT when it is not such a userfaultfd, uffd_identify's errno
 * when that could not be told. */
int uffd_take(pid_t pid, int target_fd, int *fd);

struct ptrace_stop;
/* Closes target_fd in the target by injecting close(2) into a thread of a
 * stop the caller holds. syscall_addr: a `syscall` instruction in the
 * target's [vdso] the caller found before the stop (inject_find_syscall),
 * checked again through mem_fd; 0 to look for it now (reading the maps
 * inside the stop lengthens it). */
int uffd_inject_close(struct ptrace_stop *s, int proc_dirfd, int mem_fd, int target_fd,
		      uint64_t syscall_addr);

/* The release command: if target_fd is a userfaultfd of ours
 * (uffd_identify), stops the target, checks it is still the same file and
 * closes it there, then closes our copy. *closed says whether it did; 0
 * with *closed false when it is not ours. -1 with errno when that could
 * not be told or the close failed: the caller must say so, never that
 * there was nothing to release. */
int uffd_release(pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd, int target_fd,
		 bool *closed, int64_t *window_us);

/* After the target's fd target_fd was closed there: every descendant of
 * pid that holds the same file at the same number (a fork during the dump
 * inherits it; kcmp(2) compares it with our copy our_fd) is stopped for a
 * moment and the fd closed there too, by injection at syscall_addr (a
 * fork keeps the parent's [vdso]). Closing our copy then releases the
 * context, and the kernel unregisters every VMA of the target whole
 * (never splitting one, as an explicit unregistration of ranges read
 * earlier could). *closed counts the descendants done, *left those that
 * could not be (they keep the target's ranges registered until they exit
 * or exec). -1 when the children cannot be listed. */
int uffd_release_children(pid_t pid, int target_fd, int our_fd, uint64_t syscall_addr,
			  unsigned *closed, unsigned *left);

/* Registers [start, end) in write-protect mode. Registering part of a VMA
 * splits it: with a target that runs, use uffd_register_held. -1 with
 * errno: EBUSY (the target registered it itself), EINVAL (a special
 * mapping), ... */
int uffd_register(int fd, uint64_t start, uint64_t end);

/* Registers each of the n ranges (VMAs as smaps showed them) that is still
 * exactly one VMA, with every thread of the target stopped and the maps
 * (maps_fd: /proc/PID/maps) read inside the stop: a VMA that grew or was
 * split since smaps was read would be split by the registration of its
 * old bounds, and the target's next mremap of it would fail (EFAULT).
 * registered[i] says which were; *window_us the stop. -1 with errno when
 * the target could not be stopped (nothing registered then). */
int uffd_register_held(pid_t pid, int task_dirfd, int maps_fd, int fd, const struct pagemap_run *vmas,
		       size_t n, bool *registered, int64_t *window_us);

/* Protects the populated pages of the registered range [start, end)
 * (populated: its pages present or swapped, looked up after the
 * registration; others may be listed too). Holes stay unprotected: their
 * first write populates them with a page the kernel reports written, and
 * protecting them would allocate page tables that outlive the dump
 * (uffd.c). -1 with errno (ENOENT: the range is no longer registered). */
int uffd_protect(int fd, uint64_t start, uint64_t end, const struct pagemap_runs *populated);

/* PAGEMAP_SCAN of [start, end) on a pagemap fd: appends the populated
 * pages (present or swapped; the write-protect markers of protected holes
 * read as swapped too) and, among them, those written since they were
 * protected. With reset, PM_SCAN_WP_MATCHING protects the written pages
 * again in the same walk, under the page table lock: nothing falls between
 * scan and reset. present (may be NULL) gets the populated pages that are
 * present. 0, -1 with errno, or 1 when part of the range is not (or
 * no longer) registered with a context in asynchronous mode (EPERM): then
 * nothing was appended, and the range must be taken as untracked. */
int uffd_scan(int pagemap_fd, uint64_t start, uint64_t end, bool reset, struct pagemap_runs *written,
	      struct pagemap_runs *populated, struct pagemap_runs *present);

/* The stop's look at [start, end), without a reset: only the exceptions,
 * the pages written since they were protected (appended to written) and
 * the pages that no longer hold data (not present: zapped, swapped out, a
 * write-protect marker, a hole; or the zero page: appended to gone; those
 * of them swapped out or a marker to swapped too, the rest are holes).
 * Listing every populated page instead costs about four times as much,
 * since the kernel's walk pays for every page that matches
 * (../shared/notes/stop-scan.md: 3.8 ms per GiB against 1.0). The range
 * may span many VMAs, registered or not: one call for thousands of thread
 * stacks. Where no VMA registered with a context in asynchronous mode
 * lies (a VMA replaced, moved or added since, a guard between two stacks)
 * nothing is asked of its pages, whose write-protect bits may be stale:
 * those ranges go to unregistered, for the caller to take as written
 * whole. 0 or -1. */
struct uffd_exceptions {
	struct pagemap_runs written, gone, swapped, unregistered;
};
void uffd_exceptions_init(struct uffd_exceptions *x);
void uffd_exceptions_free(struct uffd_exceptions *x);
int uffd_scan_exceptions(int pagemap_fd, uint64_t start, uint64_t end, struct uffd_exceptions *x);

#endif
