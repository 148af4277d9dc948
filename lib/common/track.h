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
 *    atomically; only registered ranges are tracked, so new ranges must be
 *    registered (track_cover()).
 *
 * Which addresses a tracker may be trusted for, and what the reports do to
 * the staged copy, is stagemap.h's business: a report only says what the
 * kernel said.
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
	/* the target to hold still (track_hold_target): soft-dirty around
	 * scan+reset, uffd around a registration; task_dirfd -1 when not
	 * given */
	pid_t pid;
	int task_dirfd, maps_fd;
	int uffd_fd;            /* TRACK_UFFD: our copy of the target's userfaultfd */
	/* soft-dirty: a reset has begun the interval (set by the first
	 * track_scan that resets, or by the caller on a resume) */
	bool armed;
};

/* clear_refs_fd and pm are opened by the caller while privileged (and stay
 * the caller's to close); clear_refs_fd may be -1 for TRACK_NONE. */
int track_open(struct tracker *t, enum track_mode mode, int clear_refs_fd,
	       const struct pagemap *pm);
void track_close(struct tracker *t);

/* TRACK_UFFD: the userfaultfd (our copy, UFFDIO_API done) the tracker
 * uses; it becomes the tracker's, closed by track_close. */
void track_set_uffd(struct tracker *t, int fd);

/* Gives the tracker the target's threads to stop (ptrace,
 * lib/common/ptrace_stop): soft-dirty holds them still around each scan
 * and reset, so that no write falls between them; uffd around each
 * registration (track_cover). task_dirfd is /proc/PID/task, maps_fd
 * /proc/PID/maps, both the caller's. The caller needs the right to ptrace
 * the target (CAP_SYS_PTRACE for another user's process) for as long as
 * it tracks. */
void track_hold_target(struct tracker *t, pid_t pid, int task_dirfd, int maps_fd);

/* What one look at some tracked ranges found, all of it at one instant
 * (soft-dirty: with the target held still). */
struct track_report {
	struct pagemap_runs written;    /* written since the last reset */
	struct pagemap_runs populated;  /* present or swapped (uffd: the write-protect
					 * markers of protected holes read as swapped) */
	struct pagemap_runs present;    /* uffd: the populated pages that are present
					 * (a marker never is) */
	struct pagemap_runs lost;       /* not (or no longer) tracked: a range whose
					 * pages may all have changed (uffd: a VMA the
					 * scan found unregistered) */
};

void track_report_init(struct track_report *r);
void track_report_free(struct track_report *r);
void track_report_clear(struct track_report *r);

/* Starts tracking n VMAs that are new to the tracker (ascending, as smaps
 * showed them). covered[i] says which it watches now: all of them for
 * soft-dirty (the kernel marks new mappings dirty); uffd registers each
 * that is still exactly one VMA, with the target held still
 * (uffd_register_held: registering part of a VMA that grew would split
 * it), *stop_us that stop (-1 when there was none). Each VMA covered must
 * then get track_protect. */
int track_cover(struct tracker *t, const struct pagemap_run *vmas, size_t n, bool *covered,
		int64_t *stop_us);

/* uffd: protects the populated pages of a VMA just covered (populated:
 * looked up after track_cover). A no-op for soft-dirty. -1 with errno:
 * the VMA is no longer what was registered; it is not watched. */
int track_protect(struct tracker *t, uint64_t start, uint64_t end, const struct pagemap_runs *populated);

/* Looks at ranges (ascending) and appends to r what it found: the pages
 * written since the last reset, every populated page, and the ranges that
 * are no longer tracked (written whole; their populated pages looked up
 * from pagemap). With reset a new interval starts, with nothing lost
 * between the look and the reset: uffd's scan re-protects atomically;
 * soft-dirty has no atomic scan-and-reset, so the target is held still
 * (every thread in a ptrace stop) around the look and clear_refs when the
 * tracker was given its threads (track_hold_target); *stop_us gets that
 * micro-stop (-1 when there was none; stop_us may be NULL without reset).
 * TRACK_NONE reports every range written whole, and its populated pages. */
int track_scan(struct tracker *t, const struct pagemap_runs *ranges, bool reset,
	       struct track_report *r, int64_t *stop_us);

/* The VMAs of the process, for sharing a walk of them out across CPUs by
 * what it costs: their start addresses, ascending. */
struct track_vmas {
	const uint64_t *start;
	size_t n;
};

/* The stop's look, without a reset: what track_scan reports, with a
 * question to the kernel that costs a quarter as much for uffd
 * (uffd_scan_exceptions): the populated pages are the ranges less those
 * not present (and the zero page); of those, the ones that still hold
 * data (swapped out, or a marker, which reads the same) are appended to
 * swapped, for the caller to count populated where it needs them. A
 * large look is split across the CPUs by the bytes it walks and, where
 * vmas is given (it may be NULL), the VMAs: tens of thousands of small
 * ones cost as much as GiBs. Other trackers: track_scan, and swapped
 * stays empty. */
int track_look_exceptions(struct tracker *t, const struct pagemap_runs *ranges, const struct track_vmas *vmas,
			  struct track_report *r, struct pagemap_runs *swapped);

/* The number of pages of ranges written since the last reset, without
 * resetting anything (is another pass worth it?). */
int track_peek(struct tracker *t, const struct pagemap_runs *ranges, uint64_t *pages);

#endif
