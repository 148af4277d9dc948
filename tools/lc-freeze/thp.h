/* thp - the huge pages the uffd tracker split, collapsed again.
 *
 * A write to a write-protected huge page splits it (wp_huge_pmd with
 * UFFD_FEATURE_WP_ASYNC, ../shared/notes/kernel-tracking.md), and the
 * process would run on 4 KiB pages until khugepaged came round (minutes
 * to hours for GiBs). lc-precopy lists the huge pages of every VMA it
 * protects (the manifest's *thp* headers); once the userfaultfd is gone
 * (every range unregistered, the markers cleared), those that are no
 * longer huge are collapsed with process_madvise(MADV_COLLAPSE), which
 * runs in our context while the process runs: the process pays only the
 * brief page table lock of each collapse, never a stop.
 *
 * process_madvise on another process needs CAP_SYS_NICE; the caller
 * raises it around thp_restore. */
#ifndef LC_FREEZE_THP_H
#define LC_FREEZE_THP_H

#include "pagemap.h"

#include <stdint.h>

struct thp_result {
	uint64_t split;         /* huge pages of the list that are huge no longer */
	uint64_t collapsed;     /* of those, collapsed again */
	int64_t us;             /* the time it took */
	int err;                /* the first collapse's errno, 0 if none failed */
};

/* huge: the ranges that were huge pages (the thp headers), ascending;
 * pm: the target's pagemap; pidfd: the target. Returns 0 (failed collapses
 * are counted, not errors: the dump is done and right either way), -1 when
 * the pagemap cannot be read. */
int thp_restore(int pidfd, const struct pagemap *pm, const struct pagemap_runs *huge,
		struct thp_result *r);

#endif
