/* finalmaps - the maps taken while the target is stopped, reconciled with
 * the manifest that pre-copy wrote, and the final delta that follows.
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
 * Extents and clean ranges follow the addresses: each new record gets the
 * parts of the old records' extents that lie inside it. Dumped bytes that
 * no extent covers get new extents appended at the stage end.
 *
 * The delta: with copy_all, every populated page of every dumped range;
 * otherwise the populated pages of every dumped range not listed as clean,
 * plus the pages the tracker reports written inside clean ranges. Pages in
 * that set that are no longer populated are punched out of the staging
 * file after the target runs again (they read as zeros, as the kernel
 * would write them). */
#ifndef LC_FREEZE_FINALMAPS_H
#define LC_FREEZE_FINALMAPS_H

#include "copy.h"
#include "manifest.h"
#include "pagemap.h"
#include "track.h"

#include <stdbool.h>
#include <stdint.h>

struct finalmaps_ctx {
	unsigned long filter;
	bool filter_all;
	unsigned page_size;
	int mem_fd;                     /* /proc/PID/mem: the ELF-header rule */
	const struct pagemap *pm;
	struct tracker *tracker;        /* NULL with copy_all */
	bool copy_all;
};

struct finalmaps_result {
	struct copy_list copy;          /* the delta: target ranges to staging offsets */
	struct copy_list punch;         /* staging ranges to punch after the resume */
	uint64_t stage_end;
	size_t n_new;                   /* records decided again (new or changed) */
};

void finalmaps_result_init(struct finalmaps_result *r);
void finalmaps_result_free(struct finalmaps_result *r);

/* in: the manifest read; maps_text: /proc/PID/maps (modified in place).
 * Fills out (headers copied from in) and r. -1 with errno and a reason. */
int finalmaps_build(const struct manifest *in, char *maps_text, const struct finalmaps_ctx *ctx,
		    struct manifest *out, struct finalmaps_result *r, char *err, size_t errlen);

/* The stage end a manifest records (its stage-end header, else past every
 * extent, else the header page). */
uint64_t finalmaps_stage_end(const struct manifest *m);

#endif
