/* extents - where each target address is staged: a sorted table of
 * [start, end) -> offset, kept by address across passes (DESIGN.md:
 * "memory is tracked by address, never by VMA identity"). When the maps
 * change, addresses still wanted keep their offsets; new addresses get new
 * extents appended at the staging file's end; addresses no longer wanted
 * are dropped and their staging space is returned (punched). The state of
 * each staged address is stagemap.h's. */
#ifndef LC_EXTENTS_H
#define LC_EXTENTS_H

#include "copy.h"
#include "manifest.h"
#include "pagemap.h"

struct extents {
	struct manifest_extent *x;  /* ascending by address, non-overlapping */
	size_t n, cap;
	uint64_t stage_end;         /* next free page-aligned staging offset */
	unsigned page_size;
};

void extents_init(struct extents *t, unsigned page_size);
void extents_free(struct extents *t);

/* Appends one extent read back from a manifest (lc-precopy -c): extents
 * must come in ascending address order, not overlapping. stage_end moves
 * past it. -1 with EINVAL when out of order or misaligned, ENOMEM. */
int extents_load(struct extents *t, uint64_t start, uint64_t end, uint64_t offset);

/* Makes the table cover exactly `wanted`. fresh gets the addresses that
 * were not staged before (nothing copied there yet); dropped gets the
 * staging offset ranges that no address uses any more. */
int extents_retarget(struct extents *t, const struct pagemap_runs *wanted,
		     struct pagemap_runs *fresh, struct pagemap_runs *dropped);

/* Appends the copy ranges for addrs (which the table must cover). */
int extents_copy_list(const struct extents *t, const struct pagemap_runs *addrs,
		      struct copy_list *out);

/* Staging offset ranges of addrs (covered), for punching holes. */
int extents_offsets(const struct extents *t, const struct pagemap_runs *addrs,
		    struct pagemap_runs *out);

/* Adds to v the extents that lie within [v->start, v->end). Called for
 * VMAs in ascending order with one cursor (starting at 0), it is linear
 * in the number of VMAs and extents together. */
int extents_to_vma(const struct extents *t, struct manifest_vma *v, size_t *cursor);

#endif
