/* forked - what lc-freeze does differently with -T fork (lc-freeze(1),
 * snapshot.h): the stop copies from the process only what a clone does
 * not hold as it was at the stop, makes the clone, and resumes; the rest
 * is copied from the clone afterwards.
 *
 * From the process, inside the stop:
 *  - shared mappings (MAP_SHARED, shared anonymous memory): the clone maps
 *    the same pages, and the process's later writes would show through;
 *    but not one it may never write through (VmFlags without mw: a file
 *    opened read-only), which changes only as its file does, as every
 *    shared mapping may under any dumper;
 *  - MADV_DONTFORK (VmFlags dc): the clone has no such mapping;
 *  - MADV_WIPEONFORK (wf): the clone's is empty;
 *  - a file mapping made since lc-maps(1) read smaps (VmFlags "-"): whether
 *    it is one of those cannot be told from /proc/PID/maps.
 * Everything else (private memory, file mappings' private copies) comes
 * from the clone. The manifest's fork-from-target headers name the
 * mappings taken the first way. A private anonymous mapping made since
 * lc-maps read smaps (a heap region a JVM commits: 120 MB copied in its
 * stop when these came from the process) comes from the clone, checked
 * first: a page the stop found populated that the clone does not hold
 * (MADV_DONTFORK, MADV_WIPEONFORK given to the new mapping; fork copies
 * every page table entry of a private anonymous mapping with pages) is
 * copied from the process after the stop instead, and named in a
 * fork-late header: not as of the stop. */
#ifndef LC_FREEZE_FORKED_H
#define LC_FREEZE_FORKED_H

#include "copy.h"
#include "manifest.h"
#include "pagemap.h"

#include <stdbool.h>

/* Whether v's pages must be copied from the process inside the stop. */
bool forked_from_target(const struct manifest_vma *v);

/* Whether the clone holds v's pages as they were at the stop and can
 * tell which are populated after it: a private anonymous mapping that
 * lc-maps saw (fork copies its page table entries; the zero page and the
 * write-protect markers of a userfaultfd the clone does not inherit read
 * as holes there, as they are in a core). */
bool forked_clone_tells(const struct manifest_vma *v);

/* plan's ranges cut where out's mappings change between the two ways:
 * into *target (inside the stop) and *clone (afterwards); *target_vmas:
 * the address ranges of out's mappings taken from the process;
 * *unverified: those of the new private anonymous mappings, to check in
 * the clone. -1 on ENOMEM. */
int forked_split(const struct manifest *out, const struct copy_list *plan, struct copy_list *target,
		 struct copy_list *clone, struct pagemap_runs *target_vmas,
		 struct pagemap_runs *unverified);

#endif
