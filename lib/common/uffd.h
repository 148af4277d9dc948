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
 * blocked by the tracker) and WP_UNPOPULATED (unpopulated pages are
 * protected too, so their first write is reported). A scan with
 * PM_SCAN_WP_MATCHING reports the written pages and protects them again
 * in the same walk, under the page table lock: nothing falls between scan
 * and reset. */
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

/* Why the tracker must not be put into this process, or NULL: a seccomp
 * filter (a filter that kills on userfaultfd would kill it), a tracer
 * already attached, a process stopped by a signal. */
const char *uffd_refuse(int proc_dirfd);

/* Creates the context in the target (see above). task_dirfd: /proc/PID/task;
 * mem_fd: /proc/PID/mem (the vdso's syscall instruction). On success
 * *target_fd is the fd number in the target, *fd our copy with UFFDIO_API
 * done, *window_us the stop. -1 with errno and why on failure; nothing is
 * left in the target then. */
int uffd_inject_open(pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd, int *target_fd,
		     int *fd, int64_t *window_us, char *why, size_t whylen);

/* Takes a copy of the target's fd target_fd with pidfd_getfd, after
 * checking that it is a userfaultfd in asynchronous write-protect mode
 * (/proc/PID/fd and fdinfo). -1 with errno: ENOENT (no such fd, or not
 * ours), or pidfd_getfd's error. */
int uffd_take(pid_t pid, int proc_dirfd, int target_fd, int *fd);

/* Whether fd target_fd of the target is a userfaultfd with the features
 * this tracker asks for. */
bool uffd_is_ours(int proc_dirfd, int target_fd);

struct ptrace_stop;
/* Closes target_fd in the target by injecting close(2) into a thread of a
 * stop the caller holds. syscall_addr: a `syscall` instruction in the
 * target's [vdso] the caller found before the stop (inject_find_syscall),
 * checked again through mem_fd; 0 to look for it now (reading the maps
 * inside the stop lengthens it). */
int uffd_inject_close(struct ptrace_stop *s, int proc_dirfd, int mem_fd, int target_fd,
		      uint64_t syscall_addr);

/* The release command: stops the target, and if target_fd is still our
 * userfaultfd closes it there. *closed says whether it did. */
int uffd_release(pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd, int target_fd,
		 bool *closed, int64_t *window_us);

/* Registers [start, end) (whole VMAs) in write-protect mode and protects
 * it. -1 with errno: EBUSY (the target registered it itself), EINVAL (a
 * special mapping, or the VMAs changed), ... */
int uffd_protect(int fd, uint64_t start, uint64_t end);

/* Unregisters [start, end) (whole VMAs) from fd's context: the write
 * protection goes with it. -1 with errno (EINVAL for a range the kernel
 * will not unregister explicitly, such as a file mapping: closing the last
 * fd does it then). */
int uffd_unregister(int fd, uint64_t start, uint64_t end);

/* PAGEMAP_SCAN for written pages of [start, end) on a pagemap fd: with
 * reset, PM_SCAN_WP_MATCHING protects them again in the same walk. A range
 * that is not (or no longer) registered answers EPERM, and is then
 * reported written whole (its pages may have changed untracked). */
int uffd_scan(int pagemap_fd, uint64_t start, uint64_t end, bool reset, struct pagemap_runs *out);

#endif
