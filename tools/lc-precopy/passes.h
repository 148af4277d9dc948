/* passes - lc-precopy's pre-copy loop. Each pass re-reads the maps, tells
 * the staged model (stagemap.h) what changed, asks the tracker what was
 * written, copies what the model says is dirty, and decides whether
 * another pass pays. The result is the annotated manifest. */
#ifndef LC_PRECOPY_PASSES_H
#define LC_PRECOPY_PASSES_H

#include "copy.h"
#include "manifest.h"
#include "pagemap.h"
#include "stagemap.h"
#include "throttle.h"
#include "track.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pass_stats {
	unsigned number;
	uint64_t pages, bytes, dirty, ms;
	uint64_t vanished;          /* staged pages no longer populated (punched) */
	int64_t stop_us;            /* soft-dirty: the micro-stop around scan+reset; -1 none */
};

/* A dirty set this small is left to the stop whatever the passes do
 * (without -t): it costs the stop well under a millisecond
 * (docs/BENCHMARKS.md, the model of the pause), and a process that keeps
 * writing a few pages (a counter, a clock) would otherwise never be
 * "converged". */
#define PRECOPY_CONVERGED_BYTES (64u << 10)

/* Why the passes ended, and what the last look saw (the precopy-end
 * header, lc-manifest(5)). */
struct precopy_end {
	const char *reason;         /* passes, converged, not-halving, copy-limit, outpaced;
				     * NULL: none */
	uint64_t dirty;             /* pages written since the last pass began */
	uint64_t interval_ms;       /* ... over this long */
	uint64_t dirty_bps;         /* the process's write rate: dirty bytes a second */
	uint64_t copy_bps;          /* the last pass's copy rate, bytes a second */
	uint64_t at_ms;             /* when the tracker looked (CLOCK_MONOTONIC) */
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
	uint64_t converged_bytes;   /* ... or when this many bytes or fewer are dirty
				     * (0: -t alone decides) */
	unsigned workers;
	struct throttle *throttle;  /* -S (uffd, not -c): slows a process the passes
				     * do not catch up with (throttle.h); NULL: never */
	int64_t throttle_budget_us; /* ... when copying its dirty pages in the stop
				     * would take longer than this */
	bool throttle_forced;       /* tests (LIVECORE_TEST_THROTTLE): after every pass,
				     * one step more, losing or not */
	bool resume;                /* -c: continue from the input's staged model */
	bool held_stopped;          /* every thread is stopped (SIGSTOP): no pass at all */
	bool fork;                  /* -T fork: no pass; lc-freeze copies its clone */
	int smaps_fd, mem_fd, stage_fd;
	struct pagemap pm;
	struct tracker tracker;
	struct copy_source src;     /* the read method of passes after the first */
	bool method_forced;         /* LIVECORE_COPY_METHOD: src's for every pass */
	/* for the progress line: the current pass and its bytes */
	_Atomic unsigned progress_pass;
	_Atomic uint64_t progress_done, progress_total;

	/* state */
	struct stagemap sm;         /* what is staged: the one model (stagemap.h) */
	struct manifest now;        /* records of the last maps read */
	struct manifest before;     /* the records the model was last told about */
	struct pagemap_runs watched;   /* where the tracker reported last: may be trusted */
	struct pagemap_runs tracked;   /* uffd: ranges registered with our userfaultfd */
	struct pagemap_runs huge;      /* uffd: huge pages when they were protected */
	bool tracked_known;            /* uffd: tracked was set from the maps once */
	unsigned n_untracked;          /* uffd: private VMAs left untracked (EBUSY, ...) */
	const char *uffd_header;       /* uffd: the value of the manifest's uffd header */
	const char *fallback;          /* why no tracker works for this process (the
					* tracking-fallback header), or NULL */
	struct pass_stats *pass;
	unsigned n_pass;
	/* -c: the input's pass lines, kept as they were; new passes number on */
	const char **kept_pass;
	unsigned n_kept_pass;
	uint64_t first_dirty, last_dirty;   /* the convergence test's references */
	uint64_t last_peek;                 /* what the last look before a pass found; 0: none */
	uint64_t first_bytes, copied;       /* pass 1's bytes; all passes' together */
	uint64_t look_ms;                   /* when the tracker last looked and reset */
	bool outpaced;                      /* pass 1 ended early: the process wrote faster */
	uint64_t written_outpaced;          /* ... this many pages meanwhile */
	struct precopy_end end;
};

void precopy_init(struct precopy *p, unsigned page_size);
void precopy_free(struct precopy *p);

/* -c: the state a previous lc-precopy left in p->in: its staged model
 * (extents, stage-end, clean ranges, unreadable pages) and pass lines. -1
 * with errno EINVAL and a message in err when the manifest does not hold
 * them. */
int precopy_resume(struct precopy *p, char *err, size_t errlen);

/* Runs the passes. -1 with errno and a message in err: ESRCH (target gone),
 * ENOSPC (staging filesystem too small), other I/O errors. */
int precopy_run(struct precopy *p, char *err, size_t errlen);

/* Builds the output manifest: the input's headers (minus those lc-precopy
 * owns), lc-precopy's headers, the records of the last maps with their
 * extents and clean ranges. */
int precopy_annotate(const struct precopy *p, struct manifest *out);

#endif
