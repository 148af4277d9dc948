/* passes - lc-precopy's pre-copy loop: re-read the maps, retarget the
 * extents by address, find what to copy (populated pages first, then the
 * pages the tracker reports dirty), copy, and decide whether another pass
 * pays. The result is the annotated manifest. */
#ifndef LC_PRECOPY_PASSES_H
#define LC_PRECOPY_PASSES_H

#include "copy.h"
#include "extents.h"
#include "manifest.h"
#include "pagemap.h"
#include "track.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pass_stats {
	unsigned number;
	uint64_t pages, bytes, dirty, ms;
	int64_t stop_us;            /* soft-dirty: the micro-stop around scan+reset; -1 none */
};

struct precopy {
	/* set by the caller */
	const struct manifest *in;  /* the manifest read from stdin */
	pid_t pid;
	unsigned page_size;
	unsigned long filter;
	bool filter_all;
	unsigned max_passes;        /* >= 1 */
	unsigned dirty_pct;         /* stop when dirty pages < this % of the first pass */
	unsigned workers;
	bool resume;                /* -c: continue from the input's extents and clean ranges */
	int smaps_fd, mem_fd, stage_fd;
	struct pagemap pm;
	struct tracker tracker;
	struct copy_source src;
	/* for the progress line: the current pass and its bytes */
	_Atomic unsigned progress_pass;
	_Atomic uint64_t progress_done, progress_total;

	/* state */
	struct manifest now;        /* records of the last maps read */
	struct extents ext;
	struct pagemap_runs wanted, clean, unreadable;
	struct pagemap_runs tracked;   /* uffd: ranges registered with our userfaultfd */
	bool tracked_known;            /* uffd: tracked was set from the maps once */
	unsigned n_untracked;          /* uffd: dumped VMAs left untracked (sparse, EBUSY) */
	const char *uffd_header;       /* uffd: the value of the manifest's uffd header */
	struct pass_stats *pass;
	unsigned n_pass;
	/* -c: the input's pass lines, kept as they were; new passes number on */
	const char **kept_pass;
	unsigned n_kept_pass;
	uint64_t first_dirty, last_dirty;   /* the convergence test's references */
};

void precopy_init(struct precopy *p);
void precopy_free(struct precopy *p);

/* -c: the state a previous lc-precopy left in p->in: its extents and
 * stage-end, clean ranges, unreadable pages and pass lines. -1 with errno
 * EINVAL and a message in err when the manifest does not hold them. */
int precopy_resume(struct precopy *p, char *err, size_t errlen);

/* Runs the passes. -1 with errno and a message in err: ESRCH (target gone),
 * ENOSPC (staging filesystem too small), other I/O errors. */
int precopy_run(struct precopy *p, char *err, size_t errlen);

/* Builds the output manifest: the input's headers (minus those lc-precopy
 * owns), lc-precopy's headers, the records of the last maps with their
 * extents and clean ranges. */
int precopy_annotate(const struct precopy *p, struct manifest *out);

#endif
