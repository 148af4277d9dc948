/* finalmaps - the maps taken while the target is stopped, the records
 * they make, and the final decision of what to copy (the delta), from the
 * staged model lc-precopy left (stagemap.h).
 *
 * Inside the stop lc-freeze reads /proc/PID/maps (cheap) and never walks
 * smaps. A VMA whose maps line is identical to a manifest record keeps
 * that record's decision, dump size and VmFlags. A new or changed VMA is
 * decided again with dumprule from what is cheap to learn:
 *  - VmFlags: those of the manifest records it overlaps (a VMA that grew,
 *    shrank or was split keeps its dd, io, ht flags), with rd/wr/ex/sh
 *    from its new permissions; a VMA that overlaps no record gets only
 *    rd/wr/ex/sh from its permissions and VMFLAGS "-" in the manifest
 *    (MADV_DONTDUMP on a brand new mapping is not seen: it is dumped);
 *  - has_private_pages: pagemap says a page is present and neither a file
 *    page nor shared anonymous memory (bit 61 clear), or swapped;
 *  - the ELF header rule: 4 bytes read through /proc/PID/mem.
 *
 * The delta: no assumption of pre-copy survives the stop unchecked. The
 * model is retargeted to the final maps (new addresses get extents at the
 * stage end, dirty); an address whose mapping differs from the record it
 * was staged under goes dirty; the tracker looks at every private record
 * that holds clean pages (uffd: one that is no longer registered is lost
 * whole) and its writes go dirty, and so do pages staged as data that are
 * no longer populated; whatever the tracker did not look at is dirty.
 * Every dirty page is copied now where populated, punched after the
 * resume where not (it reads as zeros, as the kernel would write it). With
 * copy_all (no tracker), every page is dirty. */
#ifndef LC_FREEZE_FINALMAPS_H
#define LC_FREEZE_FINALMAPS_H

#include "copy.h"
#include "manifest.h"
#include "pagemap.h"
#include "stagemap.h"
#include "track.h"

#include <stdbool.h>
#include <stdint.h>

struct finalmaps_ctx {
	unsigned long filter;
	bool filter_all;
	unsigned page_size;
	int mem_fd;                     /* /proc/PID/mem: the ELF-header rule */
	const struct pagemap *pm;
	struct tracker *tracker;        /* TRACK_NONE with copy_all */
	bool copy_all;
	/* a clone is made in this stop (-T fork): the populated pages of
	 * what it holds (forked_clone_tells) are asked of it afterwards, and
	 * the tracker looks there only at what was staged */
	bool clone;
};

struct finalmaps_result {
	struct stagemap_plan plan;      /* copy: inside the stop; punch_offsets: after */
	struct pagemap_runs scanned;    /* the records the tracker looked at */
	size_t n_new;                   /* records decided again (new or changed) */
	/* with ctx->clone: pages in plan.copy that may be holes, to look up
	 * in the clone after the stop (finalmaps_settle) */
	struct pagemap_runs deferred;
};

void finalmaps_result_init(struct finalmaps_result *r);
void finalmaps_result_free(struct finalmaps_result *r);

/* in: the manifest read; sm: its staged model (stagemap_load), updated to
 * the final maps; maps_text: /proc/PID/maps (modified in place). Fills out
 * (headers copied from in, the records without extents) and r. -1 with
 * errno and a reason. */
int finalmaps_build(const struct manifest *in, struct stagemap *sm, char *maps_text,
		    const struct finalmaps_ctx *ctx, struct manifest *out, struct finalmaps_result *r,
		    char *err, size_t errlen);

/* -T fork, after the stop: of r->deferred, the pages the clone (its
 * pagemap, pm) holds are copied, the others are holes: they leave
 * r->plan's reads, and *from_clone (the copy the clone gives), for its
 * punches. -1 with errno. */
int finalmaps_settle(struct finalmaps_result *r, const struct stagemap *sm, const struct pagemap *pm,
		     struct copy_list *from_clone);

/* After the resume: every record of out gets its extents from sm. */
int finalmaps_annotate(struct manifest *out, const struct stagemap *sm);

#endif
