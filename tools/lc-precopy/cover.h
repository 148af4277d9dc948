/* cover - which private anonymous VMAs the uffd tracker watches. Only
 * registered ranges are tracked, so every pass registers (whole VMAs, so
 * that nothing splits) the dumped private anonymous VMAs that are not yet,
 * protecting their populated pages, and drops from the tracked set what is
 * no longer registered (VmFlags uw): a VMA unmapped and mapped again at the
 * same address, moved by mremap, or grown by brk is new to the kernel, and
 * whatever was staged there may be another mapping's. Ranges the target
 * registered itself (EBUSY) stay untracked: never trusted, so copied every
 * pass and in the stop. */
#ifndef LC_PRECOPY_COVER_H
#define LC_PRECOPY_COVER_H

#include "passes.h"

/* p->tracked follows p->now (the maps of this pass). Appends to new_holes
 * the pages of the VMAs registered now that were not populated just
 * before their protection (after it, the holes it covered read as swapped:
 * write-protect markers), and to lost the addresses that were tracked and
 * are no longer. *stop_us: how long the registration held the target
 * still (-1: it did not). A no-op but for uffd. -1 with errno on ENOMEM, a
 * failed pagemap read, or a target that could not be stopped. */
int cover_update(struct precopy *p, struct pagemap_runs *new_holes, struct pagemap_runs *lost,
		 int64_t *stop_us);

#endif
