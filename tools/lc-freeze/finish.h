/* finish - what lc-freeze does once the target runs again: the staging
 * file made final, the notes file written, the manifest's freeze header
 * and the pause line on stderr. Nothing here touches the target. */
#ifndef LC_FREEZE_FINISH_H
#define LC_FREEZE_FINISH_H

#include "capture.h"
#include "copy.h"
#include "finalmaps.h"
#include "stagemap.h"
#include "manifest.h"
#include "outfile.h"
#include "ptrace_stop.h"

#include <stdint.h>
#include <time.h>

/* The ends of the stop's parts (CLOCK_MONOTONIC); the stop begins at the
 * first seize and ends at the last detach (struct ptrace_stop). */
struct finish_timing {
	struct timespec seized, regs, maps, delta;
	int64_t estimate_us;    /* the pause foreseen before the stop (estimate.h) */
	uint64_t held_bytes;    /* of the delta, read into memory touched before the
				 * stop (hold.h) */
	int64_t flush_us;       /* their write to the staging file after the stop; -1 none */
};

int64_t finish_us_between(const struct timespec *a, const struct timespec *b);
int64_t finish_us_since(const struct timespec *a);

/* Punches the pages of the delta that are no longer populated out of the
 * staging file (they read as zeros), extends it to the stage end, syncs. */
int finish_stage(int fd, const struct finalmaps_result *r, const struct stagemap *sm);

/* Writes the notes of c into out and renames it to its final name. */
int finish_notes(struct outfile *out, const struct capture *c);

/* stage-end, unreadable and freeze headers (lc-manifest(5)); held_stopped:
 * the process was in a group stop before the seize (target=stopped). */
int finish_manifest_headers(struct manifest *out, const struct stagemap *sm,
			    const struct copy_result *cr, const struct ptrace_stop *ps,
			    const struct finish_timing *tm, size_t threads, bool held_stopped);

/* The one line on stderr (log_info) with the pause and its parts, and
 * what was left out or passed back. */
void finish_log(const struct ptrace_stop *ps, const struct finish_timing *tm,
		const struct copy_result *cr, size_t threads, bool copy_all, bool held_stopped);

#endif
