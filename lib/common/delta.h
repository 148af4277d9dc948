/* delta - what a pass of lc-precopy or lc-freeze's stop reads: the dumped
 * ranges of a manifest by how they are staged (stagemap_class), and, for
 * the pages the model holds dirty, which hold data to read and which are
 * holes to punch. Both tools decide this the same way, here. */
#ifndef LC_DELTA_H
#define LC_DELTA_H

#include "manifest.h"
#include "pagemap.h"
#include "stagemap.h"
#include "track.h"

struct delta_ranges {
	struct pagemap_runs wanted;     /* every staged address */
	struct pagemap_runs every;      /* STAGEMAP_EVERY_PAGE: read whole */
	struct pagemap_runs shared;     /* STAGEMAP_SHARED */
	struct pagemap_runs private;    /* STAGEMAP_PRIVATE: what a tracker may watch */
	struct pagemap_runs shmem;      /* inside every: the anonymous shared memory that
					 * uffd may watch too (stagemap_shared_watchable) */
};

void delta_ranges_init(struct delta_ranges *r);
void delta_ranges_free(struct delta_ranges *r);
/* The records' dumped ranges ([start, start + dump size)), by class. */
int delta_ranges_of(const struct manifest *m, struct delta_ranges *r);

/* What the tracker's last look said, for delta_populated. */
struct delta_look {
	enum track_mode mode;
	const struct pagemap_runs *scanned;     /* the ranges it looked at */
	const struct track_report *report;
	/* the model's holes before this look, and (uffd) the holes of VMAs
	 * registered just now, seen before their protection */
	const struct pagemap_runs *holes_before, *new_holes;
	/* ranges whose populated pages the caller learns after the stop
	 * (NULL: none): a clone's private anonymous memory, which holds
	 * them as they were (-T fork). Their dirty pages outside the
	 * scanned ranges count as populated and make up *deferred,
	 * instead of being looked up in pagemap inside the stop. */
	const struct pagemap_runs *defer;
	struct pagemap_runs *deferred;
};

/* The pages of the model's dirty set that hold data (to read), appended
 * to out; the other dirty pages are holes. Inside the scanned ranges the
 * report says, with one exception for uffd: the kernel lists the
 * write-protect markers of protected holes as swapped, exactly like real
 * swap, so a page not reported written that the model knows as a hole
 * stays a hole (reading it would fault the zero page into the target),
 * and so does a hole of a VMA registered just now that is not present (a
 * page populated between the look before its protection and the
 * protection is present, protected, not written: data).
 * Elsewhere: file and special mappings whole, anonymous memory where
 * pagemap says populated (never registered: no markers), or, inside
 * look->defer, every dirty page (look->deferred). */
int delta_populated(const struct stagemap *s, const struct delta_ranges *r, const struct pagemap *pm,
		    const struct delta_look *look, struct pagemap_runs *out);

#endif
