/* track - dirty-page trackers: which pages did the target write since the
 * last reset?
 *
 * A kernel feature is trusted only after it was tried and seen to work
 * (CRIU's kerndat_get_dirty_track): a kernel built without
 * CONFIG_MEM_SOFT_DIRTY accepts "4" on clear_refs and never sets pagemap
 * bit 55, and trusting it would stage memory smeared across the passes.
 * track_probe_soft_dirty() therefore resets, writes and reads back in this
 * process's own memory.
 *
 * Modes:
 *  - TRACK_NONE: no tracker; the stop must copy every dumped page.
 *  - TRACK_SOFT_DIRTY: clear_refs "4" resets, pagemap bit 55 (or the
 *    PAGEMAP_SCAN soft-dirty category) reports. A new mapping reports every
 *    page dirty; with transparent huge pages a write dirties 2 MiB.
 *  - TRACK_UFFD: a userfaultfd in asynchronous write-protect mode, created
 *    in the target (uffd.h), and PAGEMAP_SCAN: the scan re-protects
 *    atomically (track_scan_resets()); only registered ranges are
 *    tracked, so new ranges must be registered (track_cover()).
 *
 * -T auto tries soft-dirty, then uffd, then gives up (TRACK_NONE).
 * LIVECORE_FORCE_TRACKING=none|uffd|soft-dirty forces a mode on any
 * kernel (a real tracker must still pass its probe), so that each
 * fallback is tested everywhere. */
#ifndef LC_TRACK_H
#define LC_TRACK_H

#include "pagemap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum track_mode {
	TRACK_NONE,
	TRACK_SOFT_DIRTY,
	TRACK_UFFD,
};

enum track_request {
	TRACK_REQUEST_AUTO,
	TRACK_REQUEST_NONE,
	TRACK_REQUEST_SOFT_DIRTY,
	TRACK_REQUEST_UFFD,
};

/* "none", "soft-dirty", "uffd" (the manifest's tracking header) */
const char *track_mode_name(enum track_mode mode);
/* "auto", "none", "soft-dirty", "uffd"; -1 with EINVAL otherwise */
int track_request_parse(const char *text, enum track_request *out);

/* 0 when soft-dirty works in this process, else -1 with a reason in why
 * ("the kernel accepted clear_refs but never set pagemap bit 55", ...). */
int track_probe_soft_dirty(char *why, size_t whylen);

/* Resolves a request against LIVECORE_FORCE_TRACKING and the probes.
 * auto: the best working mode, TRACK_NONE when none works (why says why,
 * for the one line on stderr). An explicit mode that does not work fails
 * with -1 (errno ENOTSUP) and why. */
int track_choose(enum track_request req, enum track_mode *out, char *why, size_t whylen);

struct tracker {
	enum track_mode mode;
	int clear_refs_fd;      /* /proc/PID/clear_refs, O_WRONLY; soft-dirty */
	const struct pagemap *pm;
	/* soft-dirty: the target to hold still around scan+reset
	 * (track_hold_target); task_dirfd -1 when not given */
	pid_t pid;
	int task_dirfd;
	int uffd_fd;            /* TRACK_UFFD: our copy of the target's userfaultfd */
};

/* clear_refs_fd and pm are opened by the caller while privileged (and stay
 * the caller's to close); clear_refs_fd may be -1 for TRACK_NONE. */
int track_open(struct tracker *t, enum track_mode mode, int clear_refs_fd,
	       const struct pagemap *pm);
void track_close(struct tracker *t);

/* TRACK_UFFD: the userfaultfd (our copy, UFFDIO_API done) the tracker
 * uses; it becomes the tracker's, closed by track_close. */
void track_set_uffd(struct tracker *t, int fd);

/* Soft-dirty: makes track_scan_reset stop every thread of pid (ptrace,
 * lib/common/ptrace_stop) around its scan and reset, so that no write
 * falls between them. task_dirfd is /proc/PID/task, the caller's. The
 * caller needs the right to ptrace the target (CAP_SYS_PTRACE for another
 * user's process) for as long as it scans. */
void track_hold_target(struct tracker *t, pid_t pid, int task_dirfd);

/* Starts a new tracking interval: from now on track_scan reports only
 * pages written after this call. A no-op for TRACK_NONE. */
int track_reset(struct tracker *t);

/* Starts tracking [start, end) that appeared since track_open (a new VMA,
 * a grown heap). No-op for soft-dirty (the kernel marks new mappings
 * dirty); uffd must register them. */
int track_cover(struct tracker *t, uint64_t start, uint64_t end);

/* Scans ranges for pages written since the last reset, appends them to
 * dirty, and starts a new interval, as one step with nothing lost between:
 * uffd's scan re-protects atomically; soft-dirty has no atomic
 * scan-and-reset, so the target is held still (every thread in a ptrace
 * stop) around the scan and the reset when the tracker was given its
 * threads (track_hold_target); *stop_us gets that micro-stop (-1 when
 * there was none). */
int track_scan_reset(struct tracker *t, const struct pagemap_runs *ranges,
		     struct pagemap_runs *dirty, int64_t *stop_us);

/* The number of pages of ranges written since the last reset, without
 * resetting anything (is another pass worth it?). */
int track_peek(struct tracker *t, const struct pagemap_runs *ranges, uint64_t *pages);

/* The part of want the tracker watches, appended to out: all of it for
 * soft-dirty. For uffd only what was registered is watched, and the
 * caller, which registers (track_cover), keeps that set itself. */
int track_covered(const struct tracker *t, const struct pagemap_runs *want,
		  struct pagemap_runs *out);

/* True when track_scan also resets what it reports (uffd: PAGEMAP_SCAN
 * with PM_SCAN_WP_MATCHING re-protects atomically), so the caller must not
 * lose a scan's answer. False for soft-dirty. */
bool track_scan_resets(const struct tracker *t);

/* Appends to dirty the pages of [start, end) written since the last reset
 * (populated or not: a page discarded with MADV_DONTNEED is dirty and must
 * be re-read as zeros). -1 with errno; ENOTSUP for TRACK_NONE. */
int track_scan(struct tracker *t, uint64_t start, uint64_t end, struct pagemap_runs *dirty);

#endif
