/* cover - which dumped VMAs the uffd tracker watches. Only registered
 * ranges are tracked, so every pass registers (whole VMAs, so that nothing
 * splits) the dumped VMAs that are not yet, and drops from the tracked set
 * what is no longer registered (VmFlags uw): a VMA unmapped and mapped
 * again, moved by mremap, or grown by brk is new to the kernel. Sparse
 * anonymous VMAs, and ranges the target registered itself (EBUSY), stay
 * untracked: never clean, so copied every pass and in the stop. */
#ifndef LC_PRECOPY_COVER_H
#define LC_PRECOPY_COVER_H

#include "passes.h"

/* p->tracked follows p->now (the maps of this pass). A no-op but for
 * uffd. -1 with errno on ENOMEM. */
int cover_new_vmas(struct precopy *p);

#endif
